"""End to end: the installed `integray-auth` against a real authorization
server (django-oauth-toolkit on loopback), a browser that logs in and
consents for real, and tokens in a real GNOME Keyring (private D-Bus).

Each test runs the command in a subprocess, so its own `webbrowser` reads
BROWSER, and asserts exit code, stderr and what was (not) stored.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time

import pytest
import requests

from tests.support.cli import assert_error_line, assert_no_crash
from tests.support.e2e import (  # noqa: F401
    expire_in_keyring,
    free_ports_outside_the_ephemeral_range,  # noqa: F401
    keyring_get,
    overlay,
    pinned_ports,
    run_command,
    state_of,
)
from tests.support.refresh import expire_stored
from tests.support.stand_in import CountingEndpoint

pytestmark = pytest.mark.e2e

# The one-time short URL (see docs/authorizing.md, "The browser flow").
URL_RE = re.compile(r"http://127\.0\.0\.1:(\d+)/[A-Za-z0-9_-]{40,}\n")


def _assert_no_secret(secrets_: list[str], *texts: str) -> None:
    for secret in secrets_:
        for text in texts:
            assert secret not in text


def test_add_authorizes_against_the_real_server_and_keeps_tokens_in_the_real_keyring(
    cli, overlay, http_browser, keyring_env, auth_server, home
):
    result = run_command(cli, overlay, "add", "Local", "-p", "local", "-c", "reader", "-c", "writer",
                  env={**http_browser.env(), **keyring_env})
    browser = http_browser.result()
    assert result.code == 0, result.stderr
    assert "Authorized 'Local' with Local Test Server." in result.stderr
    assert "&prompt=consent" in result.stderr and "code_challenge_method=S256" in result.stderr
    assert browser["ok"] and browser["callback_status"] == 200
    assert "authorized" in browser["callback_body"].lower() and "Local" in browser["callback_body"]

    state = state_of(cli, overlay, "Local")
    assert state["status"] == "authorized" and state["storage"] == "keyring"
    assert sorted(state["granted_scopes"]) == ["openid", "read", "write"]
    assert all(line["granted"] for line in state["scopes"])
    assert state["expires_at"] and state["authorized_at"]

    # The tokens are in the Secret Service, and the index remembers which backend
    # holds them, so `token` can skip keyring's discovery.
    assert keyring_get(keyring_env, f"authorization:{state['id']}") is not None
    entry = json.loads((home / "index.json").read_text())["authorizations"][0]
    assert entry["keyring_backend"] == "keyring.backends.SecretService.Keyring"

    token = run_command(cli, overlay, "token", "Local", env=keyring_env)
    assert token.code == 0, token.stderr
    access = token.stdout.strip()
    assert access and token.stdout.count("\n") == 1
    # It is a real token: the provider accepts it.
    userinfo = requests.get(auth_server["userinfo_endpoint"], headers={"Authorization": f"Bearer {access}"}, timeout=10)
    assert userinfo.status_code == 200

    # No token anywhere but `token`'s own stdout.
    listing = run_command(cli, overlay, "list", "--json")
    shown = run_command(cli, overlay, "show", "Local")
    files = "".join(p.read_text(errors="replace") for p in home.rglob("*") if p.is_file())
    _assert_no_secret([access], result.stdout, result.stderr, listing.stdout, listing.stderr,
                      shown.stdout, shown.stderr, token.stderr, files, json.dumps(browser))


def test_real_chromium_logs_in_and_consents(cli, overlay, chromium_browser, keyring_env):
    result = run_command(cli, overlay, "add", "Chromium", "-p", "local", "-c", "reader",
                  env={**chromium_browser.env(), **keyring_env}, timeout=120)
    browser = chromium_browser.result(timeout=90)
    assert result.code == 0, result.stderr
    assert browser["ok"], browser
    assert "Authorized" in browser["callback_body"]
    assert state_of(cli, overlay, "Chromium")["status"] == "authorized"


def test_consent_denied_exits_9_and_saves_nothing(cli, overlay, http_browser, keyring_env):
    result = run_command(cli, overlay, "add", "Denied", "-p", "local", "-c", "reader",
                  env={**http_browser.env(approve=False), **keyring_env})
    browser = http_browser.result()
    assert result.code == 9
    assert "access_denied" in result.stderr
    assert "access_denied" in browser["callback_body"]
    assert run_command(cli, overlay, "list", "--all", "--json").json()["authorizations"] == []


def test_wrong_state_missing_state_and_favicon_do_not_end_the_flow(cli, overlay, http_browser, keyring_env):
    result = run_command(cli, overlay, "add", "Careful", "-p", "local", "-c", "reader",
                  env={**http_browser.env(prelude=["favicon", "wrong_state", "missing_state"]), **keyring_env})
    browser = http_browser.result()
    assert result.code == 0, result.stderr
    assert browser["prelude"] == {"favicon": 404, "wrong_state": 400, "missing_state": 400}
    assert state_of(cli, overlay, "Careful")["status"] == "authorized"


def test_timeout_exits_10_closes_the_listener_and_saves_nothing(cli, overlay, http_browser, keyring_env):
    started = time.monotonic()
    result = run_command(cli, overlay, "add", "Slow", "-p", "local", "-c", "reader", "--timeout", "3",
                  env={**http_browser.env(no_callback=True), **keyring_env})
    assert result.code == 10
    assert time.monotonic() - started < 30
    assert "within 3 seconds" in result.stderr and "nothing was saved" in result.stderr
    port = int(URL_RE.search(result.stderr).group(1))
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert run_command(cli, overlay, "list", "--all", "--json").json()["authorizations"] == []


def test_pinned_ports_all_busy_exit_11_before_the_browser_opens(cli, overlay, pinned_ports, http_browser,
                                                               keyring_env):
    blockers = []
    try:
        for port in pinned_ports:
            sock = socket.socket()
            # Like any other program holding the port; REUSEADDR only tolerates TIME_WAIT.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
            sock.listen()
            blockers.append(sock)
        result = run_command(cli, overlay, "add", "Pinned", "-p", "localpinned", "-c", "reader",
                      env={**http_browser.env(), **keyring_env})
    finally:
        for sock in blockers:
            sock.close()
    assert result.code == 11
    assert all(str(port) in result.stderr for port in pinned_ports)
    assert not http_browser.started()


def test_pinned_port_is_used_when_free(cli, overlay, pinned_ports, http_browser, keyring_env):
    result = run_command(cli, overlay, "add", "Pinned", "-p", "localpinned", "-c", "reader",
                  env={**http_browser.env(), **keyring_env})
    assert result.code == 0, result.stderr
    assert f"http://127.0.0.1:{pinned_ports[0]}/" in result.stderr


def test_invalid_client_secret_exits_9_with_the_providers_error(cli, overlay, http_browser, keyring_env):
    result = run_command(cli, overlay, "add", "Conf", "-p", "localconf", "-c", "reader",
                  env={**http_browser.env(), **keyring_env, "INTEGRAY_AUTH_LOCALCONF_CLIENT_SECRET": "wrong"})
    http_browser.result()
    assert result.code == 9
    assert "invalid_client" in result.stderr and "wrong" not in result.stderr
    assert run_command(cli, overlay, "list", "--all", "--json").json()["authorizations"] == []


def test_confidential_client_with_basic_auth_from_stdin(cli, overlay, http_browser, keyring_env, auth_server):
    result = run_command(cli, overlay, "add", "Conf", "-p", "localconf", "-c", "reader", "--client-secret-stdin",
                  env={**http_browser.env(), **keyring_env}, input=auth_server["confidential_client_secret"] + "\n")
    assert result.code == 0, result.stderr
    assert auth_server["confidential_client_secret"] not in result.stderr


def test_token_endpoint_that_does_not_answer_json_exits_11(cli, overlay, http_browser, keyring_env, auth_server, tmp_path, home):
    # The user overlay defines the provider; --registry then overrides one field.
    home.mkdir(parents=True, exist_ok=True)
    (home / "providers.toml").write_text(overlay.read_text())
    broken = tmp_path / "broken.toml"
    # The login page answers a bare POST with an HTML 403, as a wrong token URL would.
    broken.write_text(f'[providers.local]\ntoken_url = "{auth_server["issuer"]}/accounts/login/"\n')
    result = cli("--registry", str(broken), "add", "Broken", "-p", "local", "-c", "reader",
                 env={**http_browser.env(), **keyring_env})
    assert result.code == 11, result.stderr
    assert "HTTP 403" in result.stderr and "text/html" in result.stderr
    assert_no_crash(result.stderr)
    page = http_browser.result()["callback_body"]
    assert "Authorization failed" in page and "could not get the tokens" in page and "HTTP 403" in page


def test_unusable_keyring_stops_before_the_browser_opens(cli, overlay, http_browser):
    # The autouse fixture pins keyring's fail backend: no keyring at all.
    result = run_command(cli, overlay, "add", "NoKeyring", "-p", "local", "-c", "reader", env=http_browser.env())
    assert result.code == 8
    assert "keyring" in result.stderr and "--insecure-storage" in result.stderr
    assert "http://127.0.0.1" not in result.stderr  # no URL was ever shown
    assert not http_browser.started()
    assert run_command(cli, overlay, "list", "--all", "--json").json()["authorizations"] == []


def test_insecure_storage_is_explicit_and_visible(cli, overlay, http_browser, home):
    result = run_command(cli, overlay, "add", "Plain", "-p", "local", "-c", "reader", "--insecure-storage",
                  env=http_browser.env())
    assert result.code == 0, result.stderr
    assert "insecure" in result.stderr.lower()
    token_file = home / "tokens-insecure.json"
    assert token_file.stat().st_mode & 0o777 == 0o600
    listing = run_command(cli, overlay, "list")
    assert "insecure storage" in listing.stdout
    assert "insecure" in run_command(cli, overlay, "show", "Plain").stdout
    access = run_command(cli, overlay, "token", "Plain").stdout.strip()
    assert access and access not in (home / "index.json").read_text()


def test_refresh_rotates_and_a_revoked_grant_turns_not_authorized(cli, overlay, http_browser, home, auth_server):
    assert run_command(cli, overlay, "add", "Fresh", "-p", "local", "-c", "reader", "--insecure-storage",
                env=http_browser.env()).code == 0
    token_file = home / "tokens-insecure.json"

    old = expire_stored(home)
    refreshed = run_command(cli, overlay, "token", "Fresh")
    assert refreshed.code == 0, refreshed.stderr
    new = json.loads(next(iter(json.loads(token_file.read_text())["entries"].values())))
    assert refreshed.stdout.strip() == new["access_token"] != old["access_token"]
    assert new["refresh_token"] != old["refresh_token"]  # rotated, and the new one was kept

    requests.post(auth_server["revocation_endpoint"], data={
        "token": new["refresh_token"], "token_type_hint": "refresh_token", "client_id": auth_server["client_id"]}, timeout=10)
    expire_stored(home)
    refused = run_command(cli, overlay, "token", "Fresh")
    assert refused.code == 12
    assert "invalid_grant" in refused.stderr and "authorize" in refused.stderr
    assert state_of(cli, overlay, "Fresh")["status"] == "not_authorized"


def test_the_index_records_the_grant_and_an_entry_from_before_still_refreshes(cli, overlay, http_browser, home):
    assert run_command(cli, overlay, "add", "Graft", "-p", "local", "-c", "reader", "--insecure-storage",
                env=http_browser.env()).code == 0
    index = home / "index.json"
    data = json.loads(index.read_text())
    assert data["authorizations"][0]["grant"] == "authorization_code"

    # An entry written before the index kept the grant: its provider's default renews it.
    del data["authorizations"][0]["grant"]
    index.write_text(json.dumps(data))
    token_file = home / "tokens-insecure.json"
    tokens = json.loads(token_file.read_text())
    (key, raw), = tokens["entries"].items()
    old = json.loads(raw)
    tokens["entries"][key] = json.dumps({**old, "expires_at": "2000-01-01T00:00:00Z"})
    token_file.write_text(json.dumps(tokens))

    refreshed = run_command(cli, overlay, "token", "Graft")

    assert refreshed.code == 0, refreshed.stderr
    assert refreshed.stdout.strip() and refreshed.stdout.strip() != old["access_token"]


def test_authorize_an_existing_not_authorized_entry(cli, overlay, http_browser, keyring_env):
    assert run_command(cli, overlay, "add", "Later", "-p", "local", "-c", "reader", "--no-authorize").code == 0
    assert run_command(cli, overlay, "token", "Later").code == 12
    result = run_command(cli, overlay, "authorize", "later", env={**http_browser.env(), **keyring_env})
    assert result.code == 0, result.stderr
    assert state_of(cli, overlay, "Later")["status"] == "authorized"


def test_granted_scopes_narrower_than_requested_are_reported(cli, overlay, http_browser, keyring_env):
    result = run_command(cli, overlay, "add", "Narrow", "-p", "local", "-c", "reader", "-c", "writer",
                  env={**http_browser.env(grant_scopes="openid read"), **keyring_env})
    assert result.code == 0, result.stderr
    assert "did not grant write" in result.stderr
    state = state_of(cli, overlay, "Narrow")
    assert sorted(state["granted_scopes"]) == ["openid", "read"]
    assert {line["scope"]: line["granted"] for line in state["scopes"]} == {"openid": True, "read": True, "write": False}
    assert "NOT granted" in run_command(cli, overlay, "show", "Narrow").stdout


def test_pasted_redirect_url_completes_the_flow(overlay, http_browser, keyring_env, home):
    """Over SSH the browser runs elsewhere: the user pastes the redirect URL."""
    import pty

    from tests.support.cli import SCRIPT

    env = {k: v for k, v in {**os.environ, **http_browser.env(no_callback=True), **keyring_env}.items() if v is not None}
    master, slave = pty.openpty()
    proc = subprocess.Popen([str(SCRIPT), "--registry", str(overlay), "add", "Pasted", "-p", "local", "-c", "reader"],
                            stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    os.close(slave)
    try:
        browser = http_browser.result()
        callback = browser["callback_url"]
        os.write(master, b"http://127.0.0.1:1/not-the-callback\n")
        os.write(master, callback.encode() + b"\n")
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
        os.close(master)
    assert proc.returncode == 0, stderr
    assert "paste the URL" in stderr
    assert "was not accepted" in stderr  # the wrong one was refused, the flow went on
    assert "Authorized 'Pasted'" in stderr


def test_browser_that_cannot_open_is_reported_and_the_flow_keeps_waiting(cli, overlay, keyring_env):
    result = run_command(cli, overlay, "add", "NoBrowser", "-p", "local", "-c", "reader", "--timeout", "2",
                  env={**keyring_env, "BROWSER": "/bin/false"})
    assert result.code == 10
    assert "Could not open a browser" in result.stderr and "Still waiting" in result.stderr
    assert URL_RE.search(result.stderr)


def test_no_browser_only_prints_the_url(cli, overlay, http_browser, keyring_env):
    result = run_command(cli, overlay, "add", "Manual", "-p", "local", "-c", "reader", "--no-browser", "--timeout", "2",
                  env={**http_browser.env(), **keyring_env})
    assert result.code == 10
    assert "Open this URL in a browser" in result.stderr and "code_challenge_method=S256" in result.stderr
    assert not http_browser.started()


def test_ctrl_c_exits_130_closes_the_listener_and_saves_nothing(overlay, keyring_env, home):
    import signal

    from tests.support.cli import SCRIPT

    env = {k: v for k, v in {**os.environ, **keyring_env}.items() if v is not None}
    proc = subprocess.Popen([str(SCRIPT), "--registry", str(overlay), "add", "Interrupted", "-p", "local", "-c", "reader",
                             "--no-browser"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, text=True)
    seen = ""
    deadline = time.monotonic() + 30
    while not URL_RE.search(seen) and time.monotonic() < deadline:
        seen += proc.stderr.readline()
    port = int(URL_RE.search(seen).group(1))
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "interrupted" in rest
    assert_no_crash(rest)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert not (home / "index.json").exists() or "Interrupted" not in (home / "index.json").read_text()


def test_remove_revokes_the_grant_at_the_provider_then_forgets_it(cli, overlay, http_browser, home, auth_server):
    assert run_command(cli, overlay, "add", "Gone", "-p", "local", "-c", "reader", "--insecure-storage",
                env=http_browser.env()).code == 0
    stored = json.loads(next(iter(json.loads((home / "tokens-insecure.json").read_text())["entries"].values())))
    result = run_command(cli, overlay, "remove", "Gone", "--yes")
    assert result.code == 0, result.stderr
    assert "Revoked the grant at Local Test Server." in result.stderr and "Removed 'Gone'." in result.stderr
    refused = requests.post(auth_server["token_endpoint"], data={
        "grant_type": "refresh_token", "refresh_token": stored["refresh_token"], "client_id": auth_server["client_id"]},
        timeout=10)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert json.loads((home / "tokens-insecure.json").read_text())["entries"] == {}
    assert run_command(cli, overlay, "list", "--all", "--json").json()["authorizations"] == []


def test_remove_without_a_reachable_provider_still_forgets_and_says_so(cli, overlay, http_browser, home, tmp_path):
    # Authorized with that revocation endpoint already: one it is not bound to is refused
    # before anything is sent (test_an_overlay_retargeting_...).
    unreachable = tmp_path / "unreachable.toml"
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    text = overlay.read_text()
    start = text.index('revocation_url = "') + len('revocation_url = "')
    end = text.index('"', start)
    unreachable.write_text(text.replace(text[start:end], f"http://127.0.0.1:{port}/revoke/"))
    assert run_command(cli, unreachable, "add", "Offline", "-p", "local", "-c", "reader", "--insecure-storage",
                env=http_browser.env()).code == 0
    result = cli("--registry", str(unreachable), "remove", "Offline", "--yes")
    assert result.code == 0, result.stderr
    assert "could not revoke" in result.stderr and "Removed 'Offline'." in result.stderr


def test_client_secret_kept_in_the_real_keyring_by_client_set(cli, overlay, http_browser, keyring_env, auth_server):
    secret = auth_server["confidential_client_secret"]
    stored = run_command(cli, overlay, "client", "set", "localconf", "--secret-stdin", env=keyring_env, input=secret + "\n")
    assert stored.code == 0, stored.stderr
    assert secret not in stored.stderr + stored.stdout
    assert keyring_get(keyring_env, "client-secret:localconf") == secret
    result = run_command(cli, overlay, "add", "FromKeyring", "-p", "localconf", "-c", "reader",
                  env={**http_browser.env(), **keyring_env})
    assert result.code == 0, result.stderr
    assert run_command(cli, overlay, "client", "remove", "localconf", env=keyring_env).code == 0
    assert keyring_get(keyring_env, "client-secret:localconf") is None
    missing = run_command(cli, overlay, "add", "NoSecret", "-p", "localconf", "-c", "reader", env=keyring_env)
    assert missing.code == 2
    assert "client set localconf" in missing.stderr


def test_large_tokens_are_chunked_in_the_real_secret_service(keyring_env):
    """Windows' 1,280-character limit shapes the layout; prove it on a real keyring."""
    code = """
import json
from integray_auth.stores.secrets import ChunkedTokens, KeyringStore
from integray_auth.tokens import TokenSet
store = KeyringStore()
tokens = TokenSet(access_token="a" * 4000, refresh_token="r" * 700, id_token="i" * 900, scope=["read"])
chunked = ChunkedTokens(store)
chunked.save("chunk-test", tokens)
print(json.dumps({"same": chunked.load("chunk-test") == tokens,
                  "primary": store.get("authorization:chunk-test")[:12]}))
chunked.delete("chunk-test")
print(json.dumps({"gone": chunked.load("chunk-test") is None}))
"""
    env = {k: v for k, v in {**os.environ, **keyring_env}.items() if v is not None}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    first, second = (json.loads(line) for line in out.stdout.splitlines())
    assert first == {"same": True, "primary": '{"manifest":'}
    assert second == {"gone": True}


def test_authorizing_again_after_the_keyring_backend_changed_keeps_the_new_tokens(
    cli, overlay, http_browser, keyring_env, home
):
    """The index names the backend that stored the tokens. If that name no longer
    matches (another PYTHON_KEYRING_BACKEND, a keyring upgrade, a chainer that became
    one backend), authorizing again must not delete the tokens it has just saved:
    in one process keyring resolves the old name to the very same backend."""
    assert run_command(cli, overlay, "add", "Moved", "-p", "local", "-c", "reader",
                env={**http_browser.env(), **keyring_env}).code == 0
    http_browser.result()
    index = home / "index.json"
    data = json.loads(index.read_text())
    data["authorizations"][0]["keyring_backend"] = "keyring.backends.kwallet.DBusKeyring"
    index.write_text(json.dumps(data))

    again = run_command(cli, overlay, "authorize", "Moved", env={**http_browser.env(), **keyring_env})
    http_browser.result()
    assert again.code == 0, again.stderr

    state = state_of(cli, overlay, "Moved")
    assert state["status"] == "authorized"
    assert keyring_get(keyring_env, f"authorization:{state['id']}") is not None
    token = run_command(cli, overlay, "token", "Moved", env=keyring_env)
    assert token.code == 0, token.stderr
    assert token.stdout.strip()


def test_a_locked_secret_service_stops_before_the_browser_opens(cli, overlay, http_browser, locked_secret_service):
    env = dict(locked_secret_service.env)
    for name in locked_secret_service.unset:
        env[name] = None
    result = run_command(cli, overlay, "add", "Locked", "-p", "local", "-c", "reader", env={**http_browser.env(), **env})
    assert result.code == 8, result.stderr
    assert "keyring" in result.stderr and "--insecure-storage" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert_no_crash(result.stderr)
    assert not http_browser.started()
    assert run_command(cli, overlay, "list", "--all", "--json").json()["authorizations"] == []


def test_an_overlay_retargeting_the_token_endpoint_gets_nothing_until_authorize_binds_it_anew(
    cli, overlay, http_browser, keyring_env, auth_server, home, tmp_path
):
    # The provider comes from the user's providers.toml; later overlays (--registry) change it.
    home.mkdir(parents=True, exist_ok=True)
    (home / "providers.toml").write_text(overlay.read_text())
    assert cli("add", "Bound", "-p", "local", "-c", "reader", env={**http_browser.env(), **keyring_env}).code == 0
    http_browser.result()
    server_origin = f"http://127.0.0.1:{auth_server['port']}"
    [entry] = json.loads((home / "index.json").read_text())["authorizations"]
    assert entry["endpoints"]["token_origin"] == server_origin
    assert entry["endpoints"]["revocation_origin"] == server_origin
    expire_in_keyring(keyring_env, entry["id"])

    attacker = CountingEndpoint("attacker-access")  # the host a hostile overlay names
    try:
        hostile = tmp_path / "hostile.toml"
        hostile.write_text(
            f'[providers.local]\ntoken_url = "{attacker.url}/token"\nrevocation_url = "{attacker.url}/revoke"\n'
        )
        refused = cli("--registry", str(hostile), "token", "Bound", env=keyring_env)
        line = assert_error_line(refused, 3, server_origin, attacker.url, str(hostile), "nothing was sent",
                                 "integray-auth authorize Bound")
        assert "unexpected error" not in line
        removal = cli("--registry", str(hostile), "remove", "Bound", "--yes", env=keyring_env)
        assert_error_line(removal, 3, server_origin, attacker.url, "--no-revoke")
        assert attacker.connections == 0  # no request, not even a connection
    finally:
        attacker.close()
    assert state_of(cli, home / "providers.toml", "Bound")["status"] == "authorized"  # nothing was removed

    # The same server under another origin (localhost instead of 127.0.0.1): still refused
    # until the user, having checked the overlay, authorizes again; then it is the binding.
    moved = tmp_path / "moved.toml"
    localhost_origin = f"http://localhost:{auth_server['port']}"
    moved.write_text(f'[providers.local]\ntoken_url = "{auth_server["token_endpoint"].replace("127.0.0.1", "localhost")}"\n')
    assert_error_line(cli("--registry", str(moved), "token", "Bound", env=keyring_env), 3, localhost_origin)
    again = cli("--registry", str(moved), "authorize", "Bound", env={**http_browser.env(), **keyring_env})
    http_browser.result()
    assert again.code == 0, again.stderr
    [entry] = json.loads((home / "index.json").read_text())["authorizations"]
    assert entry["endpoints"]["token_origin"] == localhost_origin
    expire_in_keyring(keyring_env, entry["id"])
    refreshed = cli("--registry", str(moved), "token", "Bound", env=keyring_env)
    assert refreshed.code == 0, refreshed.stderr
    access = refreshed.stdout.strip()
    assert requests.get(auth_server["userinfo_endpoint"], headers={"Authorization": f"Bearer {access}"}, timeout=10).ok
    # And now the old origin is the one refused.
    expire_in_keyring(keyring_env, entry["id"])
    assert_error_line(cli("token", "Bound", env=keyring_env), 3, server_origin, localhost_origin)
