"""A team of machines sharing one Vault (OpenBao), for the tests of shared authorizations."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.cli import SCRIPT, environment
from tests.support.overlays import provider, write_overlay

PREFIX = "integray-auth/authorizations"


def overlay_for(server, path: Path) -> Path:
    return write_overlay(path, provider("local", "Local Test Server", server, fields=f'client_id = "{server["client_id"]}"'))


class Machine:
    """One machine of the team: its own home and data folder, the team's Vault."""

    def __init__(self, root: Path, name: str, overlay: Path, vault) -> None:
        self.home = root / f"{name}-home"
        self.data = root / f"{name}-data"
        self.home.mkdir()
        self.overlay, self.vault = overlay, vault

    def env(self, **extra) -> dict:
        return environment({"HOME": str(self.home), "INTEGRAY_AUTH_HOME": str(self.data),
                            "INTEGRAY_AUTH_REGISTRY": str(self.overlay), **self.vault.env()}, extra)

    def run(self, *args: str, timeout: float = 60, **extra):
        from tests.support.cli import Result

        done = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, env=self.env(**extra),
                              timeout=timeout, input="")
        return Result(done.returncode, done.stdout, done.stderr)

    def start(self, *args: str, **extra) -> subprocess.Popen:
        return subprocess.Popen([str(SCRIPT), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=self.env(**extra), stdin=subprocess.DEVNULL)


@pytest.fixture
def team(tmp_path, vault_server):
    def make(server, *names: str) -> list[Machine]:
        overlay = overlay_for(server, tmp_path / "local.toml")
        return [Machine(tmp_path, name, overlay, vault_server) for name in names]

    return make


def seed_file_authorization(machine: Machine, name: str = "Local", expired: bool = False, access: str = "access-1") -> str:
    """An Authorized entry with a valid token in the machine's insecure file (no browser needed)."""
    from integray_auth.context import AppContext
    from integray_auth.lean.paths import Paths
    from integray_auth.stores.file_store import FileStore
    from integray_auth.stores.secrets import ChunkedTokens
    from integray_auth.tokens import TokenSet
    from integray_auth.usecases import manage

    ctx = AppContext(paths=Paths(machine.data, machine.data), environ=machine.env(), registry_path=machine.overlay)
    machine.data.mkdir(exist_ok=True)
    entry = manage.save_new(ctx, manage.new_authorization(ctx, name, "local", ["reader"]))
    with ctx.index.transaction() as authorizations:
        [new] = [a for a in authorizations if a.id == entry.id]
        new.status, new.storage, new.client_id = "authorized", "file", "cli"
    ChunkedTokens(FileStore.open(ctx)).save(
        entry.id, TokenSet(access_token=access, refresh_token="refresh-1",
                           expires_at="2000-01-01T00:00:00Z" if expired else "2999-01-01T00:00:00Z"))
    return entry.id


@pytest.fixture
def fake_server(tmp_path):
    return {k: "http://127.0.0.1:9/x" for k in ("authorization_endpoint", "token_endpoint", "revocation_endpoint",
                                                "userinfo_endpoint")} | {"client_id": "cli"}
