"""Shared authorizations through a real OpenBao (Vault-compatible) server.

"Machines" are separate INTEGRAY_AUTH_HOME and HOME folders using the same
Vault; the authorization server is the real django-oauth-toolkit one, which
counts the refresh requests it gets.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import requests

from tests.support.cli import assert_error_line, assert_no_crash
from tests.support.saved import file_stored, saved  # noqa: F401 - fixtures
from tests.support.stand_in import StandIn, running
from tests.support.team import PREFIX, Machine, fake_server, overlay_for, seed_file_authorization, team  # noqa: F401

pytestmark = pytest.mark.e2e


def shared_ids(vault) -> list[str]:
    return [key.rstrip("/") for key in vault.kv_list(PREFIX)]


def tokens_in_vault(vault, authorization_id: str) -> dict:
    return json.loads(vault.kv_read(f"{PREFIX}/{authorization_id}/tokens")["tokens"])


def userinfo_ok(server, access: str) -> bool:
    answer = requests.get(server["userinfo_endpoint"], headers={"Authorization": f"Bearer {access}"}, timeout=10)
    return answer.status_code == 200


def expire_in_vault(vault, authorization_id: str) -> dict:
    tokens = tokens_in_vault(vault, authorization_id)
    tokens["expires_at"] = "2000-01-01T00:00:00Z"
    vault.kv_write(f"{PREFIX}/{authorization_id}/tokens", {"schema_version": 1, "tokens": json.dumps(tokens)})
    return tokens


def test_added_on_one_machine_it_is_listed_and_used_on_two_others(team, auth_server, http_browser, vault_server):
    a, b, c = team(auth_server, "a", "b", "c")
    added = a.run("add", "Team", "-p", "local", "-c", "reader", "--storage", "vault", **http_browser.env())
    assert added.code == 0, added.stderr
    assert "shared through Vault" in added.stderr
    [authorization_id] = shared_ids(vault_server)
    meta = vault_server.kv_read(f"{PREFIX}/{authorization_id}/meta")["authorization"]
    assert (meta["name"], meta["provider"], meta["connectors"], meta["status"]) == ("Team", "local", ["reader"], "authorized")
    assert meta["endpoints"] and "storage" not in meta
    assert "access_token" not in json.dumps(meta)
    assert not (a.data / "tokens-insecure.json").exists()

    listed = b.run("list", "--json")
    assert listed.code == 0, listed.stderr
    [entry] = listed.json()["authorizations"]
    assert (entry["name"], entry["storage"], entry["status"]) == ("Team", "vault", "authorized")
    assert "(shared)" in b.run("list").stdout
    assert "shared through Vault" in b.run("show", "Team").stdout
    assert b.run("search", "team").code == 0

    for machine in (b, c):  # c never listed it: token alone finds it
        printed = machine.run("token", "Team")
        assert printed.code == 0, printed.stderr
        assert userinfo_ok(auth_server, printed.stdout.strip())
    assert not (c.data / "index.json").exists()  # no local step at all


def test_ten_processes_on_three_machines_refresh_an_expired_shared_token_once(
    team, auth_server_factory, http_browser, vault_server
):
    # Its own server, so the count is this test's. Tokens live 90 s there: more than the
    # 60 s integray-auth refreshes ahead, so one refresh serves everyone after it.
    server = auth_server_factory(access_token_expire_seconds=90)
    a, b, c = team(server, "a", "b", "c")
    assert a.run("add", "Race", "-p", "local", "-c", "reader", "--storage", "vault", **http_browser.env()).code == 0
    [authorization_id] = shared_ids(vault_server)
    before = tokens_in_vault(vault_server, authorization_id)
    expire_in_vault(vault_server, authorization_id)
    assert server.counts()["token"].get("refresh_token", 0) == 0

    processes = [machine.start("token", "Race") for machine in [a, b, c, a, b, c, a, b, c, a]]
    outputs = [process.communicate(timeout=120) for process in processes]
    for process, (out, err) in zip(processes, outputs):
        assert process.returncode == 0, err
        assert_no_crash(err)
    printed = {out.strip() for out, _ in outputs}
    assert len(printed) == 1
    assert server.counts()["token"]["refresh_token"] == 1
    after = tokens_in_vault(vault_server, authorization_id)
    assert after["access_token"] == printed.pop() != before["access_token"]
    assert after["refresh_token"] != before["refresh_token"]  # the rotated one is what is stored
    assert userinfo_ok(server, after["access_token"])
    lease = vault_server.kv_read(f"{PREFIX}/{authorization_id}/lease")
    assert lease["expires_at"] == 0  # released


def test_a_lease_whose_holder_died_expires_and_another_machine_refreshes(
    team, auth_server, http_browser, vault_server
):
    a, b = team(auth_server, "a", "b")
    assert a.run("add", "Orphan", "-p", "local", "-c", "reader", "--storage", "vault", **http_browser.env()).code == 0
    [authorization_id] = shared_ids(vault_server)
    old = expire_in_vault(vault_server, authorization_id)
    # What a machine killed with -9 mid-refresh leaves behind: a lease nobody releases.
    vault_server.kv_write(f"{PREFIX}/{authorization_id}/lease", {"holder": "dead-host:4242:0", "expires_at": time.time() + 4})
    started = time.monotonic()
    refreshed = b.run("token", "Orphan", INTEGRAY_AUTH_VAULT_LEASE_SECONDS="4")
    waited = time.monotonic() - started
    assert refreshed.code == 0, refreshed.stderr
    assert 3 <= waited < 30
    assert refreshed.stdout.strip() != old["access_token"] and userinfo_ok(auth_server, refreshed.stdout.strip())
    assert tokens_in_vault(vault_server, authorization_id)["access_token"] == refreshed.stdout.strip()


def test_a_holder_killed_mid_refresh_loses_its_lease_to_another_machine(team, vault_server, tmp_path):
    """Machine a's refresh hangs at a token endpoint that never answers; it is killed
    with -9 while it holds the lease; machine b refreshes once the lease expires."""
    import socket

    from tests.support.stand_in import QuietHandler, serve

    refreshes = []

    class TokenEndpoint(QuietHandler):
        def do_POST(self):  # noqa: N802
            refreshes.append(self.read_body().decode())
            self.send_json(200, json.dumps({"access_token": "fresh-access", "token_type": "Bearer",
                                            "expires_in": 3600, "refresh_token": "fresh-refresh"}))

    server, url = serve(TokenEndpoint)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(5)
    try:
        endpoints = {"authorization_endpoint": "http://127.0.0.1:9/authorize", "revocation_endpoint": "",
                     "userinfo_endpoint": "", "client_id": "cli"}
        a, = team({**endpoints, "token_endpoint": f"http://127.0.0.1:{silent.getsockname()[1]}/token"}, "a")
        b = Machine(tmp_path, "b", overlay_for({**endpoints, "token_endpoint": url}, tmp_path / "b.toml"), vault_server)
        authorization_id = seed_file_authorization(a, expired=True)
        assert a.run("share", "Local").code == 0
        holder = a.start("token", "Local", INTEGRAY_AUTH_VAULT_LEASE_SECONDS="4")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            lease = vault_server.kv_read(f"{PREFIX}/{authorization_id}/lease")
            if lease and lease["expires_at"] > time.time():
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"the holder never took the lease: {holder.communicate(timeout=5)}")
        time.sleep(0.5)  # inside its refresh, waiting for the silent endpoint
        holder.kill()
        holder.wait(10)
        started = time.monotonic()
        refreshed = b.run("token", "Local", INTEGRAY_AUTH_VAULT_LEASE_SECONDS="4")
        waited = time.monotonic() - started
    finally:
        silent.close()
        server.shutdown()
        server.server_close()
    assert refreshed.code == 0, refreshed.stderr
    assert refreshed.stdout.strip() == "fresh-access"
    assert len(refreshes) == 1 and "refresh_token=refresh-1" in refreshes[0]
    assert waited >= 1  # it waited for the dead holder's lease to run out
    assert tokens_in_vault(vault_server, authorization_id)["refresh_token"] == "fresh-refresh"


def test_share_and_unshare_round_trip(team, fake_server, vault_server):
    a, b = team(fake_server, "a", "b")
    authorization_id = seed_file_authorization(a)
    shared = a.run("share", "Local")
    assert shared.code == 0, shared.stderr
    assert json.loads((a.data / "tokens-insecure.json").read_text())["entries"] == {}  # local tokens deleted
    assert shared_ids(vault_server) == [authorization_id]
    assert a.run("token", "Local").stdout.strip() == b.run("token", "Local").stdout.strip() == "access-1"
    [entry] = json.loads((a.data / "index.json").read_text())["authorizations"]
    assert entry["storage"] == "vault" and entry["locator"]["prefix"] == "integray-auth"
    again = a.run("share", "Local")
    assert_error_line(again, 6, "already shared")

    back = b.run("unshare", "Local", "--to", "file")  # b never had it locally
    assert back.code == 0, back.stderr
    assert shared_ids(vault_server) == []
    assert b.run("token", "Local").stdout.strip() == "access-1"
    assert "(insecure storage)" in b.run("list").stdout
    assert_error_line(b.run("unshare", "Local"), 6, "not shared")


def test_vault_stopped_before_share_leaves_it_usable_here(team, fake_server, vault_server):
    a, = team(fake_server, "a")
    seed_file_authorization(a)
    vault_server.stop()
    result = a.run("share", "Local")
    assert_error_line(result, 11, "cannot", "Vault")
    assert a.run("token", "Local").stdout.strip() == "access-1"
    listed = a.run("list")
    assert listed.code == 0 and "(insecure storage)" in listed.stdout
    assert "warning: shared authorizations not listed" in listed.stderr


def test_vault_refusing_midway_through_share_leaves_it_usable_here(team, fake_server, vault_server):
    a, = team(fake_server, "a")
    authorization_id = seed_file_authorization(a)
    # May write tokens and the lease, but not the metadata: share fails after the tokens are in Vault.
    vault_server.policy("no-meta", '''
path "secret/data/integray-auth/authorizations/+/tokens" { capabilities = ["create", "read", "update"] }
path "secret/data/integray-auth/authorizations/+/lease" { capabilities = ["create", "read", "update"] }
path "secret/data/integray-auth/authorizations/+/meta" { capabilities = ["read"] }
path "secret/data/integray-auth/names/+" { capabilities = ["create", "read", "update"] }
path "secret/metadata/integray-auth/*" { capabilities = ["list", "delete"] }
path "sys/internal/ui/mounts/secret" { capabilities = ["read"] }
''')
    token = vault_server.token_with("no-meta")
    result = a.run("share", "Local", VAULT_TOKEN=token)
    assert_error_line(result, 8, "permission denied", "stays in the insecure file")
    assert a.run("token", "Local").stdout.strip() == "access-1"
    assert vault_server.kv_read(f"{PREFIX}/{authorization_id}/tokens") is None  # the half copy was taken back


def _shared_for_an_approle(team, fake_server, vault_server, role: str):
    """Machine a shares 'Local'; AppRole `role` (its role id and secret id returned) may read and
    write the team's authorizations, for machine b to log in with."""
    a, b = team(fake_server, "a", "b")
    seed_file_authorization(a)
    assert a.run("share", "Local").code == 0
    vault_server.policy(role, '''
path "secret/data/integray-auth/*" { capabilities = ["read", "create", "update"] }
path "secret/metadata/integray-auth/*" { capabilities = ["list"] }
''')
    return (a, b, *vault_server.approle(role, role))


def test_approle_logs_in_with_role_and_secret_ids(team, fake_server, vault_server):
    a, b, role_id, secret_id = _shared_for_an_approle(team, fake_server, vault_server, "ci")
    printed = b.run("token", "Local", VAULT_TOKEN=None, VAULT_ROLE_ID=role_id, VAULT_SECRET_ID=secret_id)
    assert printed.code == 0, printed.stderr
    assert printed.stdout.strip() == "access-1"
    wrong = b.run("token", "Local", VAULT_TOKEN=None, VAULT_ROLE_ID=role_id, VAULT_SECRET_ID="wrong")
    assert wrong.code == 8 and "AppRole" in wrong.stderr
    assert_no_crash(wrong.stderr)


def test_failures_are_one_line_with_their_exit_code(team, fake_server, vault_server, tmp_path):
    a, = team(fake_server, "a")
    seed_file_authorization(a)
    assert_error_line(a.run("share", "Local", VAULT_TOKEN="not-a-token"), 8, "permission denied", "policy")
    assert_error_line(a.run("share", "Local", VAULT_TOKEN=None), 8, "no credentials", "VAULT_TOKEN")
    assert_error_line(a.run("share", "Local", VAULT_ADDR=None), 8, "VAULT_ADDR is not set")
    (a.data / "config.toml").write_text('[vault]\nmount = "nowhere"\n')
    assert_error_line(a.run("share", "Local"), 8, "no KV version 2", "nowhere")
    vault_server.api("POST", "sys/mounts/kv1", {"type": "kv", "options": {"version": "1"}})
    (a.data / "config.toml").write_text('[vault]\nmount = "kv1"\n')
    assert_error_line(a.run("share", "Local"), 8, "KV version 1")
    (a.data / "config.toml").write_text('[vault]\nprefix = "../escape"\n')
    assert_error_line(a.run("share", "Local"), 2, "not a plain path")
    (a.data / "config.toml").unlink()
    assert_error_line(a.run("share", "Local", INTEGRAY_AUTH_VAULT_LEASE_SECONDS="0"), 2, "INTEGRAY_AUTH_VAULT_LEASE_SECONDS")
    assert a.run("share", "Local").code == 0
    vault_server.seal()
    assert_error_line(a.run("token", "Local"), 8, "sealed", "unseal")
    assert_error_line(a.run("share", "Local"), 6, "already shared")


def test_a_lease_held_live_for_longer_than_the_wait_is_an_error(team, fake_server, vault_server):
    a, = team(fake_server, "a")
    authorization_id = seed_file_authorization(a)
    assert a.run("share", "Local").code == 0
    expire_in_vault(vault_server, authorization_id)
    vault_server.kv_write(f"{PREFIX}/{authorization_id}/lease", {"holder": "busy-host:1:0", "expires_at": time.time() + 600})
    result = a.run("token", "Local", INTEGRAY_AUTH_VAULT_LEASE_SECONDS="1", INTEGRAY_AUTH_HTTP_TIMEOUT="1")
    assert_error_line(result, 8, "busy-host", "refresh lease", "expires by itself")


def test_hostile_vault_answers_are_errors_not_crashes(team, fake_server, vault_server):
    a, = team(fake_server, "a")
    authorization_id = seed_file_authorization(a)
    assert a.run("share", "Local").code == 0
    vault_server.kv_write(f"{PREFIX}/{authorization_id}/tokens", {"tokens": ["not", "a", "string"]})
    result = a.run("token", "Local")
    assert_error_line(result, 8, "not a token set")
    vault_server.kv_write(f"{PREFIX}/{authorization_id}/meta", {"authorization": {"id": "../../x"}})
    listed = a.run("list", "--json")
    assert listed.code == 0 and [e["name"] for e in listed.json()["authorizations"]] == ["Local"]


def test_vault_credentials_never_reach_the_browser():
    from integray_auth.oauth.browser import child_environment

    env = child_environment({"VAULT_TOKEN": "t", "vault_secret_id": "s", "VAULT_ADDR": "http://x", "PATH": "/bin"})
    assert env == {"VAULT_ADDR": "http://x", "PATH": "/bin"}


def test_approle_ids_from_files_named_in_config(team, fake_server, vault_server, tmp_path):
    a, b, role_id, secret_id = _shared_for_an_approle(team, fake_server, vault_server, "ci-files")
    secrets_dir = tmp_path / "run-secrets"
    secrets_dir.mkdir()
    (secrets_dir / "role-id").write_text(role_id + "\n")
    (secrets_dir / "secret-id").write_text(secret_id + "\n")
    (secrets_dir / "secret-id").chmod(0o600)
    b.data.mkdir(exist_ok=True)
    config = b.data / "config.toml"
    config.write_text(f'[vault]\nrole_id_file = "{secrets_dir / "role-id"}"\nsecret_id_file = "{secrets_dir / "secret-id"}"\n')
    no_token = {"VAULT_TOKEN": None, "VAULT_ROLE_ID": None, "VAULT_SECRET_ID": None}

    printed = b.run("token", "Local", **no_token)
    assert printed.code == 0, printed.stderr
    assert printed.stdout.strip() == "access-1"
    assert [e["name"] for e in b.run("list", "--json", **no_token).json()["authorizations"]] == ["Local"]

    (secrets_dir / "secret-id").write_text("not-the-secret-id\n")
    assert_error_line(b.run("token", "Local", **no_token), 8, "AppRole")
    (secrets_dir / "secret-id").unlink()
    assert_error_line(b.run("token", "Local", **no_token), 8, "secret id file", "does not exist", "secret_id_file")
    (secrets_dir / "secret-id").write_text("")
    assert_error_line(b.run("token", "Local", **no_token), 8, "holds no AppRole id")
    (secrets_dir / "secret-id").unlink()
    os.mkfifo(secrets_dir / "secret-id")  # a FIFO nobody writes would block a plain read forever
    assert_error_line(b.run("token", "Local", timeout=20, **no_token), 8, "secret id file", "not a file")


def test_a_token_set_never_replaces_a_newer_or_broader_one_written_meanwhile(vault_server, tmp_path):
    """The write path's rule, against the real OpenBao: a machine whose read is
    stale writes over the set in Vault only when its own is no older and no narrower."""
    from integray_auth.context import AppContext
    from integray_auth.lean.paths import Paths
    from integray_auth.stores.secrets import ChunkedTokens, token_key
    from integray_auth.stores.vault_store import VaultStore
    from integray_auth.tokens import TokenSet

    ctx = AppContext(paths=Paths(tmp_path, tmp_path), environ={**os.environ, **vault_server.env()})
    authorization_id = "0123456789ab"
    key = token_key(authorization_id)

    def tokens(access, hour, scope=("openid", "read")):
        return TokenSet(access, refresh_token=f"r-{access}", expires_at=f"2030-01-01T{hour:02d}:00:00+00:00", scope=list(scope))

    def stored():
        return tokens_in_vault(vault_server, authorization_id)["access_token"]

    writer, stale = VaultStore.open(ctx), VaultStore.open(ctx)
    assert ChunkedTokens(writer).save(authorization_id, tokens("first", 1)) is None
    stale.get(key)  # the stale machine reads version 1 ...
    ChunkedTokens(writer).save(authorization_id, tokens("newer", 3))  # ... another writes version 2

    kept = ChunkedTokens(stale).save(authorization_id, tokens("older", 2))
    assert (kept.access_token, stored()) == ("newer", "newer")  # older: Vault's stays, and is handed back

    ChunkedTokens(writer).save(authorization_id, tokens("broader", 4, ("openid", "read", "write")))
    kept = ChunkedTokens(stale).save(authorization_id, tokens("narrower", 5))
    assert (kept.access_token, stored()) == ("broader", "broader")  # fewer scopes: Vault's stays

    ChunkedTokens(writer).save(authorization_id, tokens("meanwhile", 6, ("openid", "read", "write")))
    assert ChunkedTokens(stale).save(authorization_id, tokens("best", 7, ("openid", "read", "write"))) is None
    assert stored() == "best"  # newer and as broad: it replaces the one written meanwhile

    # Without anything written since its read, a writer replaces what it read (a re-authorization
    # that asks for fewer scopes is the user's choice).
    fresh = VaultStore.open(ctx)  # reads before it writes
    assert ChunkedTokens(fresh).save(authorization_id, tokens("fewer-by-choice", 8, ("openid",))) is None
    assert stored() == "fewer-by-choice"


def test_status_includes_shared_ones_and_reads_their_health_from_vault(
    team, auth_server_factory, http_browser, vault_server
):
    server = auth_server_factory(access_token_expire_seconds=90)
    a, b = team(server, "a", "b")
    assert a.run("add", "Team", "-p", "local", "-c", "reader", "--storage", "vault", **http_browser.env()).code == 0
    [authorization_id] = shared_ids(vault_server)

    local = b.run("status")  # b has never seen it: no local step, the fast path
    assert local.code == 0, local.stderr
    [row] = local.stdout.splitlines()
    assert row.split("\t")[:3] == ["Team", "Authorized (shared)", "yes"]
    [line] = b.run("status", "Team", "--json").json()["authorizations"]
    assert (line["name"], line["shared"], line["usable"], line["exit_code"]) == ("Team", True, True, 0)

    expire_in_vault(vault_server, authorization_id)
    checked = b.run("status", "Team", "--check", "--json")
    assert checked.code == 0, checked.stderr
    [line] = checked.json()["authorizations"]
    assert (line["check"], line["shared"]) == ("accepted", True)
    assert server.counts()["token"]["refresh_token"] == 1  # the check renewed it, once
    health = vault_server.kv_read(f"{PREFIX}/{authorization_id}/health")["health"]
    assert health["refreshed_at"] and health["renewable"] is True  # health, recorded where every machine reads it
    assert line["refreshed_at"] == health["refreshed_at"]
    [seen_by_a] = a.run("status", "--json").json()["authorizations"]  # a's index entry is older: Vault's wins
    assert seen_by_a["refreshed_at"] == health["refreshed_at"]

    # refresh NAME works where only Vault has it, as token does.
    refreshed = b.run("refresh", "Team")
    assert refreshed.code == 0, refreshed.stderr
    assert server.counts()["token"]["refresh_token"] == 2
    assert userinfo_ok(server, tokens_in_vault(vault_server, authorization_id)["access_token"])


def test_changes_to_a_shared_authorization_reach_vault_or_are_refused(team, fake_server, vault_server):
    a, b = team(fake_server, "a", "b")
    authorization_id = seed_file_authorization(a)
    assert a.run("share", "Local").code == 0

    # b knows it only from Vault: what would change it on b alone is refused, in one line.
    for command in (["rename", "Local", "Other"], ["deactivate", "Local"], ["deactivate", "Local", "--revoke"],
                    ["remove", "Local", "--yes"], ["authorize", "Local", "--no-input"],
                    ["connectors", "add", "Local", "reader"], ["connectors", "remove", "Local", "reader"]):
        refused = b.run(*command)
        assert_error_line(refused, 6, "'Local' is shared through Vault", "not kept on this machine",
                          f"'{command[0] if command[0] != 'connectors' else ' '.join(command[:2])}'")
    assert_error_line(b.run("rename", "Nobody", "X"), 5, "no authorization named 'Nobody'")
    assert not (b.data / "index.json").exists()
    assert b.run("token", "Local").stdout.strip() == "access-1"

    # a keeps it: its changes reach Vault's copy, so b sees them.
    assert a.run("rename", "Local", "Renamed").code == 0
    assert [e["name"] for e in b.run("list", "--json").json()["authorizations"]] == ["Renamed"]
    assert a.run("deactivate", "Renamed").code == 0
    assert vault_server.kv_read(f"{PREFIX}/{authorization_id}/meta")["authorization"]["active"] is False
    assert_error_line(b.run("token", "Renamed"), 13, "deactivated")
    assert a.run("activate", "Renamed").code == 0
    assert b.run("token", "Renamed").stdout.strip() == "access-1"

    # Vault refusing the change leaves this machine's index as it was: no change here alone.
    vault_server.seal()
    assert_error_line(a.run("rename", "Renamed", "Again"), 8, "sealed")
    [entry] = json.loads((a.data / "index.json").read_text())["authorizations"]
    assert entry["name"] == "Renamed"


def test_help_environment_names_the_vault_variables(cli):
    result = cli("help", "environment")
    assert (result.code, result.stderr) == (0, "")
    for variable in ("VAULT_ADDR", "VAULT_TOKEN", "VAULT_ROLE_ID", "VAULT_SECRET_ID", "VAULT_NAMESPACE", "VAULT_CACERT",
                     "INTEGRAY_AUTH_VAULT_LEASE_SECONDS"):
        assert variable in result.stdout, variable


def test_vault_credentials_never_reach_execs_command():
    from integray_auth.childenv import child_environment

    env = child_environment({"VAULT_TOKEN": "t", "VAULT_SECRET_ID": "s", "VAULT_ADDR": "http://x",
                             "INTEGRAY_AUTH_HOME": "/h"}, keep_settings=True)
    assert env == {"VAULT_ADDR": "http://x", "INTEGRAY_AUTH_HOME": "/h"}


VAULT_MODULES = ("hvac", "integray_auth.stores.vault", "integray_auth.stores.vault_store", "integray_auth.stores.shared_index", "requests")


def test_without_vault_configured_token_list_and_status_import_nothing_of_vaults(file_stored, monkeypatch, vault_server):
    from tests.support.imports import probe

    for variable in ("VAULT_ADDR", "VAULT_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    assert probe(["token", "Gmail"], VAULT_MODULES) == (0, [], "file-token\n")
    for args in (["list"], ["list", "--json"], ["search", "gmail"], ["status"]):
        assert probe(args, VAULT_MODULES)[1] == [], args

    # The probe sees it where Vault is configured: listing reads the shared ones.
    for variable, value in vault_server.env().items():
        monkeypatch.setenv(variable, value)
    assert "hvac" in probe(["list"], VAULT_MODULES)[1]


def test_remove_on_the_keeping_machine_removes_it_for_everyone_under_the_lease(team, fake_server, vault_server):
    a, b = team(fake_server, "a", "b")
    authorization_id = seed_file_authorization(a)
    assert a.run("share", "Local").code == 0
    # Another machine's live lease: remove waits for it rather than delete tokens mid-refresh.
    vault_server.kv_write(f"{PREFIX}/{authorization_id}/lease", {"holder": "busy-host:1:0", "expires_at": time.time() + 600})
    busy = a.run("remove", "Local", "--yes", "--no-revoke", INTEGRAY_AUTH_VAULT_LEASE_SECONDS="1",
                 INTEGRAY_AUTH_HTTP_TIMEOUT="1")
    assert_error_line(busy, 8, "busy-host", "refresh lease")
    assert shared_ids(vault_server) == [authorization_id]
    vault_server.kv_write(f"{PREFIX}/{authorization_id}/lease", {"holder": "busy-host:1:0", "expires_at": 0})

    removed = a.run("remove", "Local", "--yes", "--no-revoke")
    assert removed.code == 0, removed.stderr
    assert shared_ids(vault_server) == []
    assert b.run("list", "--json").json()["authorizations"] == []
    assert_error_line(b.run("token", "Local"), 5, "no authorization named 'Local'")


def _index_of(machine: Machine) -> list[dict]:
    path = machine.data / "index.json"
    return json.loads(path.read_text())["authorizations"] if path.exists() else []


def test_vaults_copy_outranks_the_local_entry_of_the_machine_that_shared_it(team, fake_server, vault_server, tmp_path):
    """Machine a shared it and keeps an index entry; machine a2 (the same user's second
    laptop, with a copy of a's index) deactivates, renames and removes it. a's token,
    show, status and list act on Vault's copy, and a's entry follows it."""
    import shutil

    a, = team(fake_server, "a")
    authorization_id = seed_file_authorization(a)
    assert a.run("share", "Local").code == 0
    a2 = Machine(tmp_path, "a2", a.overlay, vault_server)
    shutil.copytree(a.data, a2.data)
    assert a.run("token", "Local").stdout.strip() == "access-1"

    assert a2.run("deactivate", "Local").code == 0
    assert_error_line(a.run("token", "Local"), 13, "'Local' is deactivated")
    status = a.run("status", "Local")
    assert status.code == 13 and status.stdout.split("\t")[:3] == ["Local", "Authorized (shared)", "no"], status
    assert "no (deactivated" in a.run("show", "Local").stdout
    [entry] = _index_of(a)
    assert entry["active"] is False and entry["storage"] == "vault"  # the cache follows, where it is kept stays
    assert a.run("list", "--json").json()["authorizations"] == []
    [listed] = a.run("list", "--all", "--json").json()["authorizations"]
    assert (listed["name"], listed["active"]) == ("Local", False)

    assert a2.run("activate", "Local").code == 0
    assert a2.run("rename", "Local", "Renamed").code == 0
    assert_error_line(a.run("token", "Local"), 5, "no authorization named 'Local'", "renamed it to 'Renamed'")
    assert a.run("token", "Renamed").stdout.strip() == "access-1"
    assert [e["name"] for e in a.run("list", "--json").json()["authorizations"]] == ["Renamed"]  # once, as Vault has it
    assert [e["name"] for e in _index_of(a)] == ["Renamed"]

    # a change made on the stale machine goes over Vault's copy, not over its own old one
    assert a.run("connectors", "add", "Renamed", "reader").code == 6  # already there: refused, nothing written
    assert a.run("deactivate", "Renamed").code == 0
    meta = vault_server.kv_read(f"{PREFIX}/{authorization_id}/meta")["authorization"]
    assert (meta["name"], meta["active"]) == ("Renamed", False)
    assert a.run("activate", "Renamed").code == 0

    removed = a2.run("remove", "Renamed", "--yes", "--no-revoke")
    assert removed.code == 0, removed.stderr
    assert_error_line(a.run("token", "Renamed"), 5, "no longer shared", "removed or unshared")
    assert _index_of(a) == []  # dropped: nothing is left to use
    assert a.run("list", "--all", "--json").json()["authorizations"] == []


def test_a_stale_entry_is_dropped_from_listings_when_another_machine_unshared_it(team, fake_server, vault_server):
    a, b = team(fake_server, "a", "b")
    seed_file_authorization(a)
    assert a.run("share", "Local").code == 0
    assert b.run("unshare", "Local", "--to", "file").code == 0  # now b's alone
    listed = a.run("list", "--all", "--json")
    assert listed.code == 0 and listed.json()["authorizations"] == [], listed.stdout
    assert _index_of(a) == []
    assert_error_line(a.run("token", "Local"), 5, "no authorization named 'Local'")
    assert b.run("token", "Local").stdout.strip() == "access-1"


def test_names_are_unique_across_the_shared_authorizations(team, fake_server, vault_server):
    a, b, c = team(fake_server, "a", "b", "c")
    authorization_id = seed_file_authorization(a, "Team")
    assert a.run("share", "Team").code == 0

    seed_file_authorization(b, "team")  # b's own, named alike up to case
    assert_error_line(b.run("share", "team"), 6, "a shared authorization named 'Team' already exists", "Choose another name")
    assert b.run("token", "team").stdout.strip() == "access-1"  # still b's, where it was
    assert _index_of(b)[0]["storage"] == "file"

    added = c.run("add", "TEAM", "-p", "local", "-c", "reader", "--storage", "vault", "--no-input")
    assert_error_line(added, 6, "a shared authorization named 'Team' already exists")  # before any browser

    seed_file_authorization(c, "Other", access="access-2")
    assert c.run("share", "Other").code == 0
    assert_error_line(c.run("rename", "Other", "TEAM"), 6, "a shared authorization named 'Team' already exists")
    assert [e["name"] for e in _index_of(c)] == ["Other"]
    assert sorted(e["name"] for e in a.run("list", "--json").json()["authorizations"]) == ["Other", "Team"]
    assert a.run("token", "Other").stdout.strip() == "access-2"

    # A name that is free again may be taken: after a rename, and after a remove.
    assert a.run("rename", "Team", "Team 2").code == 0
    assert c.run("rename", "Other", "Team").code == 0
    assert_error_line(c.run("rename", "Team", "Team 2"), 6, "'Team 2' already exists")
    assert a.run("remove", "Team 2", "--yes", "--no-revoke").code == 0
    assert c.run("rename", "Team", "Team 2").code == 0
    assert b.run("token", "Team 2").stdout.strip() == "access-2"
    assert vault_server.kv_read(f"{PREFIX}/{authorization_id}/meta") is None


def test_token_on_a_machine_that_never_saw_it_reads_a_constant_number_of_documents(team, fake_server, vault_server):
    """Found through its name document (then its metadata and health), not by reading
    every authorization's metadata; counted by a proxy in front of the real OpenBao."""
    from integray_auth.context import AppContext
    from integray_auth.lean.paths import Paths
    from integray_auth.usecases import sharing
    from tests.support.vault_server import counting_proxy

    a, c = team(fake_server, "a", "c")
    ids = {}
    ctx = AppContext(paths=Paths(a.data, a.data), environ=a.env(), registry_path=a.overlay)
    for number in range(20):
        name = f"Team {number}"
        ids[name] = seed_file_authorization(a, name, access=f"access-{number}")
        sharing.share(ctx, name)

    counts = {}
    with counting_proxy(vault_server.addr) as proxy:
        for name, access in (("Team 3", "access-3"), ("team 17", "access-17"), (ids["Team 11"], "access-11")):
            before = len(proxy.paths)
            printed = c.run("token", name, VAULT_ADDR=proxy.addr)
            assert printed.code == 0, printed.stderr
            assert printed.stdout.strip() == access
            counts[name] = proxy.paths[before:]
    by_name, other_name, by_id = counts.values()
    assert len(by_name) == len(other_name) == 4, counts  # the name document, the metadata, the health, the tokens
    assert len(by_id) == 3, counts  # an id needs no name document
    assert not any("LIST" in request for request in by_name + other_name + by_id), counts
    assert not (c.data / "index.json").exists()

    # The metadata stays the truth: a name document pointing elsewhere is ignored,
    # and a missing one falls back to reading them all.
    [pointer] = [k for k in vault_server.kv_list("integray-auth/names")
                 if vault_server.kv_read(f"integray-auth/names/{k}")["id"] == ids["Team 5"]]
    vault_server.kv_write(f"integray-auth/names/{pointer}", {"schema_version": 1, "id": ids["Team 6"], "name": "Team 5"})
    assert c.run("token", "Team 5").stdout.strip() == "access-5"
    vault_server.api("DELETE", f"secret/metadata/integray-auth/names/{pointer}")
    assert c.run("token", "Team 5").stdout.strip() == "access-5"
    assert_error_line(c.run("token", "Team 99"), 5, "no authorization named 'Team 99'")


def test_token_format_json_on_a_machine_that_never_saw_it(team, fake_server, vault_server):
    # A token set without `scope`: --format json takes the scopes from the
    # authorization, which this machine knows only from Vault.
    a, b = team(fake_server, "a", "b")
    seed_file_authorization(a)
    assert a.run("share", "Local").code == 0
    result = b.run("token", "Local", "--format", "json")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["access_token"] == "access-1"


def test_a_local_authorization_may_not_take_a_shared_ones_name(
    team, auth_server, http_browser, keyring_env, vault_server
):
    """Machine b keeps its own authorizations (keyring, or none yet) next to the
    team's: a name a shared one has would make `token NAME` there mean either."""
    a, b = team(auth_server, "a", "b")
    seed_file_authorization(a, "Team")
    assert a.run("share", "Team").code == 0
    taken = ("a shared authorization named 'Team' already exists in Vault at", "Choose another name",
             "use the shared one: integray-auth token Team")

    for name in ("Team", "team", " TEAM "):  # names equal up to case and spaces are one name
        assert_error_line(b.run("add", name, "-p", "local", "-c", "reader", "--no-authorize"), 6, *taken)
    assert_error_line(b.run("add", "team", "-p", "local", "-c", "reader", "--no-authorize", "--no-input"), 6, *taken)
    # Through the whole authorization flow with the keyring: refused before any browser opens.
    refused = b.run("add", "team", "-p", "local", "-c", "reader", **keyring_env, **http_browser.env())
    assert_error_line(refused, 6, *taken)
    assert not http_browser.started()
    assert _index_of(b) == []

    added = b.run("add", "Mine", "-p", "local", "-c", "reader", **keyring_env, **http_browser.env())
    assert added.code == 0, added.stderr
    assert "warning" not in added.stderr
    assert http_browser.result()["ok"]
    for new in ("Team", "tEAM"):
        assert_error_line(b.run("rename", "Mine", new), 6, *taken)
    assert [e["name"] for e in _index_of(b)] == ["Mine"]
    renamed = b.run("rename", "Mine", "Team B")
    assert renamed.code == 0, renamed.stderr
    assert b.run("add", "Other", "-p", "local", "-c", "reader", "--no-authorize").code == 0
    listed = [e["name"] for e in b.run("list", "--all", "--json").json()["authorizations"]]
    assert sorted(listed) == ["Other", "Team", "Team B"]
    assert b.run("token", "Team").stdout.strip() == "access-1"  # the shared one, unambiguous
    assert userinfo_ok(auth_server, b.run("token", "Team B", **keyring_env).stdout.strip())


def test_a_vault_that_cannot_be_asked_lets_a_local_add_and_rename_proceed_with_a_warning(
    team, fake_server, vault_server
):
    """Offline (or refused), the team's names cannot be checked: a local authorization
    is still added or renamed, and one warning line says the check did not happen."""
    a, b = team(fake_server, "a", "b")
    seed_file_authorization(a, "Team")
    assert a.run("share", "Team").code == 0

    denied = b.run("add", "Team", "-p", "local", "-c", "reader", "--no-authorize", VAULT_TOKEN="not-a-token")
    assert denied.code == 0, denied.stderr
    assert_no_crash(denied.stderr)
    warning, done = denied.stderr.splitlines()
    assert warning.startswith("integray-auth: warning: names of shared authorizations not checked: ")
    assert "permission denied" in warning
    assert done.startswith("Added 'Team' (Not authorized).")

    vault_server.stop()
    for args in (("add", "Team 2", "-p", "local", "-c", "reader", "--no-authorize"), ("rename", "Team", "Team 3")):
        result = b.run(*args)
        assert result.code == 0, result.stderr
        assert_no_crash(result.stderr)
        warning, done = result.stderr.splitlines()
        assert warning.startswith("integray-auth: warning: names of shared authorizations not checked: cannot read")
        assert "Added 'Team 2'" in done or "Renamed 'Team' to 'Team 3'" in done
    assert sorted(e["name"] for e in _index_of(b)) == ["Team 2", "Team 3"]


# -- trust boundaries (issue 17): what CI may write, where Vault credentials go --------------

ROOT = Path(__file__).resolve().parents[1]


def team_policies() -> dict[str, str]:
    """The policies docs/team.md publishes, by the name on their first line: the tests load
    exactly that text, so the document and what is tested cannot drift apart."""
    import re

    blocks = re.findall(r"```hcl\n(.*?)```", (ROOT / "docs" / "team.md").read_text(), re.S)
    return {block.splitlines()[0].lstrip("#").strip(): block for block in blocks}


def test_help_vault_shows_exactly_the_published_policies(cli):
    from integray_auth.cli.helptopics import VAULT_POLICIES

    assert list(team_policies().values()) == list(VAULT_POLICIES)  # the ones loaded into OpenBao below
    shown = cli("help", "vault")
    assert shown.code == 0, shown.stderr
    for policy in VAULT_POLICIES:
        assert "\n".join("      " + line for line in policy.splitlines()) in shown.stdout


def test_vault_hints_name_a_topic_the_installed_tool_has(cli):
    from integray_auth.stores.vault import TEAM_HELP

    assert cli(*TEAM_HELP.split()[1:]).code == 0
    done = cli("add", "X", "-p", "github", "-c", "list-repositories", "--storage", "vault", "--client-id", "c", "--no-input",
               env={"VAULT_ADDR": None})
    assert done.code == 8 and f"see: {TEAM_HELP}" in done.stderr and "docs/" not in done.stderr, done.stderr


class RecordingTokenEndpoint(StandIn):
    """A token endpoint on loopback that answers every request with fresh tokens
    and keeps what each request sent (body and Authorization header)."""

    def __init__(self) -> None:
        from tests.support.stand_in import QuietHandler, serve

        self.requests: list[dict] = []
        recorded = self.requests

        class Endpoint(QuietHandler):
            def do_POST(self):  # noqa: N802
                from urllib.parse import parse_qs

                form = {k: v[0] for k, v in parse_qs(self.read_body().decode()).items()}
                recorded.append({**form, "authorization_header": self.headers.get("Authorization", "")})
                number = len(recorded)
                self.send_json(200, {"access_token": f"fresh-{number}", "token_type": "Bearer", "expires_in": 3600,
                                     "refresh_token": f"refresh-{number + 1}", "scope": "openid read"})

        self.server, self.url = serve(Endpoint)


@pytest.fixture
def token_endpoint():
    yield from running(RecordingTokenEndpoint())


def confidential_overlay(token_url: str, path: Path) -> Path:
    """The test provider as a confidential client: a refresh sends this machine's client secret."""
    overlay_for({"authorization_endpoint": "http://127.0.0.1:9/authorize", "token_endpoint": token_url,
                 "revocation_endpoint": "", "userinfo_endpoint": "", "client_id": "cli"}, path)
    path.write_text(path.read_text().replace('pkce = "required"\n', 'pkce = "required"\nclient_auth = "client_secret_post"\n'))
    return path


IDENTITY = ("provider", "grant", "client_id", "requested_scopes", "parameters", "endpoints", "connectors")


def test_the_ci_policy_cannot_change_what_the_authorizers_machine_mints(vault_server, token_endpoint, tmp_path):
    """Issue 17, item 1, with exactly docs/team.md's policies in a real OpenBao: a CI token
    rewriting what it can write (meta refused; health, tokens allowed) cannot make the
    authorizer's `token` and `refresh --all` ask for another grant, scope or client, and the
    authorizer's index keeps what it authorized."""
    policies = team_policies()
    assert set(policies) == {"integray-auth-authorizer", "integray-auth-ci"}, policies
    for name, hcl in policies.items():
        vault_server.policy(name, hcl)
    authorizer_token = vault_server.token_with("integray-auth-authorizer")
    ci_token = vault_server.token_with("integray-auth-ci")
    overlay = confidential_overlay(token_endpoint.url, tmp_path / "confidential.toml")
    a = Machine(tmp_path, "authorizer", overlay, vault_server)
    ci = Machine(tmp_path, "ci", overlay, vault_server)
    victim = {"VAULT_TOKEN": authorizer_token, "INTEGRAY_AUTH_LOCAL_CLIENT_SECRET": "victim-secret"}
    runner = {"VAULT_TOKEN": ci_token, "INTEGRAY_AUTH_LOCAL_CLIENT_SECRET": "ci-secret"}

    authorization_id = seed_file_authorization(a, expired=True)
    index = a.data / "index.json"
    document = json.loads(index.read_text())  # bound as `authorize` binds it
    document["authorizations"][0]["endpoints"] = {"token_origin": token_endpoint.url, "revocation_origin": None,
                                                  "userinfo_origin": None, "device_origin": None, "issuer": None}
    index.write_text(json.dumps(document))
    shared = a.run("share", "Local", **victim)
    assert shared.code == 0, shared.stderr
    [before] = _index_of(a)
    meta_path = f"secret/data/{PREFIX}/{authorization_id}/meta"

    # CI's read-and-refresh works under its policy, and writes no metadata.
    refreshed = ci.run("token", "Local", **runner)
    assert refreshed.code == 0, refreshed.stderr
    assert refreshed.stdout.strip() == "fresh-1"
    assert vault_server.kv_read(f"{PREFIX}/{authorization_id}/health")["health"]["refreshed_at"]
    listed = ci.run("list", "--json", **runner)
    assert listed.code == 0 and listed.json()["authorizations"][0]["refreshed_at"], listed.stderr

    # The attack: what a CI token can write, written as CI would (curl).
    meta = vault_server.kv_read(f"{PREFIX}/{authorization_id}/meta")["authorization"]
    evil = {**meta, "grant": "client_credentials", "requested_scopes": ["admin"], "client_id": "evil-client",
            "endpoints": None, "parameters": {"tenant": "evil"}}
    status, answer = vault_server.api("POST", meta_path, {"data": {"schema_version": 1, "authorization": evil}},
                                      token=ci_token)
    assert status == 403, answer  # the published CI policy may not write meta
    for field in ("status", "expires_at"):
        assert field in vault_server.kv_read(f"{PREFIX}/{authorization_id}/health")["health"]
    health = {"status": "authorized", "updated_at": "9999-01-01T00:00:00Z", "grant": "client_credentials",
              "requested_scopes": ["admin"], "client_id": "evil-client", "provider": "local", "endpoints": None}
    status, answer = vault_server.api("POST", f"secret/data/{PREFIX}/{authorization_id}/health",
                                      {"data": {"schema_version": 1, "health": health}}, token=ci_token)
    assert status == 200, answer  # allowed: and read as health only
    for _ in range(2):  # once for `token`, once for `refresh --all`
        tokens = tokens_in_vault(vault_server, authorization_id)
        tokens["expires_at"] = "2000-01-01T00:00:00Z"
        status, answer = vault_server.api("POST", f"secret/data/{PREFIX}/{authorization_id}/tokens",
                                          {"data": {"schema_version": 1, "tokens": json.dumps(tokens)}}, token=ci_token)
        assert status == 200, answer
        if _ == 0:
            result = a.run("token", "Local", **victim)
        else:
            result = a.run("refresh", "--all", **victim)
        assert result.code == 0, result.stderr
        assert_no_crash(result.stderr)

    sent = token_endpoint.requests
    assert len(sent) == 3, sent  # CI's refresh, then the authorizer's two
    for request in sent:
        assert request["grant_type"] == "refresh_token", request
        assert request.get("client_id") == "cli", request
        assert "admin" not in json.dumps(request) and "evil" not in json.dumps(request), request
    assert [r["client_secret"] for r in sent] == ["ci-secret", "victim-secret", "victim-secret"]
    [after] = _index_of(a)
    assert {f: after.get(f) for f in IDENTITY} == {f: before.get(f) for f in IDENTITY}  # not silently rewritten
    meta_now = vault_server.kv_read(f"{PREFIX}/{authorization_id}/meta")["authorization"]
    assert {f: meta_now.get(f) for f in IDENTITY} == {f: meta.get(f) for f in IDENTITY}


def test_a_shared_authorization_written_by_the_earlier_layout_is_read_as_it_is(team, fake_server, vault_server):
    """Shared before `health` existed: its health is in `meta`, and it is listed and used as before."""
    a, b = team(fake_server, "a", "b")
    authorization_id = seed_file_authorization(a)
    assert a.run("share", "Local").code == 0
    vault_server.api("DELETE", f"secret/metadata/{PREFIX}/{authorization_id}/health")
    meta = vault_server.kv_read(f"{PREFIX}/{authorization_id}/meta")["authorization"]
    meta.update(expires_at="2999-01-01T00:00:00Z", refreshed_at="2024-05-01T00:00:00Z")
    vault_server.kv_write(f"{PREFIX}/{authorization_id}/meta", {"schema_version": 1, "authorization": meta})
    [entry] = b.run("list", "--json").json()["authorizations"]
    assert (entry["name"], entry["status"], entry["refreshed_at"]) == ("Local", "authorized", "2024-05-01T00:00:00Z")
    assert b.run("token", "Local").stdout.strip() == "access-1"
    # Health that is not health (wrong types) is ignored, not the authorization.
    vault_server.kv_write(f"{PREFIX}/{authorization_id}/health",
                          {"schema_version": 1, "health": {"status": ["x"], "updated_at": "9999-01-01T00:00:00Z"}})
    [entry] = b.run("list", "--json").json()["authorizations"]
    assert (entry["name"], entry["status"]) == ("Local", "authorized")


def test_a_grant_the_provider_does_not_list_is_never_used(team, token_endpoint, tmp_path):
    """Whatever an entry says (the index, or Vault's copy), a refresh runs only a grant the registry allows."""
    a = Machine(tmp_path, "a", confidential_overlay(token_endpoint.url, tmp_path / "c.toml"), NoVault())
    seed_file_authorization(a, expired=True)
    index = a.data / "index.json"
    document = json.loads(index.read_text())
    document["authorizations"][0].update(grant="client_credentials", requested_scopes=["admin"])
    index.write_text(json.dumps(document))
    for args in (("token", "Local"), ("refresh", "Local")):
        result = a.run(*args, VAULT_ADDR=None, VAULT_TOKEN=None, INTEGRAY_AUTH_LOCAL_CLIENT_SECRET="victim-secret")
        assert_no_crash(result.stderr)
        assert result.code == 3, result.stderr
        assert "'client_credentials' grant" in result.stderr and "does not allow" in result.stderr
        assert "integray-auth authorize Local" in result.stderr
    assert token_endpoint.requests == []


class NoVault:
    def env(self) -> dict:
        return {}


def _recording_vault():
    """A stand-in 'Vault' on loopback that records the Vault tokens sent to it."""
    from tests.support.stand_in import QuietHandler, serve

    received: list[str] = []

    class Recorder(QuietHandler):
        def _any(self):
            received.append(self.headers.get("X-Vault-Token") or "")
            self.send_json(404, {"errors": []})

        do_GET = do_POST = do_PUT = do_LIST = _any

    server, url = serve(Recorder)
    return server, url, received


def test_vault_credentials_go_only_to_the_configured_vault(team, fake_server, vault_server):
    """Issue 17, item 2: an entry recorded at another Vault address gets no VAULT_TOKEN."""
    a, = team(fake_server, "a")
    seed_file_authorization(a)
    assert a.run("share", "Local").code == 0
    server, elsewhere, received = _recording_vault()
    try:
        index = a.data / "index.json"
        document = json.loads(index.read_text())
        document["authorizations"][0]["locator"]["addr"] = elsewhere
        index.write_text(json.dumps(document))
        assert_error_line(a.run("token", "Local"), 8, f"kept in Vault at {elsewhere}",
                                 f"VAULT_ADDR is {vault_server.addr}", "credentials go only to")
        for args in (("status", "Local", "--check"), ("status", "Local", "--check", "--json")):
            checked = a.run(*args)
            assert_no_crash(checked.stderr)
            assert checked.code == 8, checked
            assert f"kept in Vault at {elsewhere}, but VAULT_ADDR is {vault_server.addr}" in checked.stderr
        status = a.run("status", "Local")
        assert_no_crash(status.stderr)
        assert received == []
        approle = a.run("token", "Local", VAULT_TOKEN=None, VAULT_ROLE_ID="role", VAULT_SECRET_ID="secret")
        assert approle.code == 8, approle.stderr  # nor an AppRole login
        assert received == []
        # Without VAULT_ADDR there is no Vault to send anything to.
        assert_error_line(a.run("token", "Local", VAULT_ADDR=None), 8, "VAULT_ADDR is not set", elsewhere)
        assert received == []
    finally:
        server.shutdown()
        server.server_close()


def test_plain_http_to_another_host_is_refused_unless_the_user_opts_in(team, fake_server, vault_server):
    a, = team(fake_server, "a")
    server, url, received = _recording_vault()
    port = url.rsplit(":", 1)[1]
    try:
        # 0.0.0.0 is not a loopback address, yet on Linux it reaches this machine's listener.
        remote = f"http://0.0.0.0:{port}"
        for args in (("token", "Team"), ("list",), ("status", "Team")):
            result = a.run(*args, VAULT_ADDR=remote)
            assert_no_crash(result.stderr)
            assert "plain http to another host" in result.stderr, args
        assert_error_line(a.run("token", "Team", VAULT_ADDR=remote), 8, "unencrypted", "https://",
                          "INTEGRAY_AUTH_VAULT_ALLOW_HTTP=1")
        assert received == []
        opted_in = a.run("token", "Team", VAULT_ADDR=remote, INTEGRAY_AUTH_VAULT_ALLOW_HTTP="1")
        assert_no_crash(opted_in.stderr)
        assert received and received[0] == vault_server.token  # sent, because the user said so
    finally:
        server.shutdown()
        server.server_close()
    for loopback in (vault_server.addr, vault_server.addr.replace("127.0.0.1", "localhost")):
        assert a.run("list", VAULT_ADDR=loopback).code == 0


def test_the_approle_role_id_never_reaches_execs_command(team, fake_server, vault_server):
    a, = team(fake_server, "a")
    seed_file_authorization(a)
    ran = a.run("exec", "Local", "--", "env", VAULT_ROLE_ID="role-id-value", VAULT_SECRET_ID="secret-id-value")
    assert ran.code == 0, ran.stderr
    assert "INTEGRAY_AUTH_TOKEN=access-1" in ran.stdout.splitlines()
    for secret in ("role-id-value", "secret-id-value", vault_server.token):
        assert secret not in ran.stdout
    assert f"VAULT_ADDR={vault_server.addr}" in ran.stdout.splitlines()
