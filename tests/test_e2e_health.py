"""End to end, through the installed command, the real authorization server
(django-oauth-toolkit) and a real GNOME Keyring: health in `list --json`,
`status [--check]` and its exit codes, deactivation that stops use,
`deactivate --revoke`, `token`'s options and formats, `exec`, and commands
that never wait for a person who is not there.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.support.cli import SCRIPT, assert_error_line, assert_no_crash
from tests.support.e2e import Cli, overlay_for, refresh_count, stored_tokens
from tests.support.stand_in import QuietHandler, serve

pytestmark = pytest.mark.e2e


def _proxy_without_refresh_tokens(server):
    """A stand-in token endpoint: forwards every request to the real server and
    drops refresh_token from its answers, as a provider that issues none would."""

    class Proxy(QuietHandler):
        def do_POST(self):
            body = self.read_body()
            answer = requests.post(
                server["token_endpoint"], data=body, timeout=10,
                headers={"Content-Type": self.headers.get("Content-Type", "application/x-www-form-urlencoded")},
            )
            data = answer.json()
            if isinstance(data, dict):
                data.pop("refresh_token", None)
            self.send_json(answer.status_code, data)

    return serve(Proxy)


def _refusing_revocation():
    class Refusing(QuietHandler):
        def do_POST(self):
            self.read_body()
            self.send_json(503, {"error": "temporarily_unavailable"})

    return serve(Refusing)


def _with_more_providers(server, path: Path, no_refresh_url: str, refusing_url: str) -> Path:
    overlay_for(server, path)
    text = path.read_text()
    common = f'''
authorization_url = "{server["authorization_endpoint"]}"
userinfo_url = "{server["userinfo_endpoint"]}"
client_id = "{server["client_id"]}"
pkce = "required"
[providers.{{id}}.scopes]
openid = "Sign you in"
read = "Read your data"
[providers.{{id}}.connectors.reader]
name = "Reader"
description = "Reads data."
scopes = ["openid", "read"]
'''
    text += f'''
[providers.norefresh]
name = "No Refresh"
token_url = "{no_refresh_url}/token"
{common.format(id="norefresh")}

[providers.refusing]
name = "Refusing Revoker"
token_url = "{server["token_endpoint"]}"
revocation_url = "{refusing_url}/revoke"
revoke_page_url = "https://example.com/account/apps"
{common.format(id="refusing")}
'''
    path.write_text(text)
    return path


@pytest.fixture
def short_server(auth_server_factory):
    return auth_server_factory(access_token_expire_seconds=2)


@pytest.fixture
def stand_ins(short_server):
    proxy, proxy_url = _proxy_without_refresh_tokens(short_server)
    refusing, refusing_url = _refusing_revocation()
    yield proxy_url, refusing_url
    proxy.shutdown()
    refusing.shutdown()


@pytest.fixture
def short(cli, short_server, stand_ins, keyring_env, tmp_path) -> Cli:
    """Tokens that live 2 s, on the real server (and providers `norefresh`, `refusing`)."""
    overlay = _with_more_providers(short_server, tmp_path / "providers.toml", *stand_ins)
    return Cli(cli, overlay, keyring_env)


@pytest.fixture
def ia(cli, auth_server, stand_ins, keyring_env, tmp_path) -> Cli:
    """Tokens that live an hour, on the shared real server."""
    overlay = _with_more_providers(auth_server, tmp_path / "providers.toml", *stand_ins)
    return Cli(cli, overlay, keyring_env)


def _health(ia: Cli, view: str = "--all") -> dict:
    listed = ia("list", view, "--json")
    assert listed.code == 0, listed.stderr
    return {a["name"]: (a["health"], a["usable"], a["active"]) for a in listed.json()["authorizations"]}


def _revoke_refresh_token(server, keyring_env, authorization_id: str) -> str:
    refresh_token = stored_tokens(keyring_env, authorization_id)["refresh_token"]
    answer = requests.post(server["revocation_endpoint"], data={
        "token": refresh_token, "token_type_hint": "refresh_token", "client_id": server["client_id"]}, timeout=10)
    assert answer.status_code == 200, answer.text
    return refresh_token


def _entry(home: Path, authorization_id: str) -> dict:
    return next(e for e in json.loads((home / "index.json").read_text())["authorizations"] if e["id"] == authorization_id)


def _refresh_at_server(server, refresh_token: str) -> requests.Response:
    return requests.post(server["token_endpoint"], data={
        "grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": server["client_id"]}, timeout=10)


# --- every health value, for a real authorization driven into it ----------------------------


def test_every_health_value_appears_in_list_json(short, http_browser, short_server, keyring_env):
    fine = short.add("Fine", "local", "reader", browser=http_browser)
    short.add("Lacking", "local", "reader", browser=http_browser)
    revoked = short.add("Revoked", "local", "reader", browser=http_browser)
    short.add("Dead End", "norefresh", "reader", browser=http_browser)
    assert short("add", "Not Yet", "-p", "local", "-c", "reader", "--no-authorize").code == 0
    assert short("connectors", "add", "Lacking", "writer").code == 0
    _revoke_refresh_token(short_server, keyring_env, revoked["id"])
    time.sleep(2.5)  # every access token has expired now

    # The stored facts health rests on: whether a refresh token exists, not the token.
    assert fine["renewable"] is True and short.state("Dead End")["renewable"] is False
    assert stored_tokens(keyring_env, short.state("Dead End")["id"])["refresh_token"] is None
    # The provider rejects the refresh of the revoked grant: recorded, not just Not authorized.
    rejected = short("token", "Revoked")
    assert_error_line(rejected, 12, "invalid_grant", "integray-auth authorize Revoked")

    assert _health(short) == {
        "Fine": ("authorized", True, True),
        "Lacking": ("missing_scopes", False, True),
        "Revoked": ("needs_reauthorization", False, True),
        "Dead End": ("expired", False, True),
        "Not Yet": ("not_authorized", False, True),
    }
    state = short.state("Revoked")
    assert state["status"] == "not_authorized" and state["health"] == "needs_reauthorization"
    # The table says it in words; show adds the expiry and the last refresh.
    table = short("list").stdout
    for words in ("\tAuthorized\t", "\tMissing scopes\t", "\tNeeds re-authorization\t", "\tExpired\t", "\tNot authorized\t"):
        assert words in table, table
    assert short("token", "Fine").code == 0  # refreshes it
    shown = short("show", "Fine").stdout
    assert "Status:     Authorized" in shown
    assert f"Refreshed:  {short.state('Fine')['refreshed_at']}" in shown and short.state("Fine")["refreshed_at"]
    assert "Expires:    " in shown
    dead = short("show", "Dead End").stdout
    assert "Status:     Expired (and the provider gave no refresh token)" in dead and "(expired)" in dead
    assert "Needs re-authorization (the provider rejected the refresh)" in short("show", "Revoked").stdout
    # search reports the same health.
    found = short("search", "Dead", "--json")
    assert [a["health"] for a in found.json()["authorizations"]] == ["expired"]

    # authorize clears what was recorded against the old grant.
    again = short("authorize", "Revoked", env=http_browser.env())
    http_browser.result()
    assert again.code == 0, again.stderr
    assert _health(short)["Revoked"] == ("authorized", True, True)


def test_changed_endpoints_show_as_needs_reauthorization(ia, http_browser, tmp_path):
    ia.add("Moved", "local", "reader", browser=http_browser)
    moved = tmp_path / "moved.toml"
    moved.write_text(ia.overlay.read_text().replace(
        'token_url = "http://127.0.0.1', 'token_url = "http://localhost', 1))
    moved_ia = Cli(ia.cli, moved, ia.env)

    assert _health(moved_ia)["Moved"] == ("needs_reauthorization", False, True)
    assert "(the registry names other endpoints)" in moved_ia("show", "Moved").stdout
    assert _health(ia)["Moved"] == ("authorized", True, True)


# --- status ---------------------------------------------------------------------------------


def test_status_exit_codes_and_json(ia, http_browser, auth_server, keyring_env):
    ia.add("Good", "local", "reader", browser=http_browser)
    ia.add("Asleep", "local", "reader", browser=http_browser)
    assert ia("add", "Pending", "-p", "local", "-c", "reader", "--no-authorize").code == 0
    assert ia("deactivate", "Asleep").code == 0
    before = auth_server.counts()

    good = ia("status", "Good")
    assert (good.code, good.stderr) == (0, "")
    assert good.stdout.split("\t")[:3] == ["Good", "Authorized", "yes"]
    assert auth_server.counts() == before  # local state only

    checked = ia("status", "Good", "--check", "--json")
    assert checked.code == 0, checked.stderr
    [line] = checked.json()["authorizations"]
    assert (line["health"], line["usable"], line["check"], line["fix"]) == ("authorized", True, "accepted", None)

    everyone = ia("status", "--json")  # every active one: Good and Pending
    assert everyone.code == 12
    document = everyone.json()
    assert document["schema_version"] == 1 and document["exit_code"] == 12
    assert {a["name"]: (a["health"], a["fix"]) for a in document["authorizations"]} == {
        "Good": ("authorized", None), "Pending": ("not_authorized", "integray-auth authorize Pending")}

    asleep = ia("status", "Asleep")
    assert asleep.code == 13 and asleep.stdout.rstrip("\n").endswith("integray-auth activate Asleep")
    refused = ia("status", "--check", "Asleep")
    assert refused.code == 13
    assert "integray-auth: authorization 'Asleep' is deactivated" in refused.stderr
    assert "Run: integray-auth activate Asleep" in refused.stderr
    assert_no_crash(refused.stderr)
    both = ia("status", "Asleep", "Pending")
    assert both.code == 12  # needs you outranks deactivated

    # The provider stops accepting the access token: only --check can know.
    access = stored_tokens(keyring_env, ia.state("Good")["id"])["access_token"]
    answer = requests.post(auth_server["revocation_endpoint"], data={
        "token": access, "token_type_hint": "access_token", "client_id": auth_server["client_id"]}, timeout=10)
    assert answer.status_code == 200
    assert ia("status", "Good").code == 0
    rejected = ia("status", "Good", "--check", "--json")
    assert rejected.code == 12, rejected.stderr
    [line] = rejected.json()["authorizations"]
    assert (line["health"], line["check"], line["fix"]) == ("needs_reauthorization", "rejected", "integray-auth authorize Good")
    assert "rejected the access token of 'Good'" in rejected.stderr


def test_what_status_check_learns_is_kept_until_the_user_authorizes_again(ia, http_browser, auth_server, keyring_env, home):
    """The grant is revoked at the provider while the access token still looks valid here:
    only --check can learn it, and `list`, `show` and `status` say it from then on."""
    revoked = ia.add("Revoked Grant", "local", "reader", browser=http_browser)
    ia.add("Fine", "local", "reader", browser=http_browser)
    access = stored_tokens(keyring_env, revoked["id"])["access_token"]
    _revoke_refresh_token(auth_server, keyring_env, revoked["id"])
    answer = requests.post(auth_server["revocation_endpoint"], data={
        "token": access, "token_type_hint": "access_token", "client_id": auth_server["client_id"]}, timeout=10)
    assert answer.status_code == 200
    assert _health(ia)["Revoked Grant"] == ("authorized", True, True)  # nothing here can know yet

    checked = ia("status", "--check", "Revoked Grant", "Fine", "--json")

    assert checked.code == 12, checked.stderr
    lines = {line["name"]: line for line in checked.json()["authorizations"]}
    assert (lines["Revoked Grant"]["health"], lines["Revoked Grant"]["check"]) == ("needs_reauthorization", "rejected")
    assert (lines["Fine"]["health"], lines["Fine"]["check"]) == ("authorized", "accepted")
    # Kept: every later read says it, without asking the provider.
    assert _health(ia) == {"Revoked Grant": ("needs_reauthorization", False, True), "Fine": ("authorized", True, True)}
    entry = _entry(home, revoked["id"])  # a moment, never a token
    assert entry["status"] == "authorized" and entry["rejected_at"].endswith("Z")
    assert access not in (home / "index.json").read_text()
    shown = ia("show", "Revoked Grant")
    assert "Status:     Needs re-authorization (the provider rejected its access token: status --check)" in shown.stdout
    assert ia("show", "Revoked Grant", "--json").json()["authorization"]["health"] == "needs_reauthorization"
    local = ia("status", "Revoked Grant")
    assert local.code == 12, local.stderr
    assert local.stdout.split("\t")[:3] == ["Revoked Grant", "Needs re-authorization", "yes"]  # Active: yes
    assert local.stdout.rstrip("\n").endswith("integray-auth authorize 'Revoked Grant'")
    assert ia("status", "Fine").code == 0

    # A new consent clears it.
    again = ia("authorize", "Revoked Grant", env=http_browser.env())
    http_browser.result()
    assert again.code == 0, again.stderr
    assert _health(ia)["Revoked Grant"] == ("authorized", True, True)
    assert _entry(home, revoked["id"])["rejected_at"] is None
    assert ia("status", "Revoked Grant").code == 0
    assert ia("status", "--check", "Revoked Grant").code == 0


def test_status_check_renews_what_is_due(short, http_browser, short_server):
    short.add("Due", "local", "reader", browser=http_browser)
    time.sleep(2.5)
    refreshes = refresh_count(short_server)

    checked = short("status", "--check", "Due")

    assert checked.code == 0, checked.stderr
    assert refresh_count(short_server) == refreshes + 1
    assert checked.stdout.split("\t")[:4] == ["Due", "Authorized", "yes", "accepted"]


# --- deactivation means stop ----------------------------------------------------------------


def test_deactivate_stops_every_use_and_activate_restores_it(ia, http_browser, tmp_path):
    ia.add("Paused", "local", "reader", browser=http_browser)
    assert ia("token", "Paused").code == 0

    done = ia("deactivate", "Paused")
    assert done.code == 0 and "integray-auth activate Paused" in done.stderr

    for args in (["token", "Paused"], ["token", "Paused", "--format", "json"], ["refresh", "Paused"],
                 ["exec", "Paused", "--", "true"]):
        assert_error_line(ia(*args), 13, "'Paused' is deactivated", "Run: integray-auth activate Paused")
    assert _health(ia)["Paused"] == ("authorized", False, False)  # tokens kept

    assert ia("activate", "Paused").code == 0
    again = ia("token", "Paused")
    assert again.code == 0 and again.stdout.strip()


def test_deactivate_revoke_revokes_at_the_provider_and_deletes_the_tokens(ia, http_browser, auth_server, keyring_env):
    state = ia.add("Gone", "local", "reader", browser=http_browser)
    old_refresh = stored_tokens(keyring_env, state["id"])["refresh_token"]
    revocations = auth_server.counts().get("revoke", 0)

    done = ia("deactivate", "Gone", "--revoke")

    assert done.code == 0, done.stderr
    assert_no_crash(done.stderr)
    assert "Revoked the grant at Local Test Server." in done.stderr
    assert auth_server.counts().get("revoke", 0) == revocations + 1
    assert _refresh_at_server(auth_server, old_refresh).json().get("error") == "invalid_grant"
    after = ia.state("Gone")
    assert (after["status"], after["health"], after["active"], after["storage"]) == ("not_authorized", "not_authorized", False, None)
    assert_error_line(ia("token", "Gone"), 13, "is deactivated")
    assert ia("activate", "Gone").code == 0
    assert_error_line(ia("token", "Gone"), 12, "is not authorized", "integray-auth authorize Gone")


def test_a_failed_revocation_says_where_to_revoke_by_hand_and_still_deletes_the_tokens(ia, http_browser, keyring_env):
    state = ia.add("Stubborn", "refusing", "reader", browser=http_browser)

    done = ia("deactivate", "Stubborn", "--revoke")

    assert done.code == 0, done.stderr
    assert_no_crash(done.stderr)
    assert "could not revoke the grant at Refusing Revoker" in done.stderr
    assert "https://example.com/account/apps" in done.stderr
    after = ia.state("Stubborn")
    assert (after["status"], after["active"], after["storage"]) == ("not_authorized", False, None)
    code = "import sys\nfrom integray_auth.stores.secrets import ChunkedTokens, KeyringStore\nprint(ChunkedTokens(KeyringStore()).load(sys.argv[1]))\n"
    env = {k: v for k, v in {**os.environ, **keyring_env}.items() if v is not None}
    loaded = subprocess.run([sys.executable, "-c", code, state["id"]], env=env, capture_output=True, text=True, timeout=30)
    assert loaded.stdout.strip() == "None"


# --- token for scripts ------------------------------------------------------------------------


def test_min_valid_and_force_refresh_refresh_exactly_when_asked(cli, auth_server_factory, http_browser, keyring_env, tmp_path):
    server = auth_server_factory(access_token_expire_seconds=300)
    ia = Cli(cli, overlay_for(server, tmp_path / "providers.toml"), keyring_env)
    ia.add("Timed", "local", "reader", browser=http_browser)
    # Under 295 s left now; a renewed token lives 300 s, so asking for 295 needs
    # one refresh and then has 5 s to spare on a loaded machine (299 had 1 s and failed).
    time.sleep(6)

    assert ia("token", "Timed").code == 0
    assert ia("token", "Timed", "--min-valid", "200").code == 0
    assert refresh_count(server) == 0

    longer = ia("token", "Timed", "--min-valid=295")
    assert longer.code == 0, longer.stderr
    assert refresh_count(server) == 1
    assert longer.stdout.strip() == stored_tokens(keyring_env, ia.state("Timed")["id"])["access_token"]

    forced = ia("token", "Timed", "--force-refresh")
    assert forced.code == 0 and forced.stdout.strip() != longer.stdout.strip()
    assert refresh_count(server) == 2

    too_long = ia("token", "Timed", "--min-valid", "3600")
    assert_error_line(too_long, 2, "live less than the 3600 seconds")
    assert refresh_count(server) == 3  # it tried: the renewed token is kept
    bad = ia("token", "Timed", "--min-valid", "soon")
    assert bad.code == 2 and bad.stdout == ""


def test_every_token_format_prints_exactly_that(ia, http_browser, keyring_env):
    state = ia.add("Formats", "local", "reader", browser=http_browser)
    token = stored_tokens(keyring_env, state["id"])["access_token"]

    assert ia("token", "Formats").stdout == token + "\n"
    assert ia("token", "Formats", "--format", "raw").stdout == token + "\n"
    assert ia("token", "Formats", "--format=header").stdout == f"Authorization: Bearer {token}\n"
    document = ia("token", "Formats", "--format", "json").json()
    assert document == {
        "schema_version": 1, "access_token": token, "token_type": "Bearer",
        "expires_at": state["expires_at"], "scopes": document["scopes"]}
    assert sorted(document["scopes"]) == ["openid", "read"]
    line = ia("token", "Formats", "--format", "env").stdout
    assert "'" not in token and line == f"INTEGRAY_AUTH_TOKEN='{token}'\n"  # always single-quoted
    evaluated = subprocess.run(
        ["sh", "-c", f'eval "$({shlex.quote(str(SCRIPT))} --registry {shlex.quote(str(ia.overlay))} token Formats --format env)"; '
         'printf %s "$INTEGRAY_AUTH_TOKEN"'],
        env={k: v for k, v in {**os.environ, **ia.env}.items() if v is not None}, capture_output=True, text=True, timeout=60,
    )
    assert evaluated.stdout == token, evaluated.stderr
    unknown = ia("token", "Formats", "--format", "yaml")
    assert unknown.code == 2 and unknown.stdout == "" and "yaml" in unknown.stderr


# --- exec -------------------------------------------------------------------------------------


CHILD = r"""
import json, os, sys
with open(f"/proc/{os.getpid()}/cmdline", "rb") as f:
    cmdline = f.read().decode()
with open(f"/proc/{os.getppid()}/cmdline", "rb") as f:
    parent = f.read().decode()
json.dump({"env": dict(os.environ), "cmdline": cmdline, "parent": parent}, open(sys.argv[1], "w"))
sys.exit(int(sys.argv[2]))
"""


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads /proc/PID/cmdline")
def test_exec_puts_the_token_in_the_environment_only(ia, http_browser, keyring_env, tmp_path):
    state = ia.add("Exec", "local", "reader", browser=http_browser)
    token = stored_tokens(keyring_env, state["id"])["access_token"]
    seen = tmp_path / "seen.json"
    secrets = {"INTEGRAY_AUTH_LOCAL_CLIENT_SECRET": "s3cret-of-ours", "INTEGRAY_AUTH_HTTP_TIMEOUT": "30"}

    done = ia("exec", "Exec", "--", sys.executable, "-c", CHILD, str(seen), "7", env=secrets)

    assert done.code == 7, done.stderr  # the child's exit code is ours
    assert_no_crash(done.stderr)
    child = json.loads(seen.read_text())
    assert child["env"]["INTEGRAY_AUTH_TOKEN"] == token
    assert token not in child["cmdline"] and token not in child["parent"]  # what ps shows
    assert "INTEGRAY_AUTH_LOCAL_CLIENT_SECRET" not in child["env"]
    assert "s3cret-of-ours" not in json.dumps(child)
    assert child["env"]["INTEGRAY_AUTH_HTTP_TIMEOUT"] == "30"  # settings stay: the child may run us

    other = ia("exec", "Exec", "--env-var", "API_TOKEN", "--", sys.executable, "-c", CHILD, str(seen), "0")
    assert other.code == 0, other.stderr
    env = json.loads(seen.read_text())["env"]
    assert env["API_TOKEN"] == token and "INTEGRAY_AUTH_TOKEN" not in env

    missing = ia("exec", "Exec", "--", "no-such-command-here")
    assert_error_line(missing, 127, "command not found: 'no-such-command-here'")
    assert_error_line(ia("exec", "Exec", "--env-var", "A-B", "--", "true"), 2, "is not a variable name")


# --- nobody to answer -------------------------------------------------------------------------


def test_add_in_ci_without_a_browser_or_terminal_fails_at_once_and_starts_nothing(ia, auth_server, home):
    before = auth_server.counts()
    started = time.monotonic()

    done = ia("add", "Quick", "-p", "local", "-c", "reader", env={"CI": "true", "BROWSER": None, "DISPLAY": None})

    elapsed = time.monotonic() - started
    # Not a speed figure: it must not sit out the consent's deadline (minutes) waiting for nobody.
    assert elapsed < 30, elapsed
    line = assert_error_line(done, 2, "nobody can here: CI is set", "nothing was started or saved")
    assert line.endswith("Run it where a person can open a browser: integray-auth add Quick -p local -c reader")
    assert auth_server.counts() == before
    assert ia("list", "--all", "--json").json()["authorizations"] == []


def test_no_input_and_its_variable_refuse_before_a_browser_starts(ia, http_browser):
    ia("add", "Later", "-p", "local", "-c", "reader", "--no-authorize")

    flag = ia("authorize", "Later", "--no-input", env=http_browser.env())
    variable = ia("authorize", "Later", env={**http_browser.env(), "INTEGRAY_AUTH_NO_INPUT": "1"})
    prompt = ia("add", "Other", "--no-input", env=http_browser.env())  # would prompt for --provider on a terminal

    assert_error_line(flag, 2, "--no-input was given", "integray-auth authorize Later")
    assert_error_line(variable, 2, "INTEGRAY_AUTH_NO_INPUT is set")
    assert_error_line(prompt, 2, "missing --provider")
    assert not http_browser.started()


def test_no_terminal_and_no_display_fails_at_once_instead_of_waiting(ia):
    ia("add", "Headless", "-p", "local", "-c", "reader", "--no-authorize")
    started = time.monotonic()

    done = ia("authorize", "Headless", "--timeout", "30", env={"BROWSER": None, "DISPLAY": None, "WAYLAND_DISPLAY": None, "CI": None})

    # Not a speed check: well under the 30 s it would wait, so waiting is told from failing at once.
    assert time.monotonic() - started < 15
    assert_error_line(done, 2, "no browser can be started", "integray-auth authorize Headless")


def test_the_hint_names_the_device_flow_where_the_provider_allows_it(cli):
    done = cli("add", "Hub", "-p", "github", "-c", "list-repositories", "--client-id", "abc", "--insecure-storage",
               "--no-input", env={"INTEGRAY_AUTH_GITHUB_CLIENT_SECRET": "x", "DISPLAY": ":0"})

    line = assert_error_line(done, 2, "--no-input was given")
    assert line.endswith(
        "Run it where a person can open a browser: integray-auth add Hub -p github -c list-repositories "
        "(or add --device to enter a code on another device: integray-auth add Hub -p github -c list-repositories --device)"
    )
