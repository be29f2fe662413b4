"""End to end: the installed command's loopback listener against a second local user and
hostile clients, and the browser it starts, against the real authorization server and the
real keyring (fixtures: tests/test_e2e_authorize.py, tests/support/plugin.py)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from integray_auth.oauth import loopback
from tests.support.cli import SCRIPT, assert_no_crash
from tests.support.e2e import overlay, pinned_ports, run_command, state_of  # noqa: F401 - fixtures

pytestmark = pytest.mark.e2e

ONE_TIME_RE = re.compile(r"(http://127\.0\.0\.1:(\d+)/[A-Za-z0-9_-]{40,})\n")
# With --no-browser the full URL comes first, on its own line (the short one works only here).
FULL_RE = re.compile(r"^  (\S+[?&]state=\S+)$", re.M)


class WaitingFlow:
    """`add NAME --no-browser` running in the background, its URLs read from stderr."""

    def __init__(self, overlay, keyring_env: dict, name: str) -> None:
        env = {k: v for k, v in {**os.environ, **keyring_env}.items() if v is not None}
        self.proc = subprocess.Popen(
            [str(SCRIPT), "--registry", str(overlay), "add", name, "-p", "local", "-c", "reader", "--no-browser",
             "--timeout", "90"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
        )
        seen = ""
        deadline = time.monotonic() + 30
        while not (FULL_RE.search(seen) and ONE_TIME_RE.search(seen)) and time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            seen += line
        self.seen = seen
        match = ONE_TIME_RE.search(seen)
        assert match and FULL_RE.search(seen), seen
        self.local_url, self.port = match.group(1), int(match.group(2))
        self.full_url = FULL_RE.search(seen).group(1)
        self.state = parse_qs(urlsplit(self.full_url).query)["state"][0]

    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def finish(self, timeout: float = 60) -> tuple[int, str]:
        _, rest = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, self.seen + rest

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


@pytest.fixture
def waiting_flow(overlay, keyring_env):  # noqa: F811
    flows = []

    def start(name: str) -> WaitingFlow:
        flows.append(WaitingFlow(overlay, keyring_env, name))
        return flows[-1]

    yield start
    for flow in flows:
        flow.kill()


def _open_in_browser(browser, url: str) -> dict:
    """The scripted browser opens url, as the user would after copying it."""
    env = {**os.environ, **browser.env()}
    subprocess.run([str(browser.shim), url], env=env, check=True, timeout=30)
    return browser.result()


def _nothing_useful(response: requests.Response, state: str) -> None:
    assert "Location" not in response.headers
    assert state not in response.text and "code_challenge" not in response.text


def _get(url: str, **headers) -> requests.Response:
    return requests.get(url, headers=headers or None, timeout=10, allow_redirects=False)


def test_a_second_local_user_gets_nothing_and_the_real_flow_still_completes(
    cli, overlay, waiting_flow, http_browser  # noqa: F811
):
    flow = waiting_flow("Victim")
    # What another local account can do without having been shown the URL:
    root = _get(flow.base() + "/")
    assert root.status_code == 404
    _nothing_useful(root, flow.state)
    # ... or with a Host that is not the listener's (a web page after DNS rebinding),
    # even knowing the one-time URL and the state:
    rebound = {"Host": f"attacker.example:{flow.port}"}
    for url in (flow.local_url, flow.base() + "/callback?" + urlencode({"code": "attacker-code", "state": flow.state})):
        response = _get(url, **rebound)
        assert response.status_code == 421
        _nothing_useful(response, flow.state)
    guessed = _get(flow.base() + "/callback?" + urlencode({"code": "attacker-code", "state": "guessed"}))
    assert guessed.status_code == 400

    browser = _open_in_browser(http_browser, flow.local_url)
    code, stderr = flow.finish()
    assert code == 0, stderr
    assert browser["ok"] and browser["callback_status"] == 200, browser
    assert_no_crash(stderr)
    assert state_of(cli, overlay, "Victim")["status"] == "authorized"


def test_a_one_time_url_opened_twice_stops_the_flow_and_saves_nothing(cli, overlay, waiting_flow, http_browser):  # noqa: F811
    flow = waiting_flow("Raced")
    first = _get(flow.local_url)  # somebody got there first (e.g. read it off `ps`)
    assert first.status_code == 302
    browser = _open_in_browser(http_browser, flow.local_url)  # the user's browser comes second
    code, stderr = flow.finish()
    assert code == 9, stderr
    assert "opened twice" in stderr and "saved nothing" in stderr
    assert_no_crash(stderr)
    assert not browser["ok"] and "HTTP 410" in browser["error"], browser  # "Link already used"
    assert run_command(cli, overlay, "list", "--all", "--json").json()["authorizations"] == []


def test_the_browser_gets_no_secret_and_no_authorization_request(
    cli, overlay, recording_browser, keyring_env, auth_server  # noqa: F811
):
    secret = auth_server["confidential_client_secret"]
    env = {
        **recording_browser.env(),
        **keyring_env,
        "INTEGRAY_AUTH_LOCALCONF_CLIENT_SECRET": secret,
        "INTEGRAY_AUTH_GOOGLE_CLIENT_SECRET": "another-providers-secret",
    }
    result = run_command(cli, overlay, "add", "Conf", "-p", "localconf", "-c", "reader", env=env)
    browser = recording_browser.after.result()
    assert result.code == 0, result.stderr
    assert browser["ok"], browser

    record = recording_browser.record()
    environ = json.dumps(record["environ"])
    assert secret not in environ and "another-providers-secret" not in environ
    assert not any(name.startswith("INTEGRAY_AUTH_") for name in record["environ"])
    assert record["environ"]["OAUTH_TEST_RESULT"]  # the rest of the environment is passed on
    # Its command line (what `ps` shows every local user) is the one-time URL only.
    argv = " ".join(record["argv"][1:])
    assert ONE_TIME_RE.fullmatch(argv + "\n"), argv
    for leak in ("state", "code_challenge", "redirect_uri", "client_id", "?"):
        assert leak not in argv


def test_repeated_parameters_and_a_wrong_host_do_not_end_the_flow(cli, overlay, http_browser, keyring_env):  # noqa: F811
    steps = ["duplicate_state", "duplicate_code", "wrong_host"]
    result = run_command(cli, overlay, "add", "Strict", "-p", "local", "-c", "reader",
                  env={**http_browser.env(prelude=steps), **keyring_env})
    browser = http_browser.result()
    assert result.code == 0, result.stderr
    # A last-one-wins parser would have taken the first two as the answer (the real
    # state and code come last); the Host check refuses the real callback sent to a wrong name.
    assert browser["prelude"] == {"duplicate_state": 400, "duplicate_code": 400, "wrong_host": 421}
    assert browser["callback_status"] == 200
    assert state_of(cli, overlay, "Strict")["status"] == "authorized"


def _closed_by_peer(sock: socket.socket, timeout: float) -> bool:
    sock.settimeout(timeout)
    try:
        return sock.recv(100) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def test_slow_and_idle_connections_do_not_hold_the_listener(cli, overlay, waiting_flow, http_browser):  # noqa: F811
    flow = waiting_flow("Busy")
    address = ("127.0.0.1", flow.port)
    idle = [socket.create_connection(address, timeout=5) for _ in range(loopback.MAX_CONNECTIONS - 1)]
    trickler = socket.create_connection(address, timeout=5)
    try:
        time.sleep(0.3)
        extra = socket.create_connection(address, timeout=5)
        assert _closed_by_peer(extra, 3)  # beyond the bound: closed at once, no thread
        extra.close()
        started = time.monotonic()
        cut = False
        # A byte a second never trips a per-read timeout; the request deadline cuts it.
        for byte in b"GET /favicon.ico HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 60:
            try:
                trickler.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                cut = True
                break
            if _closed_by_peer(trickler, 1.0):
                cut = True
                break
            if time.monotonic() - started > loopback.REQUEST_DEADLINE + 5:
                break
        assert cut and time.monotonic() - started < loopback.REQUEST_DEADLINE + 3
        assert all(_closed_by_peer(sock, 3) for sock in idle)
    finally:
        for sock in (*idle, trickler):
            sock.close()

    browser = _open_in_browser(http_browser, flow.local_url)
    code, stderr = flow.finish()
    assert code == 0, stderr
    assert browser["ok"], browser
    assert state_of(cli, overlay, "Busy")["status"] == "authorized"
