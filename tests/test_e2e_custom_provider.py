"""Integray's "custom OAuth 2.0" provider (issue 19 item 9), end to end against the real test
server (django-oauth-toolkit): `providers add` by hand from its URLs (no discovery document),
`providers connector add`, `add` through a scripted browser and real consent, `token` accepted
by the server's userinfo endpoint; the login query parameters on the authorization URL, the
offline_access scope requested; `providers connector remove` and `providers remove` after."""

from __future__ import annotations

import tomllib
import urllib.parse

import requests

from tests.support.cli import assert_error_line


def _add_by_hand(cli, server, *extra):
    return cli("providers", "add", "handmade", "--name", "Handmade", "--authorization-url", server.authorization_endpoint,
               "--token-url", server.token_endpoint, "--revocation-url", server.revocation_endpoint,
               "--userinfo-url", server.userinfo_endpoint, "--scope", "openid=Who you are", "--scope", "read=Read your things", "--scope", "write",
               "--auth-param", "ui_locales=en", "--offline-access", "--client-id", server.client_id, *extra)


def test_a_provider_added_by_hand_authorizes_and_gives_tokens(cli, home, auth_server, http_browser, keyring_env):
    added = _add_by_hand(cli, auth_server)
    assert added.code == 0, added.stderr
    assert "Added provider 'handmade'" in added.stderr
    overlay = home / "providers.toml"
    assert overlay.stat().st_mode & 0o777 == 0o600
    entry = tomllib.loads(overlay.read_text())["providers"]["handmade"]
    assert entry["authorization_url"] == auth_server.authorization_endpoint
    assert entry["token_url"] == auth_server.token_endpoint
    assert entry["pkce"] == "required" and entry["client_auth"] == "none"
    assert entry["authorization_params"] == {"ui_locales": "en"}
    assert entry["scopes"]["read"] == "Read your things" and "offline_access" in entry["scopes"]

    connector = cli("providers", "connector", "add", "handmade", "reader", "--scope", "openid", "--scope", "read")
    assert connector.code == 0, connector.stderr
    scopes = tomllib.loads(overlay.read_text())["providers"]["handmade"]["connectors"]["reader"]["scopes"]
    assert scopes == ["openid", "read", "offline_access"]  # --offline-access: every connector asks for it

    # The login query parameters and the scopes reach the authorization URL (printed with --no-browser).
    printed = cli("add", "Printed", "-p", "handmade", "-c", "reader", "--no-browser", "--timeout", "1", env=keyring_env)
    assert printed.code == 10, printed.stderr
    url = next(word for word in printed.stderr.split() if word.startswith(auth_server.authorization_endpoint))
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    assert query["ui_locales"] == "en" and query["scope"] == "openid read offline_access"
    assert query["code_challenge_method"] == "S256" and query["client_id"] == auth_server.client_id

    result = cli("add", "Handmade Things", "-p", "handmade", "-c", "reader", env={**http_browser.env(), **keyring_env})
    assert result.code == 0, result.stderr
    assert "Authorized 'Handmade Things' with Handmade." in result.stderr
    token = cli("token", "Handmade Things", env=keyring_env)
    assert token.code == 0, token.stderr
    answer = requests.get(auth_server.userinfo_endpoint, headers={"Authorization": f"Bearer {token.stdout.strip()}"}, timeout=10)
    assert answer.status_code == 200
    shown = cli("show", "Handmade Things", "--json", "granted_scopes,renewable").json()["authorization"]
    assert "offline_access" in shown["granted_scopes"]

    # In use: neither the connector nor the provider can go.
    assert_error_line(cli("providers", "connector", "remove", "handmade", "reader"), 6, "authorizations use connector 'reader'")
    assert_error_line(cli("providers", "remove", "handmade"), 6, "authorizations use provider 'handmade'")
    assert cli("remove", "Handmade Things", "--yes", env=keyring_env).code == 0

    removed = cli("providers", "connector", "remove", "handmade", "reader")
    assert removed.code == 0, removed.stderr
    assert "connectors" not in tomllib.loads(overlay.read_text())["providers"]["handmade"]
    gone = cli("providers", "remove", "handmade")
    assert gone.code == 0, gone.stderr
    assert "handmade" not in tomllib.loads(overlay.read_text()).get("providers", {})
    assert_error_line(cli("providers", "show", "handmade"), 5, "unknown provider 'handmade'")


def test_the_form_is_checked_before_anything_is_written(cli, home):
    base = ["providers", "add", "shop", "--authorization-url", "https://shop.example/oauth/authorize"]

    assert_error_line(cli(*base, "--token-url", "http://shop.example/token"), 2, "--token-url", "must be https://")
    line = assert_error_line(cli(*base, "--token-url", "https://me:pw@shop.example/token"), 2, "user name or password")
    assert "pw@" not in line
    assert_error_line(cli(*base), 2, "missing --token-url", "integray-auth providers add acme --authorization-url")
    assert_error_line(cli(*base, "--token-url", "https://shop.example/t", "--auth-param", "state=x"), 2, "set by the flow itself")
    assert_error_line(cli(*base, "--token-url", "https://shop.example/t", "--scope", "a b"), 2, "is not a scope")
    assert_error_line(cli(*base, "--token-url", "https://shop.example/t", "--pkce", "unsupported"), 2, "--pkce")
    assert_error_line(cli(*base, "--token-url", "https://shop.example/t", "--issuer", "https://shop.example"), 2, "--issuer")
    assert_error_line(cli("providers", "add", "google", "--authorization-url", "https://a.example/a", "--token-url",
                          "https://a.example/t"), 6, "bundled provider")  # fmt: skip
    assert not (home / "providers.toml").exists()


def test_comments_are_kept_and_a_bundled_connector_is_not_removed(cli, home):
    overlay = home / "providers.toml"
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    overlay.write_text("# my notes, kept\nschema_version = 1\n")
    overlay.chmod(0o600)
    added = cli("providers", "add", "shop", "--authorization-url", "https://shop.example/oauth/authorize",
                "--token-url", "https://shop.example/oauth/token", "--client-auth", "client_secret_basic")
    assert added.code == 0, added.stderr
    text = overlay.read_text()
    assert text.startswith("# my notes, kept\nschema_version = 1\n")
    entry = tomllib.loads(text)["providers"]["shop"]
    assert entry["client_auth"] == "client_secret_basic" and entry["client_secret_required"] is True
    assert_error_line(cli("providers", "connector", "remove", "google", "gmail-send-message"), 6, "comes from")
    assert cli("providers", "remove", "shop").code == 0
    assert overlay.read_text().startswith("# my notes, kept\nschema_version = 1\n")
