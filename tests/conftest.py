"""Fixtures every test gets: an isolated home, no reachable real keyring,
and a way to run the installed `integray-auth` command.

No test touches the developer's real files or keyring: INTEGRAY_AUTH_HOME
and the XDG folders point at a temp dir, D-Bus is cut off, and keyring's
backend is pinned to the fail backend unless a test opts into the private
GNOME Keyring (see tests/support/plugin.py).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import keyring
import pytest

from integray_auth.context import AppContext
from integray_auth.lean.paths import Paths
from tests.support.cli import REPO, SCRIPT, MemoryKeyring, Result, assert_error_line, assert_no_crash  # noqa: F401

pytest_plugins = ["tests.support.plugin"]
CI_SEEN = "INTEGRAY_TESTS_CI"  # the harness's CI, kept out of the commands' environment


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


@pytest.fixture
def cli(home):
    """Run the installed console script in a subprocess, as a user would."""
    if not SCRIPT.exists():
        pytest.fail(f"{SCRIPT} is missing: install the package first (see README, 'Tests')")

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
