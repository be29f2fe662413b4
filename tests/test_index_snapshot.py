"""The index snapshot (index.py): the checked entries as marshal data, named after the
exact bytes of the index they came from. A cache: it is used only for that very file,
never believed when damaged or made elsewhere, and its absence changes nothing but time."""

from __future__ import annotations

import json
import os
import sys

import pytest

from integray_auth import index as index_module
from integray_auth.index import Index
from integray_auth.models import Authorization
from integray_auth.paths import Paths
from integray_auth.usecases import manage


def entry(i: int, **fields) -> dict:
    base = {
        "id": f"{i:012x}", "name": f"Shop {i}", "provider": "reservanto", "connectors": ["list-locations"],
        "requested_scopes": ["Location_r"], "created_at": "2026-01-02T03:04:05Z", "updated_at": "2026-01-02T03:04:05Z",
        "status": "authorized", "active": True, "granted_scopes": ["Location_r"], "storage": "keyring",
        "expires_at": "2026-01-02T04:04:05Z", "later_field": {"kept": [1, 2]},
    }
    return {**base, **fields}


@pytest.fixture
def index(home):
    home.mkdir(mode=0o700, exist_ok=True)
    (home / "index.json").write_text(json.dumps({"schema_version": 1, "authorizations": [entry(i) for i in range(5)]}))
    return Index(home / "index.json", home / "index.lock", home / "cache" / "index.snapshot")


def fields(authorizations: list[Authorization]) -> list[dict]:
    return [a.to_json() for a in authorizations]


def without_json(monkeypatch) -> None:
    """Make parsing the JSON fail: what loads now came from the snapshot."""
    def refuse(self, text):
        raise AssertionError("parsed the JSON")

    monkeypatch.setattr(Index, "_parse", refuse)


def test_snapshots_are_on_on_this_interpreter():
    # Off, every read would parse the JSON again: slower, never wrong; this says it is on.
    assert index_module.SNAPSHOTS


def test_the_first_read_writes_the_snapshot_and_the_next_reads_it_alone(index, monkeypatch):
    parsed = fields(index.load())
    assert index.snapshot_path.exists()
    assert oct(index.snapshot_path.stat().st_mode & 0o777) == "0o600"

    without_json(monkeypatch)
    assert fields(index.load()) == parsed
    assert [a.name for a in index.matching("SHOP 3")] == ["Shop 3"]
    assert index.matching("000000000002")[0].name == "Shop 2"
    assert len(index.matching("nobody")) == 5  # all of them: the not-found message suggests names


def test_entries_from_the_snapshot_share_nothing_that_can_change(index):
    index.load()
    first, second = index.load()[:2]

    first.connectors.append("x")
    first.extra["later_field"]["kept"].append(3)

    assert second.connectors == ["list-locations"]
    assert second.extra == {"later_field": {"kept": [1, 2]}}
    assert index.load()[0].connectors == ["list-locations"]  # a fresh load: fresh objects


def test_a_change_of_the_index_of_the_same_size_and_time_is_seen(index, monkeypatch):
    index.load()
    path = index.path
    before = path.stat()
    text = path.read_text()
    path.write_text(text.replace("Shop 1", "Shop X"))  # same size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # and the same time

    assert [a.name for a in index.load()][1] == "Shop X"


def test_writes_through_the_index_are_seen_and_the_next_read_refreshes_the_snapshot(index, monkeypatch):
    index.load()
    with index.transaction() as authorizations:
        authorizations[0].name = "Renamed"
    assert index.load()[0].name == "Renamed"  # the JSON again: the snapshot named the old file

    without_json(monkeypatch)
    assert index.load()[0].name == "Renamed"  # and that read wrote the new one


def reheadered(blob: bytes, change) -> bytes:
    """The snapshot with its header's key changed by `change`, hashed anew."""
    import marshal

    size = int.from_bytes(blob[8:12], "big")
    key, chunks = marshal.loads(blob[12:12 + size])
    header = marshal.dumps((change(key), chunks))
    return index_module._source_hash(index_module._HASH_KEY, header) + len(header).to_bytes(4, "big") + header \
        + blob[12 + size:]


DAMAGE = {
    "flip a byte of a chunk": lambda b: b[:-10] + bytes([b[-10] ^ 1]) + b[-9:],
    "flip a byte of the header": lambda b: b[:14] + bytes([b[14] ^ 1]) + b[15:],
    "truncate": lambda b: b[: len(b) // 2],
    "a byte more": lambda b: b + b"\0",
    "empty": lambda b: b"",
    "garbage": lambda b: os.urandom(4096),
    "other runtime": lambda b: reheadered(b, lambda key: (key[0], ("other", 0, ()), *key[2:])),
    "other format": lambda b: reheadered(b, lambda key: (key[0] + 1, *key[1:])),
    "other index": lambda b: reheadered(b, lambda key: (*key[:3], b"12345678")),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_or_foreign_snapshot_is_ignored(index, monkeypatch, damage):
    expected = fields(index.load())
    snapshot = index.snapshot_path
    good = snapshot.read_bytes()
    snapshot.write_bytes(DAMAGE[damage](good))
    parsed = []
    real = Index._parse
    monkeypatch.setattr(Index, "_parse", lambda self, text: parsed.append(1) or real(self, text))

    assert fields(index.load()) == expected
    assert parsed == [1]  # the JSON was read, not the damaged snapshot
    assert snapshot.read_bytes() == good  # and the snapshot written again is the good one


def test_a_large_index_goes_in_chunks_and_comes_back_whole(home, monkeypatch):
    home.mkdir(mode=0o700, exist_ok=True)
    count = 2 * index_module._SNAPSHOT_CHUNK + 7
    (home / "index.json").write_text(json.dumps({"schema_version": 1, "authorizations": [entry(i) for i in range(count)]}))
    index = Index(home / "index.json", home / "index.lock", home / "cache" / "index.snapshot")
    parsed = fields(index.load())

    without_json(monkeypatch)
    assert fields(index.load()) == parsed and len(parsed) == count
    assert index.matching(f"Shop {count - 1}")[0].id == f"{count - 1:012x}"


@pytest.mark.skipif(os.name != "posix", reason="FIFOs and symlinks as POSIX has them")
@pytest.mark.parametrize("kind", ["fifo", "folder", "symlink"])
def test_something_else_at_the_snapshot_path_is_ignored_without_waiting(index, tmp_path, kind):
    snapshot = index.snapshot_path
    snapshot.parent.mkdir(mode=0o700, exist_ok=True)
    if kind == "fifo":
        os.mkfifo(snapshot, 0o600)
    elif kind == "folder":
        snapshot.mkdir()
    else:
        target = tmp_path / "elsewhere"
        target.write_bytes(b"x")
        snapshot.symlink_to(target)

    assert [a.name for a in index.load()] == [f"Shop {i}" for i in range(5)]  # read, not hung
    assert index.load()[0].name == "Shop 0"


def test_a_cache_folder_that_is_not_the_users_own_is_not_written(index):
    cache = index.snapshot_path.parent
    cache.mkdir(mode=0o700)
    cache.chmod(0o777)  # anyone could plant a snapshot here: none is read or written
    try:
        assert len(index.load()) == 5
        assert not index.snapshot_path.exists()
    finally:
        cache.chmod(0o700)


def test_a_broken_entry_gets_no_snapshot_and_every_read_says_so(index, make_ctx, home):
    index.load()
    data = json.loads(index.path.read_text())
    data["authorizations"].append(entry(9, active="yes"))
    index.path.write_text(json.dumps(data))
    ctx = make_ctx(paths=Paths(config_dir=home, data_dir=home, cache_dir=home / "cache"))

    for read in (ctx.index.load, lambda: manage.find(ctx, "Shop 1")):
        with pytest.raises(index_module.UnusableIndex):
            read()


def test_the_row_layout_follows_the_class():
    # _built and _row list the fields by hand (fast); a field added to Authorization turns
    # snapshots off until they follow it, rather than building objects with a slot unset.
    assert index_module._ROW_FIELDS == Authorization.__slots__
    a = Index._parse.__globals__["_new"](Authorization)
    for name in Authorization.__slots__:
        setattr(a, name, name)
    assert index_module._row(a) == Authorization.__slots__
    built = index_module._built([index_module._row(a)])[0]
    assert [getattr(built, name) for name in Authorization.__slots__] == list(Authorization.__slots__)


def test_a_snapshot_names_the_code_that_checked_it(index, monkeypatch):
    """Another version of the checks (index.py, models.py) may refuse what this one let
    through: its snapshots are not believed, the JSON is checked again."""
    index.load()
    monkeypatch.setattr(index_module, "_RUNTIME", index_module._RUNTIME + ((1, 2),))
    parsed = []
    real = Index._parse
    monkeypatch.setattr(Index, "_parse", lambda self, text: parsed.append(1) or real(self, text))

    index.load()

    assert parsed == [1]
    assert index_module._code_stamp()[0] and len(index_module._code_stamp()) == 3  # the version, two files



@pytest.fixture
def plain_index(home):
    """An index whose entries have only known fields: what `add` and the other commands write."""
    home.mkdir(mode=0o700, exist_ok=True)
    entries = [{k: v for k, v in entry(i).items() if k != "later_field"} for i in range(5)]
    (home / "index.json").write_text(json.dumps({"schema_version": 1, "authorizations": entries}))
    return Index(home / "index.json", home / "index.lock", home / "cache" / "index.snapshot")


def test_a_write_leaves_the_snapshot_of_what_it_wrote(plain_index, home, monkeypatch):
    plain_index.load()
    with plain_index.transaction() as authorizations:
        authorizations[0].name = "Renamed"
        authorizations[1].connectors.append("create-class-booking")
        authorizations.append(authorizations[2].copy())  # a copy shares nothing with its original
        authorizations[-1].id, authorizations[-1].name = "0000000000ff", "Copied"
    parsed = fields(Index(home / "index.json", home / "index.lock").load())  # no snapshot: the JSON

    without_json(monkeypatch)
    from_snapshot = plain_index.load()
    assert fields(from_snapshot) == parsed
    assert [a.name for a in from_snapshot][:1] + [a.name for a in from_snapshot][-1:] == ["Renamed", "Copied"]
    from_snapshot[2].connectors.append("x")
    assert from_snapshot[-1].connectors == ["list-locations"]


def test_a_write_of_an_entry_with_unknown_fields_leaves_no_snapshot(index, monkeypatch):
    index.load()
    with index.transaction() as authorizations:
        authorizations[0].name = "Renamed"
    assert not index.snapshot_path.exists() or index._snapshot_rows(
        index._content_key(index.path.read_bytes())) is None  # the next read parses, and decides


def test_completion_reads_names_from_the_snapshot(plain_index, monkeypatch):
    plain_index.load()

    def refuse(*args, **kwargs):
        raise AssertionError("decoded the JSON")

    monkeypatch.setattr(index_module.jsonio, "loads", refuse)
    summaries = plain_index.summaries()

    assert summaries[0] == ("Shop 0", True, "reservanto", ["list-locations"]) and len(summaries) == 5
