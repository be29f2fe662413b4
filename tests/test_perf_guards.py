"""Structural guards for issue 9: allocation bounds instead of timings, so a
regression shows on any machine, loaded or not (docs/performance.md has the
timings; benchmarks/run.py makes them).

Bounds are per authorization at 1,000 of them, with room over what the code
does now (in brackets) and below what it did before (after the arrow)."""

from __future__ import annotations

import gc
import io
import json
import subprocess
import sys
import tracemalloc

import pytest

from integray_auth import printable
from integray_auth.cli import run
from integray_auth.context import AppContext
from integray_auth.index import Index
from integray_auth.paths import Paths

from .conftest import REPO
from .support.plugin import require

COUNT = 1000


def _bench():
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import run as bench  # the benchmark's own data: one index shape for both
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    return bench


@pytest.fixture
def thousand(tmp_path):
    bench = _bench()
    bench.make_home(tmp_path, COUNT)
    ctx = AppContext(paths=Paths(config_dir=tmp_path, data_dir=tmp_path), environ={},
                     stdout=io.StringIO(), stderr=io.StringIO())
    ctx.registry  # warm, and outside the measurement: it is not per entry
    ctx.index.load()
    return ctx


def traced(call) -> tuple[object, int, int]:
    """call()'s result, the blocks still allocated after it, and the peak bytes during it."""
    gc.collect()
    tracemalloc.start()
    try:
        result = call()
        blocks = sum(stat.count for stat in tracemalloc.take_snapshot().statistics("filename"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, blocks, peak


def test_the_loaded_index_keeps_few_objects_per_authorization(thousand):
    loaded, blocks, peak = traced(thousand.index.load)

    assert len(loaded) == COUNT
    assert blocks / COUNT <= 13  # (11; 17.5 before: dict-phase strings, no shared values)
    assert peak / COUNT <= 1900  # bytes (1,460; 2,730 before: bytes + text + every dict at once)


@pytest.mark.parametrize(("as_json", "limit"), [(False, 2000), (True, 2800)], ids=["tsv", "json"])
def test_list_streams_its_rows_instead_of_building_them_all(thousand, as_json, limit):
    """Peak bytes per authorization while `list` (--json) runs, its output kept in
    a StringIO (part of the figure): TSV (1,540; 2,730 before), JSON (2,050; 5,600 before)."""
    _, _, peak = traced(lambda: run.run_list(thousand, "all", as_json))

    out = thousand.stdout.getvalue()
    assert out.count("\n") == (1 if as_json else COUNT)
    assert peak / COUNT <= limit


def test_streamed_json_is_the_document_json_dumps_writes(thousand):
    run.run_list(thousand, "all", True)
    streamed = thousand.stdout.getvalue()

    document = json.loads(streamed)
    assert len(document["authorizations"]) == COUNT
    assert streamed == json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n"


def test_an_entry_lookalike_nested_in_an_entry_decodes_as_plain_json(tmp_path):
    """The decoder turns entries into objects as it meets them; one nested in another
    field (a newer version's) must stay a dict, as json.loads gives it."""
    index = Index(tmp_path / "index.json", tmp_path / "index.lock")
    entry = {"id": "0123456789ab", "name": "Outer", "provider": "p", "connectors": ["c"], "requested_scopes": ["s"],
             "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}
    nested = dict(entry, id="ba9876543210", name="Inner")
    (tmp_path / "index.json").write_text(json.dumps(
        {"schema_version": 1, "authorizations": [dict(entry, previous=nested)]}))

    [loaded] = index.load()

    assert loaded.name == "Outer"
    assert loaded.extra == {"previous": nested}
    assert type(loaded.extra["previous"]) is dict


def test_a_printable_string_never_needs_escaping():
    """printable's shortcut: str.isprintable() excludes every character its classes match."""
    every_printable = "".join(ch for ch in map(chr, range(0x110000)) if ch.isprintable())

    for character_class in (printable.UNSAFE_CLASS, printable._JSON_UNSAFE_CLASS, printable._TSV_BREAKS_CLASS):
        assert printable._pattern(character_class).search(every_printable) is None


def test_the_benchmark_runs_in_its_quick_mode(tmp_path):
    """benchmarks/run.py --quick (2 runs, 100 authorizations, no gh) end to end, so it cannot rot."""
    for tool, package in (("dbus-daemon", "dbus"), ("dbus-send", "dbus"), ("gnome-keyring-daemon", "gnome-keyring")):
        require(tool, f"{tool} is not installed (apt-get install {package})")
    report = tmp_path / "performance.md"

    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "run.py"), "--quick", "--output", str(report)],
                          capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr
    text = report.read_text()
    for row in ("`token NAME`, Secret Service", "`token NAME`, file store", "`list`, 100", "`search Q`, 100",
                "`list --all --json`, 100", "`list` on a terminal", "`--help`", "`show NAME`", "`add NAME --no-authorize`",
                "*floor: `python -c pass`*", "load average"):
        assert row in text, row
