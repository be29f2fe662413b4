"""Templated endpoints ({tenant}, {shop}): registry rules (exit 3), command-line
values (exit 2), the authorization URL `add` builds, the values saved and
shown, and the token refresh and revocation that use them — through the
installed command, against the real authorization server where tokens flow."""

from __future__ import annotations

import json
import os
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.support import refresh
from tests.support.cli import assert_error_line, assert_no_crash
from tests.support.overlays import READER, WRITER, overlay_text, provider, write_overlay
from tests.support.registry_files import assert_registry_error_line, write

FULL_URL = re.compile(r"https://[^\s)]+")


def provider_url(stderr: str, host_suffix: str) -> str:
    """The provider's full authorization URL from `add --no-browser`'s stderr."""
    found = [url for url in FULL_URL.findall(stderr) if urlsplit(url).hostname.endswith(host_suffix)]
    assert found, stderr
    return found[0]


# --- the done-when: the right authorization URL for a named tenant / shop --------


def test_add_for_a_named_microsoft_tenant_prints_that_tenants_authorization_url(cli, home):
    result = cli("add", "Contoso Mail", "-p", "microsoft", "-c", "outlook-read-mail", "--client-id", "my-app",
                 "--param", "tenant=contoso.onmicrosoft.com", "--no-browser", "--timeout", "1", "--insecure-storage")

    assert result.code == 10, result.stderr  # nobody answered: timeout
    url = urlsplit(provider_url(result.stderr, "login.microsoftonline.com"))
    assert (url.scheme, url.hostname, url.path) == (
        "https", "login.microsoftonline.com", "/contoso.onmicrosoft.com/oauth2/v2.0/authorize")
    query = parse_qs(url.query)
    assert query["client_id"] == ["my-app"] and query["code_challenge_method"] == ["S256"]
    assert query["scope"] == ["Mail.Read offline_access User.Read"]
    assert urlsplit(query["redirect_uri"][0]).hostname == "127.0.0.1"
    assert "common" not in url.path


def test_add_for_a_named_shopify_shop_prints_that_shops_authorization_url(cli, home):
    result = cli("add", "Acme Store", "-p", "shopify", "-c", "list-products", "-c", "list-orders",
                 "--client-id", "shop-app", "--param", "shop=acme-store", "--no-browser", "--timeout", "1",
                 "--insecure-storage", env={"INTEGRAY_AUTH_SHOPIFY_CLIENT_SECRET": "s3cret"})

    assert result.code == 10, result.stderr
    url = urlsplit(provider_url(result.stderr, ".myshopify.com"))
    assert (url.hostname, url.path) == ("acme-store.myshopify.com", "/admin/oauth/authorize")
    query = parse_qs(url.query)
    assert query["scope"] == ["read_products,read_orders"]  # Shopify's comma separator
    assert query["client_id"] == ["shop-app"] and "s3cret" not in result.stderr


def test_a_default_is_used_and_saved_when_no_param_is_given(cli, home):
    assert cli("add", "Any Tenant", "-p", "microsoft", "-c", "outlook-send-mail", "--no-authorize").code == 0

    shown = cli("show", "Any Tenant", "--json").json()["authorization"]
    assert shown["parameters"] == {"tenant": "common"}


def test_show_displays_the_saved_values_in_text_and_json(cli, home):
    assert cli("add", "Shop", "-p", "shopify", "-c", "list-products", "--param", "shop=acme-store",
               "--no-authorize").code == 0

    text = cli("show", "Shop")
    document = cli("show", "Shop", "--json").json()["authorization"]

    assert "Parameters: shop=acme-store" in text.stdout
    assert document["parameters"] == {"shop": "acme-store"}
    listed = cli("list", "--json").json()["authorizations"][0]
    assert listed["parameters"] == {"shop": "acme-store"}


# --- bad values on the command line: exit 2, one line naming the parameter -------


def test_a_missing_parameter_without_default_is_a_usage_error_off_a_terminal(cli, home):
    result = cli("add", "Shop", "-p", "shopify", "-c", "list-products", "--no-authorize")

    line = assert_error_line(result, 2, "shop", "--param")
    assert "unexpected error" not in line
    assert not (home / "index.json").exists() or "Shop" not in (home / "index.json").read_text()


@pytest.mark.parametrize("value", [
    "evil.com/x", "acme?x=1", "acme#frag", "user@evil.com", "acme store", "acme\tx", "", "..", "a%2Fb", "evil.com:443",
    "acme.evil.com",  # outside the declared pattern (no dots in a shop name)
])
def test_a_value_that_could_change_the_host_or_path_is_refused(cli, home, value):
    result = cli("add", "Shop", "-p", "shopify", "-c", "list-products", "--param", f"shop={value}", "--no-authorize")

    line = assert_error_line(result, 2, "shop")
    assert_no_crash(result.stderr)
    assert "\t" not in line
    assert not (home / "index.json").exists() or "Shop" not in (home / "index.json").read_text()


def test_an_unknown_or_malformed_param_is_a_usage_error(cli, home):
    unknown = cli("add", "M", "-p", "microsoft", "-c", "outlook-send-mail", "--param", "tenat=x", "--no-authorize")
    malformed = cli("add", "M", "-p", "microsoft", "-c", "outlook-send-mail", "--param", "tenant", "--no-authorize")
    twice = cli("add", "M", "-p", "microsoft", "-c", "outlook-send-mail", "--param", "tenant=a.com",
                "--param", "tenant=b.com", "--no-authorize")

    assert_error_line(unknown, 2, "tenat", "tenant")
    assert_error_line(malformed, 2, "NAME=VALUE")
    assert_error_line(twice, 2, "twice")


# --- registry rules: exit 3 naming file, provider and field ----------------------

BASE = overlay_text(provider(
    "acme", "Acme", pkce="", scopes={"read": "Read things"},
    connectors=(("read-things", "Read Things", "Reads things.", ("read",)),),
    fields='authorization_url = "{auth}"\ntoken_url = "https://acme.example/token"'))


@pytest.mark.parametrize(("auth", "extra", "fragments"), [
    ("https://acme.example/authorize", '[providers.acme.parameters.tenant]\ndescription = "x"\n',
     ("provider 'acme'", "parameter 'tenant'", "none of the provider's URLs")),
    ("https://{tenant}.acme.example/authorize", "",
     ("provider 'acme'", "field 'authorization_url'", "{tenant}", "not declared")),
    ("https://{tenant}.acme.example/authorize", '[providers.acme.parameters.tenant]\ndescription = "x"\npattern = "(["\n',
     ("provider 'acme'", "parameter 'tenant'", "field 'pattern'", "not a regular expression")),
    ("https://{tenant}.acme.example/authorize",
     '[providers.acme.parameters.tenant]\ndescription = "x"\npattern = "[a-z]+"\ndefault = "Bad1"\n',
     ("provider 'acme'", "parameter 'tenant'", "field 'default'")),
    ("https://{tenant}.acme.example/authorize", '[providers.acme.parameters.tenant]\ndefault = "x"\n',
     ("provider 'acme'", "parameter 'tenant'", "description")),
    ("https://{tenant.acme.example/authorize", "", ("field 'authorization_url'", "unmatched")),
    ("http://{tenant}.acme.example/authorize", '[providers.acme.parameters.tenant]\ndescription = "x"\n',
     ("field 'authorization_url'", "https://")),
    ("https://{tenant}.acme.example/authorize", '[providers.acme.parameters.tenant]\ndescription = "x"\nfoo = "y"\n',
     ("parameter 'tenant'", "field 'foo'", "unknown key")),
])
def test_a_registry_with_inconsistent_parameters_is_refused(cli, home, tmp_path, auth, extra, fragments):
    overlay = write(tmp_path / "bad.toml", BASE.format(auth=auth) + extra)

    result = cli("--registry", str(overlay), "providers")

    line = assert_registry_error_line(result, str(overlay), *fragments)
    assert "unexpected error" not in line


def test_an_overlay_may_change_a_bundled_default(cli, home, tmp_path):
    overlay = write(tmp_path / "mine.toml", '[providers.microsoft.parameters.tenant]\ndefault = "organizations"\n')

    assert cli("--registry", str(overlay), "add", "Work", "-p", "microsoft", "-c", "outlook-send-mail",
               "--no-authorize").code == 0

    shown = cli("--registry", str(overlay), "show", "Work", "--json").json()["authorization"]
    assert shown["parameters"] == {"tenant": "organizations"}


# --- the real server: the token refresh and the revocation use the saved values ---


@pytest.fixture
def templated_overlay(auth_server, tmp_path):
    """The real server, with its port as a template parameter of every URL."""
    s = auth_server
    port = urlsplit(s["token_endpoint"]).port
    templated = {key: s[key].replace(f":{port}/", ":{port}/")
                 for key in ("authorization_endpoint", "token_endpoint", "revocation_endpoint")}
    path = tmp_path / "tpl.toml"

    def build(extra: str = ""):
        return write_overlay(path, provider(
            "tpl", "Templated Server", templated, endpoints=("authorization_url", "token_url", "revocation_url"),
            scopes=("openid", "read", "write"), connectors=(READER, WRITER),
            fields=f'client_id = "{s["client_id"]}"\n{extra}',
            tables='[providers.tpl.parameters.port]\ndescription = "the server\'s port"\npattern = "[0-9]+"')), str(port)

    return build


@pytest.mark.e2e
def test_token_refreshes_at_the_url_built_from_the_saved_values(cli, home, http_browser, templated_overlay):
    overlay, port = templated_overlay()
    added = cli("--registry", str(overlay), "add", "Tpl", "-p", "tpl", "-c", "reader", "--param", f"port={port}",
                "--insecure-storage", env=http_browser.env())
    assert added.code == 0, added.stderr
    old = refresh.stored(home)

    refresh.expire_stored(home)
    refreshed = cli("--registry", str(overlay), "token", "Tpl")

    assert refreshed.code == 0, refreshed.stderr
    assert refreshed.stdout.strip() == refresh.stored(home)["access_token"] != old["access_token"]


@pytest.mark.e2e
def test_remove_skips_revocation_that_needs_a_secret_the_client_lacks(cli, home, http_browser, templated_overlay, auth_server):
    # Zoom's case: a public PKCE client, a revoke endpoint that takes HTTP Basic.
    overlay, port = templated_overlay('revocation_auth = "client_secret_basic"')
    assert cli("--registry", str(overlay), "add", "Pub", "-p", "tpl", "-c", "reader", "--param", f"port={port}",
               "--insecure-storage", env=http_browser.env()).code == 0
    stored = refresh.stored(home)

    result = cli("--registry", str(overlay), "remove", "Pub", "--yes")

    assert result.code == 0, result.stderr
    assert "Not revoked" in result.stderr and "needs the client secret" in result.stderr
    assert "Removed 'Pub'." in result.stderr and "unexpected error" not in result.stderr
    still = requests.post(auth_server["token_endpoint"], data={
        "grant_type": "refresh_token", "refresh_token": stored["refresh_token"], "client_id": auth_server["client_id"]},
        timeout=10)
    assert still.status_code == 200  # nothing was sent to the revocation endpoint


@pytest.mark.e2e
def test_an_account_that_cannot_be_read_is_a_note_not_a_failure(cli, home, http_browser, templated_overlay, auth_server):
    overlay, port = templated_overlay(
        f'userinfo_url = "{auth_server["userinfo_endpoint"]}"\naccount_field = "sub"')
    # Without `openid` the server refuses userinfo: the authorization must still be saved.
    result = cli("--registry", str(overlay), "add", "NoInfo", "-p", "tpl", "-c", "writer", "--param", f"port={port}",
                 "--insecure-storage", env=http_browser.env())

    assert result.code == 0, result.stderr
    assert "could not read the account" in result.stderr
    shown = cli("--registry", str(overlay), "show", "NoInfo", "--json").json()["authorization"]
    assert shown["status"] == "authorized" and shown["parameters"] == {"port": port}


# --- values the redirect names (QuickBooks' realmId) -------------------------------


def test_callback_values_are_kept_only_when_declared_and_plain():
    from integray_auth.errors import AuthorizationFailed
    from integray_auth.grants.loopback_consent import callback_values as _callback_values
    from integray_auth.registry.loading import load_registry

    quickbooks = load_registry().get("quickbooks")
    google = load_registry().get("google")

    assert _callback_values(quickbooks, {"code": "c", "state": "s", "realmId": "9130347596"}) == {"realmId": "9130347596"}
    assert _callback_values(quickbooks, {"code": "c", "state": "s"}) == {}
    assert _callback_values(google, {"code": "c", "realmId": "1"}) == {}
    with pytest.raises(AuthorizationFailed):
        _callback_values(quickbooks, {"code": "c", "realmId": "1\x1b[2J"})


# --- on a terminal, a missing value is asked for ----------------------------------


@pytest.mark.skipif(os.name != "posix", reason="needs a POSIX pseudo-terminal")
def test_a_missing_parameter_is_asked_for_on_a_terminal(cli, home):
    from tests.support.terminal import run_in_terminal

    code, output = run_in_terminal(
        ["add", "Shop", "-p", "shopify", "-c", "list-products", "--no-authorize"], [("shop", "acme-store")]
    )

    assert code == 0, output
    assert "Shopify needs shop" in output
    shown = json.loads(cli("show", "Shop", "--json").stdout)["authorization"]
    assert shown["parameters"] == {"shop": "acme-store"}
