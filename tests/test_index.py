"""The authorization index: JSON round-trip, crash safety, concurrent writers,
private file modes, and what every command does with a corrupt or newer index."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
from datetime import datetime, timezone
from pathlib import Path

import pytest

from integray_auth.errors import ExitCode
from integray_auth.models import Authorization
from integray_auth.stores.files import LockTimeout, take_lock
from integray_auth.stores.index import Index, UnusableIndex
from tests.support.cli import SCRIPT, assert_error_line, assert_no_crash

POSIX_ONLY = pytest.mark.skipif(os.name != "posix", reason="file modes and signals are POSIX-only")

FULL = Authorization(
    id="a1b2c3d4e5f6",
    name="Reservanto Prague",
    provider="reservanto",
    connectors=["list-locations", "create-class-booking"],
    requested_scopes=["Location_r", "Booking_w", "Event_r"],
    created_at="2026-01-02T03:04:05Z",
    updated_at="2026-01-03T03:04:05Z",
    status="authorized",
    active=False,
    granted_scopes=["Location_r", "Event_r"],
    authorized_at="2026-01-02T03:05:00Z",
    expires_at="2026-01-02T03:35:00Z",
    deactivated_at="2026-01-03T03:04:05Z",
    account="merchant@example.com",
    storage="keyring",
    client_id="client-123",
)


def entry(name: str, **fields) -> dict:
    """One index entry as a newer or older integray-auth might have written it."""
    return {
        "id": fields.pop("id", name.lower().replace(" ", "-")),
        "name": name,
        "provider": "reservanto",
        "connectors": ["list-locations"],
        "requested_scopes": ["Location_r"],
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        **fields,
    }


def write_index(home: Path, *entries: dict, schema_version=1) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "index.json"
    path.write_text(json.dumps({"schema_version": schema_version, "authorizations": list(entries)}), encoding="utf-8")
    return path


def read_index(home: Path) -> dict:
    return json.loads((home / "index.json").read_text(encoding="utf-8"))


# --- the entry's JSON form ------------------------------------------------------


def test_an_authorization_round_trips_through_json():
    data = FULL.to_json()

    assert json.loads(json.dumps(data)) == data
    assert Authorization.from_json(data) == FULL
    assert "extra" not in data


def test_fields_of_a_newer_version_are_kept_in_extra_and_written_back():
    data = {**FULL.to_json(), "labels": ["prague"], "tenant": {"id": 7}}

    authorization = Authorization.from_json(data)

    assert authorization.extra == {"labels": ["prague"], "tenant": {"id": 7}}
    assert authorization.to_json() == data


def test_an_entry_written_before_optional_fields_existed_gets_their_defaults():
    authorization = Authorization.from_json(entry("Old"))

    assert authorization.status == "not_authorized"
    assert authorization.active is True
    assert authorization.granted_scopes is None
    assert authorization.extra == {}


def test_unknown_fields_survive_another_command_rewriting_the_index(cli, home):
    write_index(home, entry("Prague", labels=["vip"]), entry("Brno"))

    result = cli("deactivate", "Brno")

    assert result.code == 0, result.stderr
    prague, brno = read_index(home)["authorizations"]
    assert prague["labels"] == ["vip"]
    assert brno["active"] is False


# --- the Index store, in-process ---------------------------------------------------


def test_an_absent_index_is_empty_and_reading_it_creates_nothing(cli, home):
    result = cli("list", "--json")

    assert result.json()["authorizations"] == []
    assert not (home / "index.json").exists()


def test_a_transaction_that_raises_writes_nothing(home):
    path = write_index(home, entry("Prague"))
    before = path.read_bytes()
    index = Index(path, home / "index.lock")

    with pytest.raises(RuntimeError):
        with index.transaction() as authorizations:
            authorizations.clear()
            raise RuntimeError("the use case changed its mind")

    assert path.read_bytes() == before


def test_a_transaction_writes_a_versioned_document(home):
    index = Index(home / "index.json", home / "index.lock")

    with index.transaction() as authorizations:
        authorizations.append(FULL)

    assert read_index(home) == {"schema_version": 1, "authorizations": [FULL.to_json()]}
    assert index.load() == [FULL]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"{not json", "is corrupt"),
        (b"", "is corrupt"),
        (b"\xff\xfe garbage", "is corrupt"),
        (b"[1, 2]", "not an integray-auth index"),
        (b'{"schema_version": 1}', "not an integray-auth index"),
        (b'{"schema_version": 1, "authorizations": ["x"]}', "bad entry"),
        (b'{"schema_version": 1, "authorizations": [{"name": "no id"}]}', "bad entry"),
        (json.dumps({"schema_version": 1, "authorizations": [entry("X", provider=None)]}).encode(), "bad entry: 'provider' is not a string"),
        (json.dumps({"schema_version": 1, "authorizations": [entry("X", connectors="list-locations")]}).encode(), "'connectors' is not a list"),
        (json.dumps({"schema_version": 1, "authorizations": [entry("X", active="yes")]}).encode(), "'active' is not true or false"),
        (b'{"schema_version": "1", "authorizations": []}', "unknown schema_version '1'"),
        (b'{"authorizations": []}', "unknown schema_version None"),
    ],
    ids=[
        "syntax", "empty", "not-utf8", "a-list", "no-authorizations", "entry-not-an-object",
        "entry-missing-fields", "provider-not-text", "connectors-not-a-list", "active-not-a-boolean",
        "version-as-text", "no-version",
    ],  # fmt: skip
)
def test_an_unusable_index_raises_an_index_error_with_the_repair_hint(home, content, fragment):
    home.mkdir()
    (home / "index.json").write_bytes(content)

    with pytest.raises(UnusableIndex) as caught:
        Index(home / "index.json", home / "index.lock").load()

    assert str(home / "index.json") in caught.value.message
    assert fragment in caught.value.message
    assert "doctor --repair" in caught.value.hint


def test_the_lock_is_exclusive_and_a_waiter_gives_up_at_its_timeout(home):
    lock = home / "index.lock"

    with take_lock(lock):
        with pytest.raises(LockTimeout):
            with take_lock(lock, timeout=0.05):
                pass
    with take_lock(lock, timeout=0.05):
        pass


def test_a_lock_file_that_cannot_be_opened_is_an_index_error_for_every_writer(cli, home):
    write_index(home, entry("Prague"))
    (home / "index.lock").mkdir()  # stands for a folder we may read but not write

    for args in (["deactivate", "Prague"], ["add", "Brno", "-p", "reservanto", "-c", "list-locations", "--no-authorize"]):
        result = cli(*args)
        assert_error_line(result, ExitCode.INDEX, "cannot lock the index", "index.lock")


def test_an_error_raised_in_a_transaction_is_not_taken_for_a_lock_problem(home):
    with pytest.raises(LockTimeout):
        with Index(home / "index.json", home / "index.lock").transaction():
            raise LockTimeout("some other lock")
    with pytest.raises(FileNotFoundError):
        with Index(home / "index.json", home / "index.lock").transaction():
            raise FileNotFoundError("not the lock")


def test_a_folder_that_cannot_be_fsynced_does_not_fail_a_write_that_happened(home, monkeypatch):
    """AFS, some FUSE and network mounts refuse fsync on a folder (EINVAL); the file
    is already in place by then, so the write succeeded."""
    import errno

    from integray_auth.stores import files as fileutil

    real_fsync = os.fsync

    def fsync(fd):
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "Invalid argument")
        real_fsync(fd)

    monkeypatch.setattr(fileutil.os, "fsync", fsync)
    with Index(home / "index.json", home / "index.lock").transaction() as authorizations:
        authorizations.append(FULL)

    assert Index(home / "index.json", home / "index.lock").load() == [FULL]


def test_the_insecure_token_file_reports_a_failed_write_or_a_held_lock_as_a_storage_error(home, monkeypatch):
    from integray_auth.errors import StorageError
    from integray_auth.stores import file_store, files
    from integray_auth.stores.file_store import FileStore

    home.mkdir()
    store = FileStore(home / "tokens-insecure.json", home / "tokens-insecure.lock")
    store.set("kept", "value")

    def disk_full(path, text):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(file_store, "atomic_write_text", disk_full)
    with pytest.raises(StorageError, match="No space left on device"):
        store.set("key", "value")
    monkeypatch.undo()

    with take_lock(home / "tokens-insecure.lock"):
        monkeypatch.setattr(files, "take_lock", lambda path, timeout=0: take_lock(path, timeout=0.05))
        with pytest.raises(StorageError, match="locked by another integray-auth process"):
            store.remove("kept")
    assert store.get("kept") == "value"


# --- crash safety ----------------------------------------------------------------------

KILL_DURING_WRITE = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from integray_auth.stores import files as fileutil
    from integray_auth.stores.index import Index
    from integray_auth.models import Authorization

    home, step = Path(sys.argv[1]), sys.argv[2]
    real = getattr(fileutil.os, step)

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    setattr(fileutil.os, step, die)
    with Index(home / "index.json", home / "index.lock").transaction() as authorizations:
        authorizations.append(Authorization("new", "New", "reservanto", ["list-locations"], ["Location_r"], "t", "t"))
    print("the write finished, which it should not have")
    """
)


@POSIX_ONLY
@pytest.mark.parametrize("step", ["fsync", "replace"])
def test_a_writer_killed_in_the_middle_of_a_write_leaves_the_old_index(cli, home, step):
    path = write_index(home, entry("Prague"))
    before = path.read_bytes()

    killed = subprocess.run([sys.executable, "-c", KILL_DURING_WRITE, str(home), step], capture_output=True, text=True, timeout=30)

    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    assert path.read_bytes() == before
    leftovers = [p for p in home.iterdir() if p.name.startswith(".index.json.")]
    assert len(leftovers) == 1  # the half-finished temp file, private like the index
    assert stat.S_IMODE(leftovers[0].stat().st_mode) == 0o600
    # The dead writer's lock is gone and its temp file is ignored.
    added = cli("add", "After", "-p", "reservanto", "-c", "list-locations", "--no-authorize", timeout=10)
    assert added.code == 0, added.stderr
    assert [a["name"] for a in cli("list", "--json").json()["authorizations"]] == ["After", "Prague"]


HAMMER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from integray_auth.stores.index import Index
    from integray_auth.models import Authorization

    home = Path(sys.argv[1])
    index = Index(home / "index.json", home / "index.lock")
    for i in range(100000):
        with index.transaction() as authorizations:
            authorizations.append(Authorization(f"id{i}", f"w{i}", "reservanto", ["list-locations"], ["Location_r"], "t", "t"))
        print(i, flush=True)
    """
)


@POSIX_ONLY
@pytest.mark.parametrize("writes_before_kill", [1, 7, 40])
def test_kill_9_at_an_arbitrary_moment_leaves_a_whole_index(home, writes_before_kill):
    writer = subprocess.Popen([sys.executable, "-c", HAMMER, str(home)], stdout=subprocess.PIPE, text=True)
    try:
        for _ in range(writes_before_kill):
            assert writer.stdout.readline(), "the writer stopped early"
    finally:
        writer.kill()
        writer.wait(timeout=10)
        writer.stdout.close()

    names = [a["name"] for a in read_index(home)["authorizations"]]

    assert len(names) >= writes_before_kill
    assert names == [f"w{i}" for i in range(len(names))]


@POSIX_ONLY
def test_twenty_concurrent_adds_leave_exactly_twenty_entries(cli, home):
    processes = [
        subprocess.Popen(
            [str(SCRIPT), "add", f"Location {n}", "-p", "reservanto", "-c", "list-locations", "--no-authorize"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(20)
    ]
    outcomes = [(p.wait(timeout=60), p.stderr.read()) for p in processes]
    for p in processes:
        p.stdout.close()
        p.stderr.close()

    assert [code for code, _ in outcomes] == [0] * 20, outcomes
    authorizations = cli("list", "--json").json()["authorizations"]
    assert sorted(a["name"] for a in authorizations) == sorted(f"Location {n}" for n in range(20))
    assert len({a["id"] for a in authorizations}) == 20


def test_two_adds_of_the_same_name_racing_leave_one(cli, home):
    processes = [
        subprocess.Popen(
            [str(SCRIPT), "add", "Same", "-p", "reservanto", "-c", "list-locations", "--no-authorize"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(6)
    ]
    codes = sorted(p.wait(timeout=60) for p in processes)

    assert codes == [0] + [ExitCode.CONFLICT] * 5
    assert [a["name"] for a in cli("list", "--json").json()["authorizations"]] == ["Same"]


# --- file modes ---------------------------------------------------------------------


@POSIX_ONLY
def test_the_index_its_folder_and_the_lock_file_are_private(cli, home):
    result = cli("add", "Prague", "-p", "reservanto", "-c", "list-locations", "--no-authorize")

    assert result.code == 0, result.stderr
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "index.json").stat().st_mode) == 0o600
    assert stat.S_IMODE((home / "index.lock").stat().st_mode) == 0o600


@POSIX_ONLY
def test_modes_are_private_even_with_a_permissive_umask_and_an_open_folder(home):
    home.mkdir(mode=0o755)
    os.chmod(home, 0o755)
    index = Index(home / "index.json", home / "index.lock")
    previous = os.umask(0)
    try:
        with index.transaction() as authorizations:
            authorizations.append(FULL)
    finally:
        os.umask(previous)

    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "index.json").stat().st_mode) == 0o600
    assert stat.S_IMODE((home / "index.lock").stat().st_mode) == 0o600


# --- a corrupt index ---------------------------------------------------------------------

GARBAGE = b'{"schema_version": 1, "authorizations": [\x00 not json'

COMMANDS_THAT_READ_THE_INDEX = [
    ["list"],
    ["list", "--json"],
    ["list", "--all"],
    ["search", "prague"],
    ["show", "Prague"],
    ["add", "Brno", "-p", "reservanto", "-c", "list-locations", "--no-authorize"],
    ["deactivate", "Prague"],
    ["activate", "Prague"],
    ["remove", "Prague", "--yes"],
]


@pytest.mark.parametrize("args", COMMANDS_THAT_READ_THE_INDEX, ids=" ".join)
def test_a_corrupt_index_stops_every_command_and_is_left_untouched(cli, home, args):
    home.mkdir()
    path = home / "index.json"
    path.write_bytes(GARBAGE)

    result = cli(*args)

    assert_error_line(result, ExitCode.INDEX, str(path), "corrupt", "integray-auth doctor --repair")
    assert path.read_bytes() == GARBAGE


def test_doctor_reports_a_corrupt_index_without_touching_it(cli, home):
    home.mkdir()
    (home / "index.json").write_bytes(GARBAGE)

    result = cli("doctor")

    assert result.code == ExitCode.INDEX
    [index_line] = [line for line in result.stdout.splitlines() if "\tindex\t" in line]
    assert index_line.startswith("problem\tindex\t")
    assert "doctor --repair" in index_line
    assert (home / "index.json").read_bytes() == GARBAGE


def test_doctor_repair_sets_the_broken_index_aside_and_list_works_again(cli, home):
    home.mkdir()
    (home / "index.json").write_bytes(GARBAGE)

    repaired = cli("doctor", "--repair")

    # The test keyring is the fail backend, so doctor still reports it (exit 8).
    assert repaired.code == ExitCode.STORAGE, repaired.stdout + repaired.stderr
    assert_no_crash(repaired.stderr)
    [moved] = [p for p in home.iterdir() if p.name.startswith("index.json.broken-")]
    assert moved.read_bytes() == GARBAGE
    timestamp = moved.name.removeprefix("index.json.broken-")
    assert datetime.strptime(timestamp, "%Y%m%dT%H%M%SZ")  # a UTC timestamp
    assert f"repaired\tindex\tmoved the broken index to {moved}" in repaired.stdout
    assert not (home / "index.json").exists()
    listed = cli("list", "--json")
    assert listed.code == 0, listed.stderr
    assert listed.json()["authorizations"] == []
    assert cli("add", "Prague", "-p", "reservanto", "-c", "list-locations", "--no-authorize").code == 0


def test_doctor_repair_twice_in_one_second_keeps_both_broken_files(home):
    index = Index(home / "index.json", home / "index.lock")
    moment = datetime(2026, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
    home.mkdir()
    (home / "index.json").write_bytes(b"first")
    first = index.set_aside(moment)
    (home / "index.json").write_bytes(b"second")
    second = index.set_aside(moment)

    assert first != second
    assert first.read_bytes() == b"first"
    assert second.read_bytes() == b"second"


def test_an_index_from_a_newer_version_says_to_upgrade(cli, home):
    path = write_index(home, entry("Prague", labels=["x"]), schema_version=2)
    before = path.read_bytes()

    result = cli("list")

    assert_error_line(result, ExitCode.INDEX, str(path), "newer integray-auth (schema 2)", "Upgrade integray-auth")
    assert "doctor --repair" not in result.stderr
    assert path.read_bytes() == before


def test_doctor_repair_does_not_set_aside_an_index_from_a_newer_version(cli, home):
    path = write_index(home, entry("Prague"), schema_version=2)
    before = path.read_bytes()

    result = cli("doctor", "--repair")

    assert result.code == ExitCode.INDEX
    assert "Upgrade integray-auth" in result.stdout
    assert path.read_bytes() == before
    assert not [p for p in home.iterdir() if ".broken-" in p.name]
