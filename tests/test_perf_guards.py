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
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integray_auth.cli import run
from integray_auth.cli.jsonfields import JsonOutput
from integray_auth.context import AppContext
from integray_auth.lean import printable
from integray_auth.lean.paths import Paths
from integray_auth.models import _FIELDS
from integray_auth.stores.index import Index

from .conftest import REPO
from .support.plugin import require
from .test_loader_properties import VALID_ENTRY, mutated_indexes

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
    _, _, peak = traced(lambda: run.run_list(thousand, "all", JsonOutput() if as_json else None))

    out = thousand.stdout.getvalue()
    assert out.count("\n") == (1 if as_json else COUNT)
    assert peak / COUNT <= limit


def test_status_at_a_thousand_keeps_a_bounded_number_of_objects_per_authorization(thousand):
    """`status` (local) of 1,000: peak bytes (1,510 now, most of it the index being
    read) and the blocks kept with the lines, per authorization."""
    from integray_auth.usecases import status

    lines, blocks, peak = traced(lambda: status.local_status(thousand, []))

    assert len(lines) == COUNT * 9 // 10  # the active ones
    assert blocks / COUNT <= 15  # (12.9: the index's own 11, a line and its fix)
    assert peak / COUNT <= 2000
    run.run_status(thousand, [], False, False)
    assert thousand.stdout.getvalue().count("\n") == len(lines)


def test_streamed_json_is_the_document_json_dumps_writes(thousand):
    run.run_list(thousand, "all", JsonOutput())
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


def test_the_json_escaping_shortcut_for_ascii_text_is_exact():
    """json_text's other shortcut: of ASCII, its class matches only DEL (C0 is json's)."""
    every_ascii_but_del = "".join(map(chr, range(0x7F)))

    assert printable._pattern(printable._JSON_UNSAFE_CLASS).findall(every_ascii_but_del + "\x7f") == ["\x7f"]
    assert printable.json_text('{"a":"\x7f"}') == '{"a":"\\u007f"}'
    assert printable.json_text('{"a":"b"}\n') == '{"a":"b"}\n'


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(max_codepoint=0x7F)) | st.text())
def test_json_text_is_the_substitution_it_stands_for(value):
    serialized = json.dumps({"v": value}, ensure_ascii=False)

    assert printable.json_text(serialized) == printable._pattern(printable._JSON_UNSAFE_CLASS).sub(
        printable._json_escape, serialized)


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
                "`list --all --json`, 100", "`list` on a terminal", "`--help`", "`show NAME`", "`add NAME --no-authorize`", "`status` (local)",
                "*floor: `python -c pass`*", "load average"):
        assert row in text, row


def _reference_load(index: Index) -> list | str:
    """What Index.load gave before the one-pass decoder: plain json.loads,
    from_json for every entry, then every check; the entries, or the error."""
    from integray_auth.errors import IndexError_
    from integray_auth.models import Authorization
    from integray_auth.stores import entries as entries_module

    text = index.path.read_text("utf-8", "surrogatepass")
    try:
        data = json.loads(text)
    except ValueError as exc:
        return f"corrupt ({exc})"
    if not isinstance(data, dict) or not isinstance(data.get("authorizations"), list):
        return "corrupt (not an integray-auth index)"
    if data.get("schema_version") != 1:
        return "schema"
    try:
        loaded = [Authorization.from_json(item) for item in data["authorizations"]]
    except (TypeError, AttributeError) as exc:
        return f"corrupt (bad entry: {exc})"
    for a in loaded:
        problem = entries_module.entry_problem(a) or (a.extra and entries_module.extra_problem(a.extra))
        if problem:
            return f"corrupt (bad entry: {problem})"
    del IndexError_
    return loaded


FIELD_VALUES = st.sampled_from([None, True, 0, 1.5, "", "x", [], ["x"], ["x", 1], [None], {}, {"k": "v"}, {"k": None},
                                {"k": 1}, {"id": "0123456789ab", "requested_scopes": []}])


@st.composite
def retyped_indexes(draw) -> str:
    """Entries with any of their known fields (or one unknown) given a value of another type, or dropped."""
    entries = []
    for number in range(draw(st.integers(1, 3))):
        entry = dict(VALID_ENTRY, id=f"{number:012x}", name=f"Entry {number}")
        for _ in range(draw(st.integers(0, 2))):
            key = draw(st.sampled_from([*_FIELDS, "extra", "later"]))
            if draw(st.integers(0, 5)) == 0:
                entry.pop(key, None)
            else:
                entry[key] = draw(FIELD_VALUES)
        entries.append(entry)
    return json.dumps({"schema_version": 1, "authorizations": entries})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=st.one_of(retyped_indexes(), mutated_indexes()))
def test_the_one_pass_decoder_gives_what_from_json_and_the_checks_give(tmp_path, document):
    """Well-formed entries are built and checked in one pass (entries.checked_entry);
    for any index, the result or the refusal is the one of the long way."""
    from integray_auth.errors import IndexError_

    (tmp_path / "index.json").write_text(document)
    index = Index(tmp_path / "index.json", tmp_path / "index.lock")
    expected = _reference_load(index)
    try:
        got = index.load()
    except IndexError_ as error:
        assert isinstance(expected, str), error.message
        assert error.message.endswith(expected) or (expected == "schema" and "schema" in error.message)
        return
    assert got == expected
    for a, b in zip(got, expected):
        assert a.extra == b.extra and type(a.extra) is dict


def test_the_one_pass_decoder_knows_every_field_of_an_authorization():
    """A field added to Authorization but not to entries.FIELD_TYPES turns the fast
    build off (correct, but `list` slower again): this says so."""
    from integray_auth.stores import entries as entries_module

    assert entries_module.ONE_PASS
