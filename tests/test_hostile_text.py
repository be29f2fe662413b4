"""Text from outside — names, argv bytes, index and registry strings, provider
answers — never reaches a terminal raw, never splits a piped row, never ends
in a crash; and the commands we print for the user paste back as they read.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest

from integray_auth.cli import output
from integray_auth.errors import ExitCode
from integray_auth.stores import lookup
from integray_auth.stores.index import Index
from integray_auth.usecases import manage
from tests.support.cli import SCRIPT, assert_error_line, assert_no_crash
from tests.support.refresh import authorized, endpoint  # noqa: F401 - fixtures

# An attacker's text: retitle the window, clear the screen, reverse the line,
# and start a new line on the terminal and in every kind of line reader.
HOSTILE = "\x1b]0;pwned\x07\x1b[2J\u202eevil\r\nsecond\u2028third\x85fourth\x9b31m"
RAW = ("\x1b", "\x07", "\u202e", "\r", "\u2028", "\x85", "\x9b")


def add(cli, *args: str, name: str = "Plain"):
    return cli("add", "-p", "reservanto", "-c", "list-locations", "--no-authorize", *args, "--", name)


def rename_in_index(home: Path, old: str, new: str, **fields) -> None:
    """What an older version or a hand edit can leave in the index: no name rules apply."""
    with Index(home / "index.json", home / "index.lock").transaction() as authorizations:
        [entry] = [a for a in authorizations if a.name == old]
        entry.name = new
        for key, value in fields.items():
            setattr(entry, key, value)


def no_raw_control(text: str) -> None:
    for ch in RAW:
        assert ch not in text, (ch, text)


# --- item 19: names ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        "\x1b[2J", "\x7f", "\x85", "\x9b", "\xad",  # C0 escape, DEL, C1 NEL and CSI, soft hyphen
        "\u2028", "\u2029",  # line and paragraph separators
        "\u202a", "\u202b", "\u202c", "\u202d", "\u202e",  # bidi embeddings and overrides
        "\u2066", "\u2067", "\u2068", "\u2069",  # bidi isolates
        "\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u2060", "\ufeff",  # zero-width
        "\U000e0041",  # a tag character: invisible text
    ],
    ids=lambda ch: f"U+{ord(ch[0]):04X}",
)
def test_a_name_with_an_invisible_or_controlling_character_is_refused(cli, bad):
    result = add(cli, name=f"Gmail{bad}work")

    line = assert_error_line(result, ExitCode.USAGE, "control, zero-width or bidi characters")
    no_raw_control(line)
    assert bad not in line  # echoed escaped, e.g. 'Gmail\u202ework'
    assert cli("list", "--all", "--json").json()["authorizations"] == []


@pytest.mark.parametrize(
    "args",
    [
        [b"add", b"Gmail\xffwork", b"-p", b"reservanto", b"-c", b"list-locations", b"--no-authorize"],
        [b"add", b"Gmail", b"-p", b"reserv\xe1nto", b"-c", b"list-locations", b"--no-authorize"],
        [b"show", b"\xc3\x28"],
        [b"token", b"\xff"],  # the fast path
        [b"search", b"gm\xe9il"],
        [b"remove", b"\xff", b"--yes"],
    ],
    ids=["add-name", "add-provider", "show", "token", "search", "remove"],
)
def test_arguments_that_are_not_utf8_are_a_usage_error(home, args):
    proc = subprocess.run([os.fsencode(SCRIPT), *args], capture_output=True, env=dict(os.environ), timeout=60)
    stderr = proc.stderr.decode("utf-8")  # our stderr is UTF-8 text even so

    assert_no_crash(stderr)
    assert proc.returncode == ExitCode.USAGE, stderr
    assert proc.stdout == b""
    [line] = stderr.splitlines()
    assert line.startswith("integray-auth: argument ") and "is not valid UTF-8 text" in line
    assert "\\udc" in line  # the bad byte, shown escaped


def test_a_name_shaped_like_an_id_is_refused(cli):
    assert add(cli, name="First").code == 0
    first = cli("list", "--json").json()["authorizations"][0]

    for name in (first["id"], first["id"].upper(), "0123456789ab"):
        assert_error_line(add(cli, name=name), ExitCode.USAGE, "looks like an authorization id")
    assert [a["name"] for a in cli("list", "--json").json()["authorizations"]] == ["First"]


def test_a_word_that_is_one_id_and_another_name_is_refused_not_guessed(cli, home):
    """An index from before the rule: B is named like A's id. `remove <A's id>` used
    to remove A while the user may have meant B; now it removes nothing."""
    assert add(cli, name="First").code == 0
    assert add(cli, name="Second").code == 0
    by_name = {a["name"]: a for a in cli("list", "--json").json()["authorizations"]}
    a_id, b_id = by_name["First"]["id"], by_name["Second"]["id"]
    rename_in_index(home, "Second", a_id)

    for command in (["remove", a_id, "--yes"], ["show", a_id], ["token", a_id], ["deactivate", a_id]):
        assert_error_line(cli(*command), ExitCode.USAGE, f"'{a_id}' is the id of 'First' and the name of another", b_id)
    assert sorted(a["id"] for a in cli("list", "--json").json()["authorizations"]) == sorted([a_id, b_id])

    # Each one is still reachable by its other handle.
    assert cli("remove", b_id, "--yes").code == 0
    assert [a["name"] for a in cli("list", "--json").json()["authorizations"]] == ["First"]
    assert cli("remove", a_id, "--yes").code == 0
    assert cli("list", "--json").json()["authorizations"] == []


# --- item 20: output ------------------------------------------------------------------------


def test_a_provider_error_description_reaches_stderr_escaped_on_one_line(cli, endpoint, authorized):  # noqa: F811
    overlay = authorized(endpoint.url + "/token")
    endpoint.answer(401, {"error": "invalid_client", "error_description": HOSTILE})

    result = cli("--registry", str(overlay), "token", "Stub")

    line = assert_error_line(result, ExitCode.AUTHORIZATION, "Stub refused: invalid_client")
    no_raw_control(line)
    assert "\\x1b]0;pwned\\x07\\x1b[2J\\u202eevil\\r\\nsecond\\u2028third\\x85fourth\\x9b31m" in line


def test_a_stored_name_with_line_breaks_stays_one_piped_row_and_one_json_line(cli, home):
    assert add(cli, name="Plain").code == 0
    assert add(cli, name="Other").code == 0
    rename_in_index(home, "Plain", "a" + HOSTILE, account="x" + HOSTILE)

    piped = cli("list")  # text mode reads \r as a line break too, like many readers
    assert piped.code == 0, piped.stderr
    rows = piped.stdout.splitlines()  # splitlines also splits on \x85, \u2028, \x1c-\x1e
    assert len(rows) == 2, rows
    assert all(len(row.split("\t")) == 4 for row in rows)
    no_raw_control(piped.stdout)
    assert "\\x1b]0;pwned\\x07" in piped.stdout

    as_json = cli("list", "--json")
    assert len(as_json.stdout.splitlines()) == 1
    no_raw_control(as_json.stdout)
    assert {a["name"] for a in as_json.json()["authorizations"]} == {"a" + HOSTILE, "Other"}  # exact in JSON

    [hostile] = [a for a in as_json.json()["authorizations"] if a["name"] != "Other"]
    shown = cli("show", hostile["id"])
    assert shown.code == 0, shown.stderr
    no_raw_control(shown.stdout)
    assert "Account:" in shown.stdout and "x\\x1b]0;pwned" in shown.stdout


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_table_for_a_terminal_escapes_every_cell(make_ctx, home):
    ctx = make_ctx(stdout=Terminal())
    manage.save_new(ctx, manage.new_authorization(ctx, "Plain", "reservanto", ["list-locations"]))
    rename_in_index(home, "Plain", HOSTILE)

    output.print_authorizations(ctx, lookup.list_authorizations(ctx), "active", as_json=None)

    text = ctx.stdout.getvalue().replace("\x1b[1m", "").replace("\x1b[0m", "")  # our own bold header
    no_raw_control(text)
    assert len(text.splitlines()) == 2 and "\\x1b]0;pwned\\x07\\x1b[2J\\u202eevil\\r\\n" in text


def test_the_flow_ui_escapes_what_it_echoes(make_ctx):
    from integray_auth.cli.flow_ui import TerminalFlowUI

    ctx = make_ctx()
    ui = TerminalFlowUI(ctx)
    ui.show_url("http://127.0.0.1:1/x", "https://provider.example/authorize?client_id=" + HOSTILE, browser=False)
    ui.notice("That URL was not accepted: " + HOSTILE)

    no_raw_control(ctx.stderr.getvalue())
    assert ctx.stderr.getvalue().count("\n") == 5  # lead, full URL, short URL's lead, short URL, notice


def test_the_escaping_functions():
    from integray_auth.lean.printable import escape, json_text, tsv_cell

    assert escape("tab\there\x00\x1b\x7f\x9f\u200b\U000e0001é€") == "tab\\there\\x00\\x1b\\x7f\\x9f\\u200b\\U000e0001é€"
    assert tsv_cell("a\tb\rc\nd\x0be\x0cf\x1cg\x1dh\x1ei\x85j\u2028k\u2029l\x1bm") == "a b c d e f g h i j k l\\x1bm"
    document = json.dumps({"v": HOSTILE + "\U000e0041\udcff"}, ensure_ascii=False)
    safe = json_text(document)
    assert json.loads(safe) == json.loads(document)
    no_raw_control(safe)
    assert "\\udb40\\udc41" in safe and "\\udcff" in safe


# --- item 21: hints and echoes --------------------------------------------------------------


def pasted(hint_line: str, lead: str, tmp_path: Path) -> list[str]:
    """Paste the command at the end of `hint_line` into sh, with `integray-auth`
    standing for a script that prints the argv the shell gave it."""
    command = hint_line.split(lead, 1)[1]
    assert command.startswith("integray-auth ") and command == command.strip()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "integray-auth"
    fake.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\0" "$a"; done\n')
    fake.chmod(0o755)
    shell = subprocess.run(["sh", "-c", command], capture_output=True, timeout=30,
                           env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert shell.returncode == 0, shell.stderr
    argv = shell.stdout.decode().split("\0")[:-1]
    assert shlex.split(command)[1:] == argv
    return argv


@pytest.mark.parametrize(
    "name",
    ["-x", "--help", "Gmail work", "it's \"quoted\"", "$(touch pwned) `id` ;|&", "ÚČet *?[a]"],
    ids=["dash", "double-dash", "space", "quotes", "shell-syntax", "unicode-glob"],
)
def test_printed_commands_paste_back_to_the_same_name(cli, tmp_path, name):
    added = add(cli, name=name)
    assert added.code == 0, added.stderr
    argv = pasted(added.stderr.strip(), "Authorize it with: ", tmp_path)
    assert argv == ["authorize", *(["--"] if name.startswith("-") else []), name]

    line = assert_error_line(cli("token", *argv[1:]), ExitCode.NOT_AUTHORIZED, "is not authorized")
    assert "'integray-auth authorize" not in line  # quotes never nest around the command
    assert pasted(line, "Run: ", tmp_path) == argv
    shown = cli("show", *argv[1:])
    assert shown.code == 0 and f"Name:       {name}\n" in shown.stdout
    assert not (Path.cwd() / "pwned").exists() and not (tmp_path / "pwned").exists()


def test_the_dash_hint_reads_as_the_issue_asks(cli):
    assert add(cli, name="-x").code == 0
    assert cli("token", "--", "-x").stderr.strip().endswith("Run: integray-auth authorize -- '-x'")


def test_a_name_too_long_to_echo_is_named_by_its_id_in_commands(cli):
    name = "N" * 90
    added = add(cli, name=name)
    assert added.code == 0, added.stderr
    [entry] = cli("list", "--json").json()["authorizations"]
    assert added.stderr.strip().endswith(f"Authorize it with: integray-auth authorize {entry['id']}")
    assert name not in added.stderr and "N" * 79 + "…" in added.stderr

    line = assert_error_line(cli("token", name), ExitCode.NOT_AUTHORIZED, "is not authorized")
    assert line.endswith(f"Run: integray-auth authorize {entry['id']}")


@pytest.mark.parametrize(
    "command",
    [["show"], ["token"], ["search"], ["remove", "--yes"], ["deactivate"], ["add", "-p", "reservanto", "-c", "x", "--no-authorize"],
     ["add", "-p", "nope", "-c", "x", "--no-authorize"]],
    ids=["show", "token", "search", "remove", "deactivate", "add-too-long", "add-unknown-provider"],
)
def test_a_10000_character_argument_is_echoed_short(cli, command):
    word = "y" * 10_000
    args = [*command, word] if command[0] != "add" else [command[0], word, *command[1:]]
    if command[1:3] == ["-p", "nope"]:
        args = ["add", "Short", "-p", word, "-c", "x", "--no-authorize"]

    result = cli(*args)

    assert result.code in (ExitCode.USAGE, ExitCode.NOT_FOUND, ExitCode.NO_MATCH), result.stderr
    line = assert_error_line(result, result.code)
    assert len(line) < 300, len(line)
    assert "y" * 79 + "…" in line
