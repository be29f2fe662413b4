"""MCP servers as authorizations, end to end against a real authorization server: panva's
oidc-provider with dynamic client registration and resource indicators (RFC 8707) in front
of a small MCP server built with the MCP SDK (tests/support/mcp/), consent through Debian's
headless Chromium, tokens in a real GNOME Keyring, through the installed command:
`add --resource` discovers and registers, the token is for the MCP server (its audience),
a refresh names the resource, an agent uses the server through `mcp proxy`, a 403
insufficient_scope steps up through a new consent, and ten proxies on an expired token
make one refresh.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from integray_auth.stores.files import take_lock
from integray_auth.stores.locks import lock_path
from tests.support.cli import SCRIPT, assert_no_crash, environment
from tests.support.e2e import expire_in_keyring, stored_tokens
from tests.support.mcp.servers import OIDC_PROVIDER, running
from tests.support.plugin import require

pytestmark = pytest.mark.e2e

AGENT = Path(__file__).resolve().parent / "support" / "mcp" / "agent.py"


@pytest.fixture
def servers(tmp_path):
    require("node", "Node.js is not installed (it runs oidc-provider)")
    require("python:uvicorn", "uvicorn is missing (the MCP SDK brings it)")
    if not (OIDC_PROVIDER / "node_modules" / "oidc-provider").is_dir():
        require(str(OIDC_PROVIDER / "node_modules" / "never-there"), "oidc-provider is not installed (npm ci --prefix tests/support/oidc_provider)")
    with running(tmp_path) as started:
        yield started





def add(cli, name: str, servers, browser, keyring_env: dict):
    """`add NAME --resource URL`, consenting through the browser; its result, checked."""
    added = cli("add", name, "--resource", servers.url, "--timeout", "90", env={**keyring_env, **browser.env()}, timeout=150)
    assert added.code == 0, (added.stderr, browser.result(timeout=5) if browser.started() else "the browser never started")
    consented = browser.result()  # consumed here: each later consent has its own result
    assert consented["ok"], consented
    return added


def agent(env: dict, *calls: str, name: str = "Notes", timeout: float = 180, options: tuple = ()) -> tuple[dict, str]:
    """Run the test agent against `integray-auth mcp proxy NAME`; its JSON report and the proxy's stderr."""
    done = subprocess.run(
        [sys.executable, str(AGENT), ",".join(calls), "--", str(SCRIPT), "mcp", "proxy", name, *options],
        env=environment(env), capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
    )
    return json.loads(done.stdout), done.stderr


def test_add_resource_proxy_refresh_and_step_up(cli, servers, chromium_browser, keyring_env):
    added = add(cli, "Notes", servers, chromium_browser, keyring_env)
    assert_no_crash(added.stderr)
    assert "Authorized 'Notes'" in added.stderr
    assert servers.counts()["resources"]["authorization_code"] == [servers.url]

    shown = cli("show", "Notes", "--json", env=keyring_env)
    assert shown.code == 0, shown.stderr
    details = shown.json()["authorization"]
    assert [c["id"] for c in details["connectors"]] == ["mcp"] and "mcp:read" in details["requested_scopes"]
    described = {line["scope"]: line["description"] for line in details["scopes"]}
    assert described["mcp:read"] == "named by the server's 401 challenge"  # where the scope came from
    assert "offline_access" in details["requested_scopes"]  # the server lists it: a refresh token
    listed = cli("list", "--json", "name,provider", env=keyring_env).json()
    assert {"name": "Notes", "provider": details["provider"]} in listed["authorizations"]

    token = cli("token", "Notes", env=keyring_env).stdout.strip()
    assert servers.introspect(token)["aud"] == servers.url  # RFC 8707: a token for the MCP server
    fresh = cli("token", "Notes", "--force-refresh", env=keyring_env)
    assert fresh.code == 0, fresh.stderr
    assert fresh.stdout.strip() != token
    assert servers.counts()["resources"]["refresh_token"] == [servers.url]  # the refresh names the resource
    assert servers.introspect(fresh.stdout.strip())["aud"] == servers.url

    # Like any other authorization: status --check, refresh --all, exec, search.
    status = cli("status", "Notes", "--check", env=keyring_env)
    assert status.code == 0, status.stderr
    refreshed = cli("refresh", "--all", env=keyring_env)
    assert refreshed.code == 0, refreshed.stderr
    ran = cli("exec", "Notes", "--", sys.executable, "-c", "import os; print(len(os.environ['INTEGRAY_AUTH_TOKEN']) > 0)", env=keyring_env)
    assert ran.code == 0 and ran.stdout.strip() == "True", ran.stderr
    assert "Notes" in cli("search", "mcp:read", env=keyring_env).stdout

    report, stderr = agent(keyring_env, "whoami")
    assert report["failure"] is None, stderr
    assert set(report["tools"]) == {"whoami", "write_note"}
    assert not report["results"]["whoami"]["error"] and "mcp:read" in report["results"]["whoami"]["text"]
    assert report["logs"] == ["whoami was called"]  # the server's notification reached the agent
    assert fresh.stdout.strip() not in stderr

    # write_note needs mcp:write: the server answers 403 insufficient_scope, the proxy
    # asks for the union through a new consent (Chromium) and the call goes through.
    report, stderr = agent({**keyring_env, **chromium_browser.env()}, "write_note")
    assert report["failure"] is None, stderr
    assert report["results"]["write_note"] == {"error": False, "text": "written"}, stderr
    consented = chromium_browser.result()
    assert consented["ok"], consented
    after = cli("show", "Notes", "--json", "granted_scopes,requested_scopes", env=keyring_env).json()["authorization"]
    assert {"mcp:read", "mcp:write"} <= set(after["requested_scopes"])
    assert {"mcp:read", "mcp:write"} <= set(after["granted_scopes"])
    assert servers.counts()["resources"]["authorization_code"] == [servers.url, servers.url]


def test_without_anyone_to_consent_the_proxy_ends_with_the_command_to_run(cli, servers, keyring_env):
    done = subprocess.run(
        [str(SCRIPT), "mcp", "proxy", servers.url, "--no-input"], env=environment(keyring_env), capture_output=True,
        text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert_no_crash(done.stderr)
    assert "nobody can here" in done.stderr and "add" in done.stderr


def test_a_token_revoked_at_the_server_is_renewed_by_the_proxy(cli, servers, chromium_browser, keyring_env, home):
    import tomllib

    import requests

    add(cli, "Revoked", servers, chromium_browser, keyring_env)
    provider = cli("show", "Revoked", "--json", "provider", env=keyring_env).json()["authorization"]["provider"]
    client_id = tomllib.loads((home / "providers.toml").read_text())["providers"][provider]["client_id"]
    token = cli("token", "Revoked", env=keyring_env).stdout.strip()
    revoked = requests.post(f"{servers.issuer}/token/revocation", data={"token": token, "client_id": client_id}, timeout=10)
    assert revoked.status_code == 200 and servers.introspect(token)["active"] is False
    report, stderr = agent(keyring_env, "whoami", name="Revoked")  # 401, then one refresh, then served
    assert report["failure"] is None, stderr
    assert not report["results"]["whoami"]["error"], stderr
    assert servers.counts()["token"]["refresh_token"] == 1
    assert cli("token", "Revoked", env=keyring_env).stdout.strip() != token

    # The whole grant revoked (its refresh token): the refresh is refused, so the proxy
    # discovers the server again and a person consents anew (Chromium), then it serves.
    state = cli("show", "Revoked", "--json", "id", env=keyring_env).json()["authorization"]
    refresh_token = stored_tokens(keyring_env, state["id"])["refresh_token"]
    revoked = requests.post(f"{servers.issuer}/token/revocation", data={"token": refresh_token, "client_id": client_id}, timeout=10)
    assert revoked.status_code == 200
    report, stderr = agent({**keyring_env, **chromium_browser.env()}, "whoami", name="Revoked")
    assert report["failure"] is None, stderr
    assert not report["results"]["whoami"]["error"], stderr
    consented = chromium_browser.result()
    assert consented["ok"], consented
    assert len(servers.counts()["resources"]["authorization_code"]) == 2


def test_a_proxy_whose_server_is_down_ends_with_one_line(cli, servers, chromium_browser, keyring_env):
    add(cli, "Gone", servers, chromium_browser, keyring_env)
    mcp_server = servers.processes[0]
    mcp_server.kill()
    mcp_server.wait(10)
    done = subprocess.run([str(SCRIPT), "mcp", "proxy", "Gone"], env=environment(keyring_env), capture_output=True, text=True,
                          timeout=60, stdin=subprocess.PIPE)
    assert done.returncode == 11, done.stderr
    assert done.stdout == ""
    assert_no_crash(done.stderr)
    assert done.stderr.count("\n") == 1 and "did not start a session" in done.stderr and "cannot reach 127.0.0.1" in done.stderr


def test_a_request_the_server_never_answers_ends_at_its_deadline(cli, servers, chromium_browser, keyring_env):
    add(cli, "Stalled", servers, chromium_browser, keyring_env)
    # `stall` never answers; the proxy's deadline for it is --timeout plus INTEGRAY_AUTH_HTTP_TIMEOUT.
    report, stderr = agent({**keyring_env, "INTEGRAY_AUTH_HTTP_TIMEOUT": "2"}, "stall", "whoami", name="Stalled",
                           options=("--timeout", "3"))
    assert report["failure"] is None, stderr
    assert report["results"]["stall"]["error"] and "Timed out" in report["results"]["stall"]["text"], report
    assert not report["results"]["whoami"]["error"], (report, stderr)  # the proxy went on
    assert_no_crash(stderr)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to see who waits on the lock")
def test_ten_proxies_on_an_expired_token_make_one_refresh(cli, servers, chromium_browser, private_keyring_env, home):
    keyring_env = private_keyring_env  # ten processes at once on one keyring: not the session's (see the fixture)
    add(cli, "Race", servers, chromium_browser, keyring_env)
    state = cli("show", "Race", "--json", "id", env=keyring_env).json()["authorization"]
    expire_in_keyring(keyring_env, state["id"])
    lock = lock_path(home, state["id"])
    env = environment(keyring_env)
    # The lock is held while the ten start, so all ten read the expired token and then
    # queue for the lock: "at once", deterministically. The test speaks MCP to each proxy
    # itself (newline-delimited JSON-RPC, MCP's stdio transport), as an agent would.
    with take_lock(lock):
        proxies = [
            subprocess.Popen([str(SCRIPT), "mcp", "proxy", "Race"], env=env, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(10)
        ]
        deadline = time.monotonic() + 120
        while _holders(lock) < 10:
            assert time.monotonic() < deadline, [p.poll() for p in proxies]
            assert all(p.poll() is None for p in proxies), [p.communicate() for p in proxies if p.poll() is not None]
            time.sleep(0.1)
    for proxy in proxies:
        proxy.stdin.write("".join(json.dumps(m) + "\n" for m in SESSION))
        proxy.stdin.flush()
    for proxy in proxies:
        answer = _answer(proxy, 2)
        proxy.stdin.close()  # the agent goes away: the proxy ends
        assert proxy.wait(60) == 0, proxy.stderr.read()
        assert "mcp:read" in answer["result"]["content"][0]["text"], answer
    assert servers.counts()["token"].get("refresh_token") == 1


SESSION = [
    {"jsonrpc": "2.0", "id": 1, "method": "initialize",
     "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}},
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
    {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "whoami", "arguments": {}}},
]


def _answer(process: subprocess.Popen, request_id: int, timeout: float = 120) -> dict:
    """The proxy's answer to request `request_id` (every line of its stdout must be JSON-RPC)."""
    import threading

    found: dict = {}

    def read() -> None:
        for line in process.stdout:
            message = json.loads(line)  # stdout carries MCP only
            assert message.get("jsonrpc") == "2.0", line
            if message.get("id") == request_id:
                found.update(message)
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    assert found, f"no answer to request {request_id}; proxy stderr: {process.stderr.read() if process.poll() is not None else '(running)'}"
    return found


def _holders(path: Path) -> int:
    """How many processes have `path` open (they wait for its lock)."""
    count = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            count += any(os.readlink(fd) == str(path) for fd in (proc / "fd").iterdir())
        except OSError:
            continue
    return count - 1  # the test's own
