"""`--help` from the cache (helpcache.py): byte for byte what Typer prints in the
same environment, never a stale, edited or hostile entry, and without Typer."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from integray_auth.cli import helpcache
from tests.support.cli import SCRIPT, assert_no_crash, environment
from tests.support.terminal import read_terminal

HEAVY = ("typer", "click", "rich", "pydantic")
# Typer itself, never the cache: the reference every cached answer must equal.
TYPER = "import sys\nfrom integray_auth.main import _typer\nsys.exit(_typer(sys.argv[1:]))"
PROBE = (
    "import json, sys\nfrom integray_auth.main import main\ncode = main(sys.argv[1:])\n"
    "print(json.dumps({'code': code, 'modules': sorted({m.split('.')[0] for m in sys.modules})}), file=sys.stderr)"
)
REQUESTS = [
    [], ["--help"], ["-h"], ["help"], ["add", "--help"], ["providers", "show", "--help"], ["client", "set", "-h"],
    ["help", "token"], ["help", "exit-codes"],
]  # fmt: skip
# Width, colour and terminal settings that Click or Rich could read.
ENVIRONMENTS = [
    {"COLUMNS": "80"},
    {"COLUMNS": "52"},
    {"COLUMNS": "200", "NO_COLOR": "1"},
    {"COLUMNS": "120", "FORCE_COLOR": "1", "TERM": "xterm-256color"},
    {"COLUMNS": None, "LANG": "C", "LC_ALL": "C"},
]





def run(args: list[str], extra: dict, via: list[str] | None = None) -> subprocess.CompletedProcess:
    command = via if via is not None else [str(SCRIPT)]
    return subprocess.run([*command, *args], env=environment(extra), capture_output=True, timeout=60)


def typer(args: list[str], extra: dict) -> subprocess.CompletedProcess:
    return run(args, extra, via=[sys.executable, "-c", TYPER])


def entries(home: Path) -> list[Path]:
    return sorted((home / "cache").glob("help-*.json"))


@pytest.mark.parametrize("extra", ENVIRONMENTS, ids=lambda e: ",".join(f"{k}={v}" for k, v in e.items()))
def test_the_cached_help_is_typers_byte_for_byte(home, extra):
    for args in REQUESTS:
        reference = typer(args, extra)
        assert (reference.returncode, reference.stderr) == (0, b""), (args, reference.stderr)

        first = run(args, extra)  # rendered by Typer, kept
        second = run(args, extra)  # printed from the cache

        for result in (first, second):
            assert (result.returncode, result.stdout, result.stderr) == (0, reference.stdout, b""), args
    assert len(entries(home)) == len(REQUESTS)


def test_widths_get_their_own_entries_and_never_each_others_text(home):
    narrow, wide = {"COLUMNS": "52"}, {"COLUMNS": "100"}
    for extra in (narrow, wide, narrow, wide):
        assert run(["add", "--help"], extra).stdout == typer(["add", "--help"], extra).stdout
    assert len(entries(home)) == 2
    assert typer(["add", "--help"], narrow).stdout != typer(["add", "--help"], wide).stdout


def in_terminal(args: list[str], columns: int, via: list[str] | None = None) -> bytes:
    """What the command writes to a terminal `columns` wide (COLUMNS unset: Click asks the terminal)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, columns, 0, 0))
    command = via if via is not None else [str(SCRIPT)]
    proc = subprocess.Popen([*command, *args], stdin=follower, stdout=follower, stderr=subprocess.PIPE,
                            env=environment({"COLUMNS": None, "LINES": None}))
    os.close(follower)
    out = b""
    try:
        for chunk in read_terminal(leader, 30):
            out += chunk
    except TimeoutError:
        proc.kill()
        pytest.fail("no output from the terminal")
    os.close(leader)
    assert proc.wait(timeout=30) == 0
    assert proc.stderr.read() == b""
    return out


@pytest.mark.parametrize("columns", [64, 132])
def test_on_a_terminal_the_cached_help_is_typers(home, columns):
    reference = in_terminal(["--help"], columns, via=[sys.executable, "-c", TYPER])

    assert in_terminal(["--help"], columns) == reference
    assert len(entries(home)) == 1
    assert in_terminal(["--help"], columns) == reference


def probe(args: list[str]) -> tuple[int, list[str], bytes]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, timeout=60)
    report = json.loads(done.stderr.decode().splitlines()[-1])
    return report["code"], sorted(set(report["modules"]) & set(HEAVY)), done.stdout


@pytest.mark.parametrize("args", [["--help"], [], ["list", "--help"], ["help", "add"]], ids=lambda a: " ".join(a) or "bare")
def test_the_second_help_imports_neither_typer_nor_rich_nor_click(home, args):
    first = probe(args)
    assert first[0] == 0 and "typer" in first[1]  # the probe would see them

    second = probe(args)

    assert second == (0, [], first[2])


def test_a_cache_entry_is_only_used_for_the_request_it_was_made_for(home):
    assert not helpcache.is_request(["list"])  # output that depends on the index is never cached
    assert not helpcache.is_request(["add", "--name=x", "--help"])
    assert not helpcache.is_request(["add", "--", "--help"])
    assert not helpcache.is_request(["help", "add", "extra"])
    assert helpcache.is_request(["providers", "show", "--help"])


def one_entry(home: Path, args: list[str], extra: dict) -> tuple[Path, dict, bytes]:
    reference = typer(args, extra).stdout
    assert run(args, extra).stdout == reference
    [path] = entries(home)
    return path, json.loads(path.read_text()), reference


def rebuilt(home: Path, path: Path, args: list[str], extra: dict, reference: bytes) -> None:
    result = run(args, extra)
    assert_no_crash(result.stderr.decode())
    assert (result.returncode, result.stdout, result.stderr) == (0, reference, b"")
    entry = json.loads(path.read_text())  # rewritten from Typer's output
    assert entry["stdout"].encode("latin-1") == reference
    assert run(args, extra).stdout == reference


def test_an_edited_entry_is_rebuilt(home):
    args, extra = ["--help"], {"COLUMNS": "80"}
    path, entry, reference = one_entry(home, args, extra)
    entry["stdout"] = entry["stdout"].replace("Manage OAuth", "Hacked OAuth")
    path.write_text(json.dumps(entry))

    rebuilt(home, path, args, extra, reference)


@pytest.mark.parametrize("planted", ["\x1b]0;pwned\x07", "\x1b[2J", "\r", "\u202e", "\x9b31m"], ids=repr)
def test_an_entry_with_control_characters_is_never_printed_even_with_a_valid_checksum(home, planted):
    args, extra = ["--help"], {"COLUMNS": "80"}
    path, entry, reference = one_entry(home, args, extra)
    data = (planted + "Usage: ...\n").encode(sys.stdout.encoding or "utf-8").decode("latin-1")
    entry["stdout"] = data
    entry["check"] = helpcache.checksum(entry["key"], entry["modules"], data.encode("latin-1"))
    path.write_text(json.dumps(entry))

    rebuilt(home, path, args, extra, reference)


def test_a_changed_installed_module_rebuilds_the_entry(home):
    args, extra = ["--help"], {"COLUMNS": "80"}
    path, entry, reference = one_entry(home, args, extra)
    module = next(item for item in entry["modules"] if item[0].endswith(os.path.join("integray_auth", "cli", "app.py")))
    module[1] += 1  # what a reinstall or an upgrade of the package looks like: another size
    entry["stdout"] = entry["stdout"].replace("Manage OAuth", "Stale OAuth")
    entry["check"] = helpcache.checksum(entry["key"], entry["modules"], entry["stdout"].encode("latin-1"))
    path.write_text(json.dumps(entry))

    rebuilt(home, path, args, extra, reference)


@pytest.mark.parametrize("damage", ["truncated", "not json", "huge", "symlink", "fifo", "folder", "foreign mode"])
def test_a_damaged_or_planted_entry_is_ignored(home, tmp_path, damage):
    args, extra = ["--help"], {"COLUMNS": "80"}
    path, entry, reference = one_entry(home, args, extra)
    text = path.read_text()
    path.unlink()
    if damage == "truncated":
        path.write_text(text[: len(text) // 2])
    elif damage == "not json":
        path.write_bytes(b"\xff\xfe\x00garbage")
    elif damage == "huge":
        path.write_text(text + " " * (helpcache.MAX_ENTRY_BYTES + 1))
    elif damage == "symlink":
        target = tmp_path / "elsewhere.json"
        target.write_text(text)
        path.symlink_to(target)
    elif damage == "fifo":
        os.mkfifo(path)
    elif damage == "folder":
        path.mkdir()
    else:
        path.write_text(text)
        path.chmod(0o666)  # written by someone else, or edited to be

    result = run(args, extra)

    assert (result.returncode, result.stdout, result.stderr) == (0, reference, b"")
    if damage != "folder":  # replaced by a sound entry (a folder cannot be replaced: left alone)
        assert not path.is_symlink() and json.loads(path.read_text())["stdout"].encode("latin-1") == reference
    if damage == "symlink":
        assert (tmp_path / "elsewhere.json").read_text() == text  # what the link pointed at is untouched


def test_a_cache_folder_others_may_write_to_is_not_used(home):
    args, extra = ["--help"], {"COLUMNS": "80"}
    path, _, reference = one_entry(home, args, extra)
    (home / "cache").chmod(0o777)
    try:
        path.write_text(json.dumps({"key": "planted"}))
        result = run(args, extra)
        assert (result.returncode, result.stdout, result.stderr) == (0, reference, b"")
        assert json.loads(path.read_text()) == {"key": "planted"}  # nothing written there either
    finally:
        (home / "cache").chmod(0o700)


def test_entries_are_private_and_bounded(home, monkeypatch):
    for columns in range(50, 50 + helpcache.MAX_ENTRIES + 5):
        (home / "cache").mkdir(parents=True, exist_ok=True, mode=0o700)
        (home / "cache" / f"help-{columns:016x}.json").write_text("{}")
    run(["--help"], {"COLUMNS": "80"})

    found = entries(home)
    assert len(found) == helpcache.MAX_ENTRIES
    newest = max(found, key=lambda p: p.stat().st_mtime_ns)
    assert newest.stat().st_mode & 0o777 == 0o600
    assert (home / "cache").stat().st_mode & 0o777 == 0o700


def test_no_secret_from_the_environment_reaches_the_cache(home):
    secrets = {"INTEGRAY_AUTH_GOOGLE_CLIENT_SECRET": "s3cret-client", "LANGSMITH_API_KEY": "s3cret-lang",
               "LC_API_TOKEN": "s3cret-lc", "COLUMNS": "80"}
    assert run(["--help"], secrets).returncode == 0

    [path] = entries(home)
    text = path.read_text()
    assert "s3cret" not in text
    assert '"COLUMNS", "80"' in text  # what shapes the text is kept, in full


def test_what_click_reads_from_the_environment_is_part_of_the_key(home):
    for extra in ({"COLUMNS": "80"}, {"COLUMNS": "80", "_INTEGRAY_AUTH_COMPLETE": "bash_source"},
                  {"COLUMNS": "80", "FORCE_COLOR": "1"}, {"COLUMNS": "80", "LC_MESSAGES": "de_DE.UTF-8"}):
        result = run(["--help"], extra)
        reference = typer(["--help"], extra)
        assert (result.returncode, result.stdout) == (reference.returncode, reference.stdout)
    assert len(entries(home)) == 3  # the completion switch makes Click fail: nothing kept for it


def test_rendering_into_the_cache_leaves_the_real_streams_open(home):
    """The teeing text streams are collected after Typer ran; closing them must not close ours."""
    code = (
        "import gc, sys\nfrom integray_auth.main import main\nassert main(['help', 'exit-codes']) == 0\ngc.collect()\n"
        "print('stdout open'); print('stderr open', file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith("stdout open\n") and done.stderr == "stderr open\n"
    assert len(entries(home)) == 1  # it was a miss, rendered and kept
