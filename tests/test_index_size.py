"""integray-auth reads every index it can write (issue 17, item 6): 100,000 authorizations
of two connectors each, as the product writes them, are about 85 MB, and used to be refused
as "larger than 64 MiB ... set the broken file aside". The size limit now sits far above a
million authorizations, says it is a limit (not damage), and a write that would cross it is
refused before anything changes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from integray_auth.errors import ExitCode, IndexError_
from integray_auth.lean.paths import Paths
from integray_auth.stores import index as index_module
from integray_auth.stores.secrets import ChunkedTokens
from integray_auth.tokens import TokenSet
from integray_auth.usecases import manage
from integray_auth.usecases.binding import endpoints_of
from tests.support.cli import assert_error_line, assert_no_crash

COUNT = 100_000


def authorized(ctx, name: str):
    """An authorization as `add` and a completed authorization leave it: two connectors, bound."""
    a = manage.new_authorization(ctx, name, "reservanto", ["list-locations", "create-class-booking"], existing=[])
    a.status, a.granted_scopes, a.storage = "authorized", list(a.requested_scopes), "keyring"
    a.keyring_backend, a.client_id = "keyring.backends.SecretService.Keyring", "integray-client"
    a.authorized_at = a.refreshed_at = a.created_at
    a.expires_at, a.renewable = "2099-01-01T00:00:00Z", True
    a.endpoints = endpoints_of(ctx.registry.get("reservanto"))
    return a


def test_an_index_of_100000_authorizations_the_product_wrote_is_read_by_every_command(cli, home, make_ctx):
    ctx = make_ctx()
    model = authorized(ctx, "Reservanto 000000")
    entries = []
    for i in range(COUNT):
        entry = model.copy()
        entry.id, entry.name = f"{i:012x}", f"Reservanto {i:06d}"
        entries.append(entry)
    entries[-1].storage, entries[-1].keyring_backend = "file", None
    ctx.index._write(entries)  # the product's own writer
    ChunkedTokens(ctx.secret_store("file")).save(entries[-1].id, TokenSet(access_token="the-token",
                                                                           expires_at="2099-01-01T00:00:00Z"))
    size = (home / "index.json").stat().st_size
    assert size > 64 * 1024 * 1024  # what used to be refused
    del entries, model

    listed = cli("list", timeout=120)
    assert_no_crash(listed.stderr)
    assert listed.code == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == COUNT and lines[0].startswith("Reservanto\tReservanto 000000\t")

    token = cli("token", f"Reservanto {COUNT - 1:06d}", timeout=120)
    assert (token.code, token.stdout, token.stderr) == (0, "the-token\n", "")

    shown = cli("show", "Reservanto 012345", "--json", timeout=120)
    assert shown.code == 0 and shown.json()["authorization"]["name"] == "Reservanto 012345", shown.stderr


@pytest.mark.skipif(os.name != "posix", reason="a sparse file")
def test_a_file_over_the_limit_is_named_a_limit_and_never_set_aside(cli, home):
    home.mkdir(mode=0o700)
    path = home / "index.json"
    with open(path, "wb") as sparse:  # sparse: costs no disk
        sparse.truncate(index_module.MAX_INDEX_BYTES + 1)

    line = assert_error_line(cli("list"), ExitCode.INDEX, str(path), "larger than 4 GiB", "size limit", "not damaged")
    assert "doctor --repair" not in line and "broken" not in line

    repaired = cli("doctor", "--repair")
    assert_no_crash(repaired.stderr)
    assert repaired.code == ExitCode.INDEX
    assert "problem\tindex\t" in repaired.stdout and "size limit" in repaired.stdout
    assert "doctor --repair" not in repaired.stdout
    assert path.stat().st_size == index_module.MAX_INDEX_BYTES + 1  # still there, untouched
    assert not [p for p in home.iterdir() if ".broken-" in p.name]


def test_the_limit_is_far_above_a_million_authorizations():
    # 100,000 of two connectors are 85 MB as written (the test above): a million, 0.85 GB.
    assert index_module.MAX_INDEX_BYTES >= 4 * 1024 ** 3


def test_a_write_that_would_cross_the_limit_is_refused_before_anything_changes(make_ctx, home, monkeypatch):
    paths = Paths(config_dir=home, data_dir=home, cache_dir=home / "cache")
    ctx = make_ctx(paths=paths)
    for name in ("Prague", "Brno"):
        manage.save_new(ctx, authorized(ctx, name))
    ctx.index.load()
    before = {path: path.read_bytes() for path in ((home / "index.json"), ctx.index.snapshot_path)}
    monkeypatch.setattr(index_module, "MAX_INDEX_BYTES", len(before[home / "index.json"]) + 100)

    assert len(make_ctx(paths=paths).index.load()) == 2  # what is there is read
    with pytest.raises(IndexError_) as refused:
        manage.save_new(make_ctx(paths=paths), authorized(ctx, "Ostrava"))

    assert "size limit" in refused.value.message and "nothing was changed" in refused.value.message
    assert "integray-auth remove" in refused.value.hint
    assert {path: path.read_bytes() for path in before} == before


def test_the_installed_command_refuses_such_a_write_with_exit_4(cli, home):
    assert cli("add", "Prague", "-p", "reservanto", "-c", "list-locations", "--no-authorize").code == 0
    before = (home / "index.json").read_bytes()
    probe = (
        "import sys\n"
        "from integray_auth.stores import index\n"
        f"index.MAX_INDEX_BYTES = {len(before) + 100}\n"  # room for what is there, not for one more
        "from integray_auth.main import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe, "add", "Brno", "-p", "reservanto", "-c", "list-locations",
                           "--no-authorize"], capture_output=True, text=True, timeout=60, env=dict(os.environ))

    assert done.returncode == ExitCode.INDEX, done.stderr
    assert "size limit" in done.stderr and "nothing was changed" in done.stderr and "unexpected" not in done.stderr
    assert (home / "index.json").read_bytes() == before
    assert cli("list").stdout.count("\n") == 1
