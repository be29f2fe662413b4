"""End to end, through the installed command, the real authorization server
(django-oauth-toolkit) and a real GNOME Keyring: connectors that change
(add -> missing scopes -> step-up consent; remove -> a narrowed grant),
rename, the keep-alive `refresh`, and the per-authorization token locks.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
import requests

from integray_auth.stores.files import take_lock
from integray_auth.stores.locks import lock_path
from tests.support.cli import SCRIPT, assert_error_line, assert_no_crash
from tests.support.e2e import Cli, expire_in_keyring, introspect, overlay_for, refresh_count, stored_tokens  # noqa: F401
from tests.support.overlays import READ, provider

pytestmark = pytest.mark.e2e


@pytest.fixture
def overlay(auth_server, tmp_path) -> Path:
    return overlay_for(auth_server, tmp_path / "providers.toml")


@pytest.fixture
def ia(cli, overlay, keyring_env) -> Cli:
    return Cli(cli, overlay, keyring_env)


# --- connectors add -> missing scopes -> step-up consent ----------------------------------


def test_connectors_add_leaves_the_grant_lacking_and_authorize_asks_for_the_union(ia, http_browser, auth_server):
    before = ia.add("Steps", "local", "reader", browser=http_browser)
    assert sorted(before["granted_scopes"]) == ["openid", "read"]

    added = ia("connectors", "add", "Steps", "Writer")  # by display name

    assert added.code == 0, added.stderr
    assert_no_crash(added.stderr)
    assert "Added Writer to 'Steps'." in added.stderr
    assert "The grant lacks write" in added.stderr and "integray-auth authorize Steps" in added.stderr
    state = ia.state("Steps")
    assert state["requested_scopes"] == ["openid", "read", "write"]
    assert sorted(state["granted_scopes"]) == ["openid", "read"]  # no grant changed
    assert {c["id"]: (c["covered"], c["missing_scopes"]) for c in state["connectors"]} == {
        "reader": (True, []), "writer": (False, ["write"])}
    shown = ia("show", "Steps").stdout
    assert "Writer (writer)  [NOT covered: the grant lacks write]" in shown
    assert "Reader (reader)  [covered]" in shown
    assert "Missing scopes: write. Run: integray-auth authorize Steps" in shown

    again = ia("authorize", "Steps", env=http_browser.env())
    http_browser.result()

    assert again.code == 0, again.stderr
    # Asked for the union, incrementally (the registry's incremental_consent_params).
    assert "scope=openid+read+write" in again.stderr and "include_granted_scopes=true" in again.stderr
    state = ia.state("Steps")
    assert sorted(state["granted_scopes"]) == ["openid", "read", "write"]
    assert all(c["covered"] for c in state["connectors"])
    # Granted at the server: the token it now hands out carries write.
    token = ia("token", "Steps")
    assert token.code == 0, token.stderr
    assert "write" in introspect(auth_server, token.stdout.strip())["scope"].split()


def test_the_first_consent_and_one_after_a_removal_are_not_incremental(ia, http_browser):
    first = ia("add", "Once", "-p", "local", "-c", "reader", "-c", "writer", env=http_browser.env())
    http_browser.result()
    assert first.code == 0, first.stderr
    assert "include_granted_scopes" not in first.stderr
    # Narrowing needs a refresh; without one (plain provider) the grant keeps write:
    # a new consent must then ask for less, not keep what was granted.
    plain = ia("add", "Wide", "-p", "plain", "-c", "reader", "-c", "writer", env=http_browser.env())
    http_browser.result()
    assert plain.code == 0, plain.stderr
    assert ia("connectors", "remove", "Wide", "writer").code == 0
    again = ia("authorize", "Wide", env=http_browser.env())
    http_browser.result()
    assert again.code == 0, again.stderr
    assert "include_granted_scopes" not in again.stderr and "scope=openid+read&" in again.stderr


def test_a_cancelled_step_up_leaves_the_authorization_as_it_was(ia, http_browser, auth_server):
    ia.add("Cancel", "local", "reader", browser=http_browser)
    old_token = ia("token", "Cancel").stdout.strip()
    assert ia("connectors", "add", "Cancel", "writer").code == 0
    before = ia.state("Cancel")

    denied = ia("authorize", "Cancel", env=http_browser.env(approve=False))
    http_browser.result()

    assert denied.code == 9, denied.stderr
    assert_no_crash(denied.stderr)
    assert denied.stderr.splitlines()[-1].startswith("integray-auth: Local Test Server refused: access_denied")
    assert ia.state("Cancel") == before  # connectors, scopes, status, expiry, timestamps
    token = ia("token", "Cancel")
    assert token.code == 0, token.stderr
    assert token.stdout.strip() == old_token
    assert requests.get(auth_server["userinfo_endpoint"], headers={"Authorization": f"Bearer {old_token}"}, timeout=10).ok


def test_connectors_add_refuses_what_it_cannot_do(ia):
    assert ia("add", "Offline", "-p", "local", "-c", "reader", "--no-authorize").code == 0
    assert_error_line(ia("connectors", "add", "Offline", "reader"), 6, "already has connector 'Reader'")
    assert_error_line(ia("connectors", "add", "Offline", "writr"), 5, "no connector 'writr'", "did you mean 'Writer'")
    assert_error_line(ia("connectors", "add", "Nobody", "writer"), 5, "no authorization named 'Nobody'")
    before = ia.state("Offline")
    # One unknown connector among good ones: nothing is saved.
    assert ia("connectors", "add", "Offline", "writer", "nope").code == 5
    assert ia.state("Offline") == before
    added = ia("connectors", "add", "Offline", "writer", "profiler")
    assert added.code == 0, added.stderr
    assert "Authorize it with: integray-auth authorize Offline" in added.stderr
    state = ia.state("Offline")
    assert state["requested_scopes"] == ["openid", "read", "write", "profile"]
    assert [c["covered"] for c in state["connectors"]] == [None, None, None]


# --- connectors remove narrows ------------------------------------------------------------


def test_connectors_remove_narrows_the_grant_where_the_provider_can(ia, http_browser, auth_server, keyring_env):
    state = ia.add("Narrow", "local", "reader", "writer", browser=http_browser)
    assert sorted(state["granted_scopes"]) == ["openid", "read", "write"]
    refreshes = refresh_count(auth_server)

    removed = ia("connectors", "remove", "Narrow", "writer")

    assert removed.code == 0, removed.stderr
    assert "Removed Writer from 'Narrow'." in removed.stderr
    assert "Narrowed the grant at Local Test Server" in removed.stderr
    assert refresh_count(auth_server) == refreshes + 1
    state = ia.state("Narrow")
    assert state["connectors"] == [{"id": "reader", "name": "Reader", "scopes": ["openid", "read"], "covered": True,
                                    "missing_scopes": []}]
    assert state["requested_scopes"] == ["openid", "read"]
    assert sorted(state["granted_scopes"]) == ["openid", "read"]
    assert state["extra_granted_scopes"] == []
    # The server agrees: the new access token lacks write, and the (rotated) refresh
    # token can no longer get it back.
    tokens = stored_tokens(keyring_env, state["id"])
    assert "write" not in introspect(auth_server, tokens["access_token"])["scope"].split()
    widen = requests.post(auth_server["token_endpoint"], data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": auth_server["client_id"],
        "scope": "openid read write"}, timeout=10)
    assert widen.status_code == 400 and widen.json()["error"] == "invalid_scope"
    assert ia("token", "Narrow").code == 0


def test_connectors_remove_says_when_the_grant_keeps_the_scopes(ia, http_browser, auth_server):
    ia.add("Keeps", "plain", "reader", "writer", browser=http_browser)
    refreshes = refresh_count(auth_server)

    removed = ia("connectors", "remove", "Keeps", "writer")

    assert removed.code == 0, removed.stderr
    assert "Plain Server cannot narrow an existing grant; it still covers write until it is authorized again" in removed.stderr
    assert "integray-auth authorize Keeps" in removed.stderr
    assert refresh_count(auth_server) == refreshes  # nothing was asked of the server
    state = ia.state("Keeps")
    assert state["requested_scopes"] == ["openid", "read"]
    assert state["extra_granted_scopes"] == ["write"]  # honest: still granted
    assert "also granted, not requested: write" in ia("show", "Keeps").stdout


def test_connectors_remove_refuses_the_last_connector_and_unknown_ones(ia):
    assert ia("add", "Two", "-p", "plain", "-c", "reader", "-c", "writer", "--no-authorize").code == 0
    before = ia.state("Two")
    assert_error_line(ia("connectors", "remove", "Two", "reader", "writer"), 2, "no connector left",
                      "integray-auth remove Two")
    assert_error_line(ia("connectors", "remove", "Two", "profiler"), 5, "'Two' has no connector 'profiler'")
    assert ia.state("Two") == before
    removed = ia("connectors", "remove", "Two", "Reader")
    assert removed.code == 0, removed.stderr
    assert ia.state("Two")["connectors"][0]["id"] == "writer"
    assert ia.state("Two")["requested_scopes"] == ["write"]


# --- rename -------------------------------------------------------------------------------


def test_rename_keeps_tokens_and_connectors_and_checks_the_name_like_add(ia, http_browser):
    state = ia.add("Old Name", "local", "reader", browser=http_browser)
    token = ia("token", "Old Name").stdout.strip()
    assert ia("add", "Other", "-p", "local", "-c", "reader", "--no-authorize").code == 0

    renamed = ia("rename", "Old Name", "New Name")

    assert renamed.code == 0, renamed.stderr
    assert "Renamed 'Old Name' to 'New Name'." in renamed.stderr
    after = ia.state("New Name")
    assert after["id"] == state["id"] and after["connectors"] == state["connectors"]
    assert ia("token", "New Name").stdout.strip() == token
    assert_error_line(ia("token", "Old Name"), 5, "no authorization named 'Old Name'")
    assert_error_line(ia("rename", "New Name", "other"), 6, "already exists")
    assert_error_line(ia("rename", "New Name", "bad\u202ename"), 2, "zero-width or bidi")
    assert_error_line(ia("rename", "New Name", "  "), 2, "the name is empty")
    assert_error_line(ia("rename", "New Name", "0123456789ab"), 2, "looks like an authorization id")
    assert_error_line(ia("rename", "New Name", "New Name"), 6, "already named")
    assert ia("rename", "new name", "new NAME").code == 0  # a change of case only
    assert ia.state(state["id"])["name"] == "new NAME"


# --- refresh: the keep-alive --------------------------------------------------------------


def _browser_that_records(tmp_path: Path) -> tuple[dict, Path]:
    marker = tmp_path / "browser-was-started"
    shim = tmp_path / "recording-browser"
    shim.write_text(f"#!/bin/sh\ntouch '{marker}'\n")
    shim.chmod(0o755)
    return {"BROWSER": str(shim)}, marker


def test_refresh_all_refreshes_exactly_the_expiring_ones(ia, http_browser, auth_server, keyring_env, tmp_path):
    ids = {name: ia.add(name, "local", "reader", browser=http_browser)["id"] for name in ("Alpha", "Beta", "Gamma")}
    expire_in_keyring(keyring_env, ids["Alpha"])
    expire_in_keyring(keyring_env, ids["Beta"])
    refreshes = refresh_count(auth_server)
    # Where a browser would open, none may: cron has nobody to answer.
    env, opened = _browser_that_records(tmp_path)

    done = ia("refresh", "--all", env=env)

    assert done.code == 0, done.stderr
    assert done.stderr == ""
    assert refresh_count(auth_server) == refreshes + 2
    rows = [line.split("\t") for line in done.stdout.splitlines()]
    assert [(name, result) for name, result, _ in rows] == [
        ("Alpha", "Refreshed"), ("Beta", "Refreshed"), ("Gamma", "Still valid")]
    assert all(expires for _, _, expires in rows)
    assert ia("token", "Alpha").code == 0 and refresh_count(auth_server) == refreshes + 2  # fresh now

    # A window longer than the server's token lifetime (an hour) takes them all.
    wide = ia("refresh", "--all", "--expiring-within", "2h", "--json", env=env)
    assert wide.code == 0, wide.stderr
    assert refresh_count(auth_server) == refreshes + 5
    document = wide.json()
    assert document["schema_version"] == 1 and document["window_seconds"] == 7200
    assert [(r["name"], r["result"]) for r in document["results"]] == [
        ("Alpha", "refreshed"), ("Beta", "refreshed"), ("Gamma", "refreshed")]
    assert not opened.exists()


def test_refresh_all_exits_12_naming_the_one_that_needs_the_user(ia, http_browser, auth_server, keyring_env, tmp_path):
    ids = {name: ia.add(name, "local", "reader", browser=http_browser)["id"] for name in ("Kept", "Revoked")}
    assert ia("add", "Inactive", "-p", "local", "-c", "reader", "--no-authorize").code == 0
    assert ia("deactivate", "Inactive").code == 0
    revoked = stored_tokens(keyring_env, ids["Revoked"])
    requests.post(auth_server["revocation_endpoint"], data={
        "token": revoked["refresh_token"], "token_type_hint": "refresh_token", "client_id": auth_server["client_id"]},
        timeout=10)
    for authorization_id in ids.values():
        expire_in_keyring(keyring_env, authorization_id)

    env, opened = _browser_that_records(tmp_path)
    done = ia("refresh", "--all", "--json", env=env)

    assert done.code == 12, done.stderr
    results = {r["name"]: r for r in done.json()["results"]}
    assert set(results) == {"Kept", "Revoked"}  # the inactive one is left alone
    assert results["Kept"]["result"] == "refreshed"
    assert results["Revoked"]["result"] == "needs_user" and results["Revoked"]["exit_code"] == 12
    assert "invalid_grant" in results["Revoked"]["message"]
    assert results["Revoked"]["hint"] == "Run: integray-auth authorize Revoked"
    [line] = done.stderr.splitlines()
    assert line.startswith("integray-auth: ") and "Revoked" in line and "integray-auth authorize Revoked" in line
    assert_no_crash(done.stderr)
    assert ia.state("Revoked")["status"] == "not_authorized"
    assert not opened.exists()

    # One by name: refreshed now, whatever its expiry; an inactive one refused.
    one = ia("refresh", "Kept")
    assert one.code == 0, one.stderr
    assert one.stdout.split("\t")[:2] == ["Kept", "Refreshed"]
    assert_error_line(ia("refresh", "Inactive"), 13, "is deactivated", "integray-auth activate Inactive")
    assert ia("refresh", "Kept", "--expiring-within", "1m").stdout.split("\t")[1] == "Still valid"


def test_refresh_arguments_are_checked(ia):
    assert_error_line(ia("refresh"), 2, "give either NAME or --all")
    assert_error_line(ia("refresh", "x", "--all"), 2, "give either NAME or --all")
    for bad in ("soon", "-5m", "15 minutes", "400d"):
        assert_error_line(ia("refresh", "--all", "--expiring-within", bad), 2, "--expiring-within", "not a duration")
    empty = ia("refresh", "--all", "--json")
    assert empty.code == 0 and empty.json()["results"] == []


# --- one lock per authorization -----------------------------------------------------------


def _has_open(pid: int, path: Path) -> bool:
    try:
        return any(os.readlink(fd) == str(path) for fd in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False


def _popen(overlay: Path, env: dict, *args: str) -> subprocess.Popen:
    full = {k: v for k, v in {**os.environ, **env}.items() if v is not None}
    return subprocess.Popen([str(SCRIPT), "--registry", str(overlay), *args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to see who waits on the lock")
def test_ten_concurrent_tokens_on_an_expired_token_make_one_refresh(
    cli, auth_server_factory, http_browser, keyring_env, tmp_path, home
):
    server = auth_server_factory(access_token_expire_seconds=5)
    ia = Cli(cli, overlay_for(server, tmp_path / "short.toml"), keyring_env)
    state = ia.add("Race", "local", "reader", browser=http_browser)
    old = stored_tokens(keyring_env, state["id"])["access_token"]
    time.sleep(6)  # expired at the server too, not only within the margin
    lock = lock_path(home, state["id"])

    # The test holds the lock while the ten start, so all ten have read the expired
    # token and wait for the lock when it is released: "at once", deterministically.
    with take_lock(lock):
        processes = [_popen(ia.overlay, keyring_env, "token", "Race") for _ in range(10)]
        try:
            deadline = time.monotonic() + 60
            while not all(_has_open(p.pid, lock) for p in processes):
                assert time.monotonic() < deadline, [p.poll() for p in processes]
                assert all(p.poll() is None for p in processes), [p.communicate() for p in processes if p.poll() is not None]
                time.sleep(0.05)
        except BaseException:
            for p in processes:
                p.kill()
            raise
    outputs = [p.communicate(timeout=90) for p in processes]

    for process, (out, err) in zip(processes, outputs):
        assert process.returncode == 0, err
        assert_no_crash(err)
    printed = {out for out, _ in outputs}
    assert len(printed) == 1 and printed != {old + "\n"}
    assert server.counts()["token"]["refresh_token"] == 1
    assert lock.stat().st_mode & 0o777 == 0o600
    assert lock.parent.stat().st_mode & 0o777 == 0o700


def test_one_authorizations_lock_does_not_hold_up_another(ia, http_browser, auth_server, keyring_env, home):
    ids = {name: ia.add(name, "local", "reader", browser=http_browser)["id"] for name in ("Held", "Free")}
    for authorization_id in ids.values():
        expire_in_keyring(keyring_env, authorization_id)
    refreshes = refresh_count(auth_server)

    with take_lock(lock_path(home, ids["Held"])):  # Held's refresh in flight
        waiting = _popen(ia.overlay, keyring_env, "token", "Held")
        try:
            started = time.monotonic()
            free = ia("token", "Free")
            assert free.code == 0, free.stderr
            assert time.monotonic() - started < 20
            assert refresh_count(auth_server) == refreshes + 1
            time.sleep(0.5)
            assert waiting.poll() is None  # Held's `token` still waits for Held's lock
        except BaseException:
            waiting.kill()
            raise
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err
    assert out.strip() and out.strip() != free.stdout.strip()
    assert refresh_count(auth_server) == refreshes + 2


def test_a_symlink_planted_as_the_lock_is_refused_and_not_followed(ia, http_browser, keyring_env, home, tmp_path):
    state = ia.add("Planted", "local", "reader", browser=http_browser)
    expire_in_keyring(keyring_env, state["id"])
    lock = lock_path(home, state["id"])
    lock.unlink()  # authorize took it: it exists
    target = tmp_path / "elsewhere.lock"
    lock.symlink_to(target)

    refused = ia("token", "Planted")

    assert_error_line(refused, 8, str(lock), "symbolic link")
    assert not target.exists()


# --- the registry fields ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "problem"),
    [("incremental_consent_params = { include_granted_scopes = true }", "must be a string"),
     ('incremental_consent_params = { state = "x" }', "is set by integray-auth itself"),
     ('refresh_narrows_scope = "yes"', "refresh_narrows_scope")],
)
def test_the_registry_fields_are_checked(cli, tmp_path, field, problem):
    path = tmp_path / "bad.toml"
    path.write_text(provider("bad", "Bad", pkce="", scopes=READ, connectors=(("r", "R", "Reads.", ("read",)),),
                             fields='authorization_url = "https://bad.example/authorize"\n'
                                    f'token_url = "https://bad.example/token"\n{field}'))
    result = cli("--registry", str(path), "providers", "show", "bad")
    assert_error_line(result, 3, "bad.toml", "provider 'bad'", problem)


def test_google_asks_incrementally_and_providers_show_says_so(cli, overlay):
    google = cli("providers", "show", "google", "--json").json()["provider"]
    assert google["incremental_consent_params"] == {"include_granted_scopes": "true"}
    assert google["refresh_narrows_scope"] is False
    shown = cli("--registry", str(overlay), "providers", "show", "local").stdout
    assert "Step-up consent:   include_granted_scopes=true" in shown and "Narrowing:" in shown
