"""A truncated index (what a full disk or a power cut leaves) is a broken index, for every
command that reads it: exit 4 naming the file, never `unexpected error` (issue 17, item 4).

On CPython 3.11 the private `_json` scanner returned NULL without an exception for such a
file (a SystemError) in a fresh process; jsonio now hands any failure of it to json. The
index here is one the product wrote (`add`), truncated at offsets throughout the file.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from integray_auth.errors import ExitCode
from integray_auth.lean import jsonio
from integray_auth.stores.index import Index, UnusableIndex
from tests.support.cli import assert_error_line, assert_no_crash

NAMES = ("Prague", "Brno", "Ostrava")


@pytest.fixture
def written(cli, home) -> bytes:
    """The bytes of an index of three authorizations, as `add` wrote it."""
    for name in NAMES:
        result = cli("add", name, "-p", "reservanto", "-c", "list-locations", "-c", "create-class-booking",
                     "--no-authorize")
        assert result.code == 0, result.stderr
    assert cli("list").code == 0  # a snapshot exists: it must not hide the damage
    return (home / "index.json").read_bytes()


def offsets(raw: bytes) -> list[int]:
    """A handful of places throughout the file: after a key, inside a string, a list, between entries."""
    marks = [raw.index(b'"schema_version"') + 16, raw.index(b'"authorizations"') + 5, raw.index(b'"connectors"') + 15,
             raw.index(b'"Brno"') + 3, raw.index(b"}", raw.index(b'"Brno"')) + 1]
    return sorted({1, *marks, len(raw) // 2, len(raw) - 3})


READERS = {
    "list": ["list"],
    "list --json": ["list", "--all", "--json"],
    "search": ["search", "Brno"],
    "show": ["show", "Brno"],
    "token": ["token", "Brno"],
    "status": ["status"],
    "add": ["add", "Plzen", "-p", "reservanto", "-c", "list-locations", "--no-authorize"],
}


@pytest.mark.parametrize("command", READERS)
def test_every_reader_of_a_truncated_index_says_exit_4_naming_it(cli, home, written, command):
    path = home / "index.json"
    for offset in offsets(written):
        path.write_bytes(written[:offset])

        result = cli(*READERS[command])

        assert_error_line(result, ExitCode.INDEX, str(path), "corrupt", "doctor --repair")
        assert path.read_bytes() == written[:offset]  # left as it was


def test_doctor_names_a_truncated_index_and_repair_sets_it_aside(cli, home, written):
    path = home / "index.json"
    for offset in offsets(written):
        path.write_bytes(written[:offset])

        checked = cli("doctor")
        assert_no_crash(checked.stderr)
        assert checked.code == ExitCode.INDEX, checked.stdout + checked.stderr
        [line] = [line for line in checked.stdout.splitlines() if "\tindex\t" in line]
        assert line.startswith("problem\tindex\t") and str(path) in line and "corrupt" in line

        repaired = cli("doctor", "--repair")
        assert_no_crash(repaired.stderr)
        assert "repaired\tindex\tmoved the broken index to" in repaired.stdout, repaired.stdout + repaired.stderr
        assert not path.exists()
        [moved] = [p for p in home.iterdir() if p.name.startswith("index.json.broken-")]
        assert moved.read_bytes() == written[:offset]
        moved.unlink()
        listed = cli("list", "--json")  # and then it works again
        assert listed.code == 0, listed.stderr
        assert listed.json()["authorizations"] == []


def test_the_reader_refuses_every_truncation_of_a_written_index(home, written, monkeypatch):
    """In-process, at every offset, with the private scanner failing as it did (NULL without
    an exception), and as it is: UnusableIndex naming the file, or the index when only the
    final newline is gone."""
    path = home / "index.json"

    def null_scanner(context):
        def scan(text, start):
            raise SystemError("<_json.Scanner object> returned NULL without setting an exception")
        return scan

    for broken in (False, True):
        if broken:
            monkeypatch.setattr(jsonio, "_plain_scan", null_scanner(None))
            monkeypatch.setattr(jsonio, "make_scanner", null_scanner)
        for offset in range(len(written)):
            path.write_bytes(written[:offset])
            index = Index(path, home / "index.lock", home / "cache" / "index.snapshot")
            if written[:offset].strip() == written.strip():
                assert [a.name for a in index.load()] == list(NAMES)
                continue
            with pytest.raises(UnusableIndex) as refused:
                index.load()
            assert str(path) in refused.value.message and "corrupt" in refused.value.message, offset
            with pytest.raises(UnusableIndex):
                index.matching("Brno")
            assert index.summaries() == []  # completion: no names, no error


def test_the_installed_command_reads_the_index_when_the_private_scanner_fails(cli, home, written):
    """Through the command, with `_json.make_scanner` (the private scanner) made to fail before
    integray-auth imports it: the same output as with it, and a truncated file still exit 4."""
    probe = (
        "import sys, json, _json\n"  # json first: it keeps the real scanner for itself
        "def broken(context):\n"
        "    def scan(text, start):\n"
        "        raise SystemError('returned NULL without setting an exception')\n"
        "    return scan\n"
        "_json.make_scanner = broken\n"
        "from integray_auth.lean import jsonio\n"
        "assert jsonio.make_scanner is broken\n"
        "from integray_auth.main import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    (home / "cache" / "index.snapshot").unlink()  # the JSON must be parsed
    expected = cli("list", "--all", "--json")
    (home / "cache" / "index.snapshot").unlink()
    done = subprocess.run([sys.executable, "-c", probe, "list", "--all", "--json"], capture_output=True, text=True,
                          timeout=60, env=dict(os.environ))
    assert (done.returncode, done.stdout, done.stderr) == (0, expected.stdout, "")

    (home / "index.json").write_bytes(written[: len(written) // 2])
    done = subprocess.run([sys.executable, "-c", probe, "show", "Brno"], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ))
    assert done.returncode == ExitCode.INDEX and str(home / "index.json") in done.stderr, done.stderr
    assert "unexpected error" not in done.stderr
