"""Issue 20 items 8-10 through the installed command: the token requests'
extra parameters (Shopify expiring=1, Zendesk expires_in) and encoding
(Notion's JSON body), and the known limits the tool acts on before a browser
opens (Box's 30-second code, Intercom's https-only redirect, QuickBooks'
localhost redirect).

The code exchange and the refresh go to a recording stand-in on loopback: an
overlay points the bundled provider's endpoints at it, the test plays the
browser by calling the listener's redirect URI with a code and the state the
printed URL carries, and then reads exactly what the command sent. The JSON
body against the real test server is in tests/test_e2e_json_token_requests.py.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import time
from pathlib import Path
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

import pytest
import requests

from integray_auth.errors import RegistryError
from integray_auth.registry.loading import load_registry
from tests.support.cli import SCRIPT, assert_error_line, assert_no_crash
from tests.support.stand_in import QuietHandler, StandIn, running, serve

FULL_RE = re.compile(r"^  (\S+[?&]state=\S+)$", re.M)


class Recorder(StandIn):
    """A token and revocation endpoint that answers fresh tokens and keeps every request."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        recorder = self

        class Handler(QuietHandler):
            def do_POST(self):  # noqa: N802
                body = self.read_body().decode()
                recorder.requests.append({
                    "path": self.path.split("?")[0],
                    "content_type": self.headers.get("Content-Type", ""),
                    "authorization": self.headers.get("Authorization"),
                    "body": body,
                })
                if self.path.endswith("/revoke"):
                    self.send_json(200, {})
                    return
                n = len(recorder.requests)
                self.send_json(200, {
                    "access_token": f"access-{n}", "token_type": "Bearer", "expires_in": 3600,
                    "refresh_token": f"refresh-{n}",
                })

        self.server, self.base = serve(Handler)

    def fields(self, index: int) -> dict:
        """The parameters of request `index`, whichever encoding carried them."""
        request = self.requests[index]
        if request["content_type"].startswith("application/json"):
            return json.loads(request["body"])
        return dict(parse_qsl(request["body"], keep_blank_values=True))


@pytest.fixture
def recorder():
    yield from running(Recorder())


# A provider of the overlay's own, for the checks of single fields.
ACME = '[providers.acme]\nname = "Acme"\nauthorization_url = "https://acme.example/authorize"\n' \
       'token_url = "https://acme.example/token"\n'


def _overlay(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "overlay.toml"
    path.write_text("schema_version = 1\n" + text)
    return path


def _env(home: Path, **extra: str) -> dict:
    return {**os.environ, **extra}


def authorize_through_redirect(overlay: Path, *args: str, env: dict | None = None, code: str = "the-code") -> tuple[int, str]:
    """`add ... --no-browser` in the background; the test plays the browser: it reads the
    printed authorization URL and calls its redirect URI with `code` and the state."""
    process = subprocess.Popen(
        [str(SCRIPT), "--registry", str(overlay), "add", *args, "--no-browser", "--timeout", "60", "--insecure-storage"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **(env or {})},
    )
    seen = ""
    try:
        deadline = time.monotonic() + 30
        while not FULL_RE.search(seen) and time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line:
                break
            seen += line
        match = FULL_RE.search(seen)
        assert match, seen
        query = parse_qs(urlsplit(match.group(1)).query)
        redirect_uri, state = query["redirect_uri"][0], query["state"][0]
        answer = requests.get(f"{redirect_uri}?{urlencode({'code': code, 'state': state})}", timeout=30)
        assert answer.status_code == 200, answer.text
        _, rest = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return process.returncode, seen + rest


# --- 8. token-request parameters ---------------------------------------------


def test_shopify_asks_for_expiring_tokens_in_the_code_exchange_and_not_in_the_refresh(cli, recorder, tmp_path, home):
    overlay = _overlay(tmp_path, f'''
[providers.shopify]
authorization_url = "{recorder.base}/{{shop}}/authorize"
token_url = "{recorder.base}/{{shop}}/token"
redirect_ports = []
''')
    env = {"INTEGRAY_AUTH_SHOPIFY_CLIENT_ID": "shop-app", "INTEGRAY_AUTH_SHOPIFY_CLIENT_SECRET": "shop-secret"}

    code, stderr = authorize_through_redirect(
        overlay, "Shop", "-p", "shopify", "-c", "list-products", "--param", "shop=acme-store", env=env
    )

    assert code == 0, stderr
    assert_no_crash(stderr)
    exchange = recorder.fields(0)
    assert recorder.requests[0]["path"] == "/acme-store/token"
    assert recorder.requests[0]["content_type"] == "application/x-www-form-urlencoded"
    assert exchange["grant_type"] == "authorization_code" and exchange["code"] == "the-code"
    assert exchange["expiring"] == "1"
    assert exchange["client_id"] == "shop-app" and exchange["client_secret"] == "shop-secret"

    refreshed = cli("--registry", str(overlay), "token", "Shop", "--force-refresh", env=env)
    assert refreshed.code == 0, refreshed.stderr
    assert refreshed.stdout.strip() == "access-2"
    refresh = recorder.fields(1)
    assert refresh["grant_type"] == "refresh_token" and refresh["refresh_token"] == "refresh-1"
    assert "expiring" not in refresh  # a code-exchange parameter, not a refresh one


def test_zendesk_passes_expires_in_in_the_code_exchange_and_in_the_refresh(cli, recorder, tmp_path):
    overlay = _overlay(tmp_path, f'''
[providers.zendesk]
authorization_url = "{recorder.base}/{{subdomain}}/authorize"
token_url = "{recorder.base}/{{subdomain}}/token"
redirect_ports = []
''')
    env = {"INTEGRAY_AUTH_ZENDESK_CLIENT_ID": "zd-public"}

    code, stderr = authorize_through_redirect(overlay, "Desk", "-p", "zendesk", "-c", "list-tickets", "--param",
                                              "subdomain=acme", env=env)

    assert code == 0, stderr
    exchange = recorder.fields(0)
    assert exchange["expires_in"] == "172800" and exchange["code_verifier"]  # PKCE, a public client
    assert "client_secret" not in exchange
    assert cli("--registry", str(overlay), "token", "Desk", "--force-refresh", env=env).code == 0
    assert recorder.fields(1)["expires_in"] == "172800"


# --- 9. token-request encoding: Notion's JSON body ----------------------------


def test_notion_sends_json_bodies_with_basic_auth_for_exchange_refresh_and_revocation(cli, recorder, tmp_path):
    overlay = _overlay(tmp_path, f'''
[providers.notion]
authorization_url = "{recorder.base}/authorize"
token_url = "{recorder.base}/token"
revocation_url = "{recorder.base}/revoke"
redirect_ports = []
''')
    env = {"INTEGRAY_AUTH_NOTION_CLIENT_ID": "notion-app", "INTEGRAY_AUTH_NOTION_CLIENT_SECRET": "notion:secret"}

    code, stderr = authorize_through_redirect(overlay, "Wiki", "-p", "notion", "-c", "search-pages", env=env)
    assert code == 0, stderr
    assert cli("--registry", str(overlay), "token", "Wiki", "--force-refresh", env=env).code == 0
    removed = cli("--registry", str(overlay), "remove", "Wiki", "--yes", env=env)
    assert removed.code == 0, removed.stderr

    assert [r["path"] for r in recorder.requests] == ["/token", "/token", "/revoke"]
    basic = "Basic " + base64.b64encode(b"notion-app:notion%3Asecret").decode()  # RFC 6749 §2.3.1
    for request in recorder.requests:
        assert request["content_type"] == "application/json"
        assert request["authorization"] == basic
        assert isinstance(json.loads(request["body"]), dict)
    exchange, refresh, revocation = (recorder.fields(i) for i in range(3))
    assert exchange == {"grant_type": "authorization_code", "code": "the-code", "redirect_uri": exchange["redirect_uri"]}
    assert exchange["redirect_uri"].startswith("http://127.0.0.1:")
    assert refresh == {"grant_type": "refresh_token", "refresh_token": "refresh-1"}
    assert revocation == {"token": "refresh-2", "token_type_hint": "refresh_token"}
    for text in (stderr, removed.stderr):
        assert "notion:secret" not in text and "refresh-2" not in text


def test_providers_show_says_what_the_token_requests_carry(cli):
    notion = cli("providers", "show", "notion", "--json").json()["provider"]
    shopify = cli("providers", "show", "shopify")

    assert notion["token_request_encoding"] == "json"
    assert notion["code_exchange_params"] == {} and notion["refresh_params"] == {}
    assert shopify.code == 0
    assert "Code exchange:     also sends expiring=1" in shopify.stdout


# --- 10. known limits the tool acts on ----------------------------------------


def test_box_says_its_code_lives_30_seconds_before_the_browser_opens(cli):
    result = cli("add", "Files", "-p", "box", "-c", "list-folder", "--client-id", "box-app", "--no-browser",
                 "--timeout", "1", "--insecure-storage", env={"INTEGRAY_AUTH_BOX_CLIENT_SECRET": "box-secret"})

    assert result.code == 10, result.stderr  # nobody answered
    note = result.stderr.index("valid for only 30 seconds")
    assert note < result.stderr.index("https://account.box.com/api/oauth2/authorize?")
    assert cli("providers", "show", "box", "--json").json()["provider"]["code_lifetime"] == 30


def test_intercom_is_refused_with_the_reason_before_anything_starts(cli):
    result = cli("add", "Support", "-p", "intercom", "-c", cli("providers", "show", "intercom", "--json")
                 .json()["provider"]["connectors"][0]["id"], "--client-id", "ic-app", "--no-browser",
                 "--insecure-storage", env={"INTEGRAY_AUTH_INTERCOM_CLIENT_SECRET": "ic-secret"})

    line = assert_error_line(result, 2, "Intercom accepts only https redirect URLs", "nothing was started or saved")
    assert "integray-auth providers show intercom" in line
    assert "Open this URL" not in result.stderr
    assert cli("list", "--all", "--json").json()["authorizations"] == []
    shown = cli("providers", "show", "intercom")
    assert "Limit:             Intercom accepts only https redirect URLs" in shown.stdout
    assert cli("providers", "show", "intercom", "--json").json()["provider"]["https_redirect_only"] is True


def test_quickbooks_redirects_to_localhost_not_an_ip_and_says_so_first(cli):
    result = cli("add", "Books", "-p", "quickbooks", "-c", cli("providers", "show", "quickbooks", "--json")
                 .json()["provider"]["connectors"][0]["id"], "--client-id", "qb-app", "--no-browser", "--timeout", "1",
                 "--insecure-storage", env={"INTEGRAY_AUTH_QUICKBOOKS_CLIENT_SECRET": "qb-secret"})

    assert result.code in (10, 11), result.stderr  # timeout, or port 53682 busy on this machine
    if result.code == 10:
        url = next(u for u in re.findall(r"https://appcenter\.intuit\.com/\S+", result.stderr))
        assert parse_qs(urlsplit(url).query)["redirect_uri"] == ["http://localhost:53682/callback"]
        assert result.stderr.index("accepts a localhost redirect URI, not an IP address") < result.stderr.index(url)
    limits = cli("providers", "show", "quickbooks", "--json").json()["provider"]["limits"]
    assert any("not an IP address" in line for line in limits)


def test_pipedrive_says_its_uninstall_callback_cannot_reach_a_local_url(cli):
    limits = cli("providers", "show", "pipedrive", "--json").json()["provider"]["limits"]
    assert any("uninstall" in line and "cannot receive it" in line for line in limits)


# --- the schema's checks -------------------------------------------------------


@pytest.mark.parametrize(
    "fields, fragment",
    [
        ('code_exchange_params = { code_verifier = "x" }', "'code_exchange_params.code_verifier': is set by integray-auth itself"),
        ('refresh_params = { grant_type = "password" }', "'refresh_params.grant_type': is set by integray-auth itself"),
        ('refresh_params = { expires_in = 3600 }', "'refresh_params.expires_in': must be a string"),
        ('token_request_encoding = "xml"', "'xml' is not one of 'form', 'json'"),
        ("code_lifetime = 0", "0 is not a number of seconds from 1 to 3600"),
        ('code_lifetime = "30"', "field 'code_lifetime': must be a whole number"),
        ('device_scopes = ["read"]', "field 'device_scopes': needs the 'device_code' grant"),
        ('limits = ["fine", "\\u001b[2J"]', "field 'limits': holds the control character"),
        ("https_redirect_only = 1", "field 'https_redirect_only': must be a boolean"),
    ],
)
def test_the_new_fields_are_checked_like_the_rest_of_the_registry(tmp_path, fields, fragment):
    overlay = _overlay(tmp_path, ACME + fields + "\n")
    with pytest.raises(RegistryError) as raised:
        load_registry([overlay])
    assert fragment in raised.value.message


def test_the_new_fields_survive_the_registry_cache(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    first = load_registry([], cache_dir=cache)
    again = load_registry([], cache_dir=cache)  # read back from registry.json

    assert (cache / "registry.json").exists()
    for pid in ("shopify", "zendesk", "notion", "box", "intercom", "google", "pipedrive"):
        for field in ("code_exchange_params", "refresh_params", "token_request_encoding", "code_lifetime",
                      "https_redirect_only", "device_scopes", "device_needs_own_client", "limits"):
            assert getattr(again.get(pid), field) == getattr(first.get(pid), field), (pid, field)
    assert again.get("shopify").code_exchange_params == {"expiring": "1"}
