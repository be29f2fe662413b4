"""End to end, issue 20 item 11: a template provider whose issuer publishes its
metadata (`discovery = true`: Okta, Auth0, Keycloak) is authorized against the
endpoints discovery returned, not the template's, and stays bound to them, as
`providers add --issuer` binds one.

The provider here is a template for the real test server (django-oauth-toolkit)
whose own URLs are deliberately wrong (/guessed/..., where the server answers
404): the flow can only succeed through the server's discovery document.
"""

from __future__ import annotations

import json

import pytest

from tests.support.cli import assert_error_line, assert_no_crash
from tests.support.overlays import overlay_text, provider

pytestmark = pytest.mark.e2e


def _provider(server, extra: str = "") -> str:
    base = server["issuer"]
    guessed = {f"{key}_endpoint": f"{base}/guessed/{{tenant}}/{path}"
               for key, path in (("authorization", "authorize"), ("token", "token"), ("userinfo", "userinfo"),
                                 ("revocation", "revoke"))}
    return overlay_text(provider(
        "localdisc", "Local Discovered", guessed, pkce="",
        fields=f'client_id = "{server["client_id"]}"\nissuer = "{base}"\ndiscovery = true\n{extra}',
        tables='[providers.localdisc.parameters.tenant]\ndescription = "the tenant"\ndefault = "acme"'))


def test_a_template_with_discovery_is_authorized_and_refreshed_at_the_discovered_endpoints(
    cli, auth_server_factory, http_browser, tmp_path, home
):
    server = auth_server_factory()
    overlay = tmp_path / "disc.toml"
    overlay.write_text(_provider(server))

    added = cli("--registry", str(overlay), "add", "Disc", "-p", "localdisc", "-c", "reader", "--insecure-storage",
                env=http_browser.env())
    browser = http_browser.result()

    assert added.code == 0, added.stderr
    assert_no_crash(added.stderr)
    assert browser["ok"], browser
    assert f"Read Local Discovered's endpoints from its metadata ({server['issuer']})." in added.stderr
    assert f"{server['authorization_endpoint']}?" in added.stderr  # the discovered one, not /guessed/
    assert "/guessed/" not in added.stderr
    entry = json.loads((home / "index.json").read_text())["authorizations"][0]
    assert entry["endpoints"]["discovered:token_url"] == server["token_endpoint"]
    assert entry["endpoints"]["discovered:authorization_url"] == server["authorization_endpoint"]
    assert entry["endpoints"]["issuer"] == server["issuer"]
    assert entry["endpoints"]["discovered:revocation_url"] == server["revocation_endpoint"]
    # Its RFC 8414 document names no userinfo endpoint: the template's guess is dropped, not kept.
    assert entry["endpoints"]["discovered:userinfo_url"] is None and entry["endpoints"]["userinfo_origin"] is None

    refreshed = cli("--registry", str(overlay), "token", "Disc", "--force-refresh")
    assert refreshed.code == 0, refreshed.stderr
    assert server.counts()["token"] == {"authorization_code": 1, "refresh_token": 1}

    # An overlay that moves the template's token URL does not retarget it: it is bound to discovery.
    moved = tmp_path / "moved.toml"
    moved.write_text(_provider(server).replace("/guessed/{tenant}/token", "/elsewhere/token"))
    again = cli("--registry", str(moved), "token", "Disc", "--force-refresh")
    assert again.code == 0, again.stderr
    assert server.counts()["token"]["refresh_token"] == 2

    # Another issuer is another server: refused before anything is sent.
    other = tmp_path / "other.toml"
    other.write_text(_provider(server).replace(f'issuer = "{server["issuer"]}"', 'issuer = "http://127.0.0.1:9"'))
    refused = cli("--registry", str(other), "token", "Disc", "--force-refresh")
    assert_error_line(refused, 3, "was authorized against the issuer", server["issuer"], "nothing was sent")
    assert server.counts()["token"]["refresh_token"] == 2

    # The revocation goes to the endpoint the metadata named (/revoke_token/), not the
    # template's guess, which the server would answer 404.
    removed = cli("--registry", str(overlay), "remove", "Disc", "--yes")
    assert removed.code == 0, removed.stderr
    assert "Revoked the grant at Local Discovered." in removed.stderr
    assert server.counts()["revoke"] == 1


def test_a_discovery_document_for_another_issuer_stops_add_before_the_browser(cli, auth_server_factory, http_browser,
                                                                              tmp_path):
    server = auth_server_factory()
    overlay = tmp_path / "disc.toml"
    # The server's metadata names its issuer without this path: not this issuer's document.
    overlay.write_text(_provider(server).replace(f'issuer = "{server["issuer"]}"', f'issuer = "{server["issuer"]}/"'))

    added = cli("--registry", str(overlay), "add", "Disc", "-p", "localdisc", "-c", "reader", "--insecure-storage",
                env=http_browser.env())

    assert_error_line(added, 11, "names issuer", "not")
    assert not http_browser.started()
    assert cli("list", "--all", "--json").json()["authorizations"] == []
