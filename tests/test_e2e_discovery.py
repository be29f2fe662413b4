"""End to end: `providers add --issuer` reads the real server's discovery
document (django-oauth-toolkit), and the provider it writes works for a full
`add` (scripted browser, real consent) and `token`, with the tokens in a real
GNOME Keyring and RFC 9207 `iss` checked on the callback."""

from __future__ import annotations

import tomllib
import urllib.parse

import pytest
import requests

pytestmark = pytest.mark.e2e


def test_a_discovered_provider_authorizes_and_gives_tokens_with_iss_checked(
    cli, home, auth_server_factory, http_browser, keyring_env
):
    server = auth_server_factory(authorization_response_iss=True)
    added = cli("providers", "add", "dot", "--issuer", server.issuer, "--name", "DOT", "--client-id", server.client_id)
    assert added.code == 0, added.stderr
    assert added.stdout == ""
    assert "/.well-known/oauth-authorization-server" in added.stderr
    assert "iss checked on every callback" in added.stderr

    entry = tomllib.loads((home / "providers.toml").read_text())["providers"]["dot"]
    assert entry["issuer"] == server.issuer
    assert entry["authorization_url"] == server.authorization_endpoint
    assert entry["token_url"] == server.token_endpoint
    assert entry["revocation_url"] == server.revocation_endpoint
    assert entry["pkce"] == "required" and entry["iss_parameter"] is True
    assert set(entry["scopes"]) == {"openid", "profile", "read", "write", "offline_access"}
    assert (home / "providers.toml").stat().st_mode & 0o777 == 0o600

    connector = cli("providers", "connector", "add", "dot", "reader", "--scope", "openid", "--scope", "read")
    assert connector.code == 0, connector.stderr

    result = cli("add", "Discovered", "-p", "dot", "-c", "reader", env={**http_browser.env(), **keyring_env})
    browser = http_browser.result()
    assert result.code == 0, result.stderr
    assert "Authorized 'Discovered' with DOT." in result.stderr
    # The server really sent iss, and the listener took it.
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(browser["callback_url"]).query))
    assert query["iss"] == server.issuer
    assert browser["callback_status"] == 200

    token = cli("token", "Discovered", env=keyring_env)
    assert token.code == 0, token.stderr
    access = token.stdout.strip()
    userinfo = requests.get(server.userinfo_endpoint, headers={"Authorization": f"Bearer {access}"}, timeout=10)
    assert userinfo.status_code == 200
    shown = cli("show", "Discovered", "--json")
    assert sorted(shown.json()["authorization"]["granted_scopes"]) == ["openid", "read"]


def test_discovery_of_the_shared_server_without_iss(cli, home, auth_server):
    added = cli("providers", "add", "shared", "--issuer", auth_server.issuer)
    assert added.code == 0, added.stderr
    assert "iss checked when sent" in added.stderr
    entry = tomllib.loads((home / "providers.toml").read_text())["providers"]["shared"]
    assert "iss_parameter" not in entry and "client_id" not in entry
    assert entry["name"] == "shared"
    shown = cli("providers", "show", "shared", "--json")
    assert shown.code == 0, shown.stderr
    assert "warning" not in shown.stderr  # not a bundled provider: nothing is overridden
