"""End to end, issue 20 item 9: `token_request_encoding = "json"` against the real test
server. django-oauth-toolkit reads form bodies only, so authserver.py's
--json-token-requests puts a small adapter in front of its token and revocation
endpoints: a JSON object body is turned into the form DOT reads, a form body is
refused with 400 invalid_request (as a JSON-only endpoint would), and each
request's Content-Type is recorded. What this shows: the installed command sends
the code exchange, the refresh and the revocation as JSON objects with HTTP Basic
client authentication, the server's real checks (PKCE, the code, the client
secret, the refresh token) pass on what it sent, and the same provider with
form bodies is refused there. That Notion itself takes these requests is shown
only by its documentation (see providers.toml), not here.
"""

from __future__ import annotations

import pytest
import requests

from tests.support.cli import assert_no_crash
from tests.support.overlays import provider, write_overlay

pytestmark = pytest.mark.e2e


def _overlay(tmp_path, server, encoding: str):
    return write_overlay(tmp_path / f"{encoding}.toml", provider(
        f"local{encoding}", f"Local {encoding.upper()} bodies", server,
        endpoints=("authorization_url", "token_url", "revocation_url"),
        fields=f'client_id = "{server["confidential_client_id"]}"\nclient_auth = "client_secret_basic"\n'
               f'client_secret_required = true\ntoken_request_encoding = "{encoding}"'))


@pytest.fixture
def json_server(auth_server_factory):
    return auth_server_factory(json_token_requests=True)


def test_json_bodies_do_the_code_exchange_refresh_and_revocation_against_the_real_server(
    cli, json_server, http_browser, tmp_path
):
    overlay = _overlay(tmp_path, json_server, "json")
    env = {"INTEGRAY_AUTH_LOCALJSON_CLIENT_SECRET": json_server["confidential_client_secret"]}

    added = cli("--registry", str(overlay), "add", "Json", "-p", "localjson", "-c", "reader", "--insecure-storage",
                env={**http_browser.env(), **env})
    assert http_browser.result()["ok"]
    assert added.code == 0, added.stderr
    assert_no_crash(added.stderr)
    first = cli("--registry", str(overlay), "token", "Json", env=env).stdout.strip()
    refreshed = cli("--registry", str(overlay), "token", "Json", "--force-refresh", env=env)
    assert refreshed.code == 0, refreshed.stderr
    access = refreshed.stdout.strip()
    assert access and access != first
    # A real token of the server: its userinfo endpoint takes it.
    userinfo = requests.get(json_server["userinfo_endpoint"], headers={"Authorization": f"Bearer {access}"}, timeout=10)
    assert userinfo.status_code == 200
    removed = cli("--registry", str(overlay), "remove", "Json", "--yes", env=env)
    assert removed.code == 0, removed.stderr
    assert "revoked" in removed.stderr.lower() or "did not revoke" not in removed.stderr

    counts = json_server.counts()
    assert counts["token"] == {"authorization_code": 1, "refresh_token": 1}
    assert counts["revoke"] == 1
    assert counts["encodings"] == [
        ["/token/", "application/json"], ["/token/", "application/json"], ["/revoke_token/", "application/json"],
    ]
    # The refreshed token was revoked for real: the server no longer takes it.
    after = requests.get(json_server["userinfo_endpoint"], headers={"Authorization": f"Bearer {access}"}, timeout=10)
    assert after.status_code == 401


def test_form_bodies_work_on_the_form_server_and_are_refused_by_the_json_one(
    cli, auth_server, json_server, http_browser, tmp_path
):
    env = {"INTEGRAY_AUTH_LOCALFORM_CLIENT_SECRET": auth_server["confidential_client_secret"]}
    on_form = cli("--registry", str(_overlay(tmp_path, auth_server, "form")), "add", "Form", "-p", "localform",
                  "-c", "reader", "--insecure-storage", env={**http_browser.env(), **env})
    http_browser.result()
    assert on_form.code == 0, on_form.stderr
    assert ["/token/", "application/x-www-form-urlencoded"] in auth_server.counts()["encodings"]

    (tmp_path / "json-server").mkdir()
    on_json = cli("--registry", str(_overlay(tmp_path / "json-server", json_server, "form")), "add", "Refused",
                  "-p", "localform", "-c", "reader", "--insecure-storage",
                  env={**http_browser.env(), "INTEGRAY_AUTH_LOCALFORM_CLIENT_SECRET": json_server["confidential_client_secret"]})
    http_browser.result()
    assert on_json.code == 9, on_json.stderr
    assert_no_crash(on_json.stderr)
    last = on_json.stderr.splitlines()[-1]
    assert "refused: invalid_request" in last and "takes a JSON object body" in last
    assert json_server.counts()["token"] == {}  # never reached DOT
    assert [a["name"] for a in cli("list", "--all", "--json").json()["authorizations"]] == ["Form"]
