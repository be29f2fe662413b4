"""Fixtures every test gets: an isolated home, no reachable real keyring,
and a way to run the installed `integray-auth` command.

No test touches the developer's real files or keyring: INTEGRAY_AUTH_HOME
and the XDG folders point at a temp dir, D-Bus is cut off, and keyring's
backend is pinned to the fail backend unless a test opts into the private
GNOME Keyring (see tests/support/plugin.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

from integray_auth.context import AppContext
from integray_auth.lean.paths import Paths

pytest_plugins = ["tests.support.plugin"]
CI_SEEN = "INTEGRAY_TESTS_CI"  # the harness's CI, kept out of the commands' environment

REPO = Path(__file__).resolve().parent.parent
SCRIPT = Path(sys.executable).with_name("integray-auth" + (".exe" if os.name == "nt" else ""))


class MemoryKeyring(KeyringBackend):
    """A real keyring backend that keeps secrets in a dict (unit tests only)."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.entries.get((service, username))

    def set_password(self, service, username, password):
        self.entries[(service, username)] = password

    def delete_password(self, service, username):
        if self.entries.pop((service, username), None) is None:
            raise PasswordDeleteError("No such password!")


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("INTEGRAY_AUTH_HOME", str(home))
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR", "XDG_CACHE_HOME"):
        (tmp_path / var.lower()).mkdir()
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    monkeypatch.delenv("INTEGRAY_AUTH_REGISTRY", raising=False)
    monkeypatch.delenv("BROWSER", raising=False)
    # CI=true is for the harness (a missing component fails instead of skipping,
    # tests/support/plugin.py), not for the command under test: with it and no
    # BROWSER, add/authorize refuse at once. Tests of that rule set CI themselves.
    if "CI" in os.environ:
        monkeypatch.setenv(CI_SEEN, os.environ["CI"])
        monkeypatch.delenv("CI")
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    memory = MemoryKeyring()
    previous = keyring.get_keyring()
    keyring.set_keyring(memory)
    yield home
    keyring.set_keyring(previous)


@pytest.fixture
def memory_keyring() -> MemoryKeyring:
    return keyring.get_keyring()


@pytest.fixture
def home(isolated) -> Path:
    return isolated


@pytest.fixture
def make_ctx(home):
    """An in-process AppContext on the isolated home, with captured streams."""
    import io

    def build(**overrides) -> AppContext:
        values = dict(
            paths=Paths(config_dir=home, data_dir=home),
            environ=dict(os.environ),
            stdin=io.StringIO(),
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )
        values.update(overrides)
        return AppContext(**values)

    return build


def assert_no_crash(stderr: str) -> None:
    """Neither a traceback nor the entry point's last-resort line: main() turns
    every crash into "unexpected error", so "Traceback" alone catches almost none."""
    assert "Traceback" not in stderr, stderr
    assert "unexpected error" not in stderr, stderr


def assert_error_line(result, code, *fragments: str) -> str:
    """The exit code, nothing on stdout, one stderr line with every fragment."""
    assert_no_crash(result.stderr)
    assert result.code == code, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("integray-auth: ")
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


@pytest.fixture
def cli(home):
    """Run the installed console script in a subprocess, as a user would."""
    if not SCRIPT.exists():
        pytest.fail(f"{SCRIPT} is missing: install the package first (see README, 'Try it, test it, install it')")

    def run(*args: str, env: dict | None = None, input: str | None = None, timeout: float = 60) -> Result:
        full_env = dict(os.environ)
        for key, value in (env or {}).items():
            if value is None:
                full_env.pop(key, None)  # None unsets a variable
            else:
                full_env[key] = value
        proc = subprocess.run(
            [str(SCRIPT), *args],
            input=input if input is not None else "",
            capture_output=True,
            text=True,
            env=full_env,
            timeout=timeout,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    return run
