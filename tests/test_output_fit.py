"""Output that fits (issue 11 item 6): tables cut to the terminal's width,
doctor aligned, long text through the pager, provider notes for users.
Through the installed command on a pseudo-terminal (tests/support/terminal.py)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.support.terminal import Terminal

pytestmark = pytest.mark.skipif(os.name != "posix", reason="needs a POSIX pseudo-terminal")

LONG_NAME = "Reservanto Prague, the bookings of the whole first district"
CONNECTORS = ["list-locations", "create-class-booking", "get-available-class-appointments", "booking-cancel"]


@pytest.fixture
def long_rows(cli):
    for name in (LONG_NAME, "Short"):
        args = ["add", name, "-p", "reservanto", "--no-authorize"]
        for connector in CONNECTORS:
            args += ["-c", connector]
        assert cli(*args).code == 0


def run(args: list[str], columns: int, env: dict | None = None, window: int | None = None) -> tuple[int, list[str], str]:
    with Terminal(args, columns=window or columns, env={"COLUMNS": str(columns), **(env or {})}) as t:
        code = t.wait()
    return code, [line for line in t.text.splitlines() if line.strip()], t.text


@pytest.mark.parametrize("window", [None, 60], ids=["COLUMNS", "window-size"])
def test_list_at_60_columns_cuts_the_widest_columns_with_an_ellipsis(long_rows, window):
    env = {"COLUMNS": None} if window else {}
    with Terminal(["list"], columns=60, env=env) as t:
        assert t.wait() == 0, t.text
    lines = [line for line in t.text.splitlines() if line.strip()]
    assert len(lines) == 3  # header + two rows: nothing wrapped onto a second line
    assert all(len(line) <= 60 for line in lines), lines
    header, long_row, short_row = lines[0], *sorted(lines[1:], key=lambda l: "Short" in l)
    assert header.split() == ["PROVIDER", "NAME", "STATUS", "CONNECTORS"]
    name = slice(header.index("NAME"), header.index("STATUS"))
    assert long_row[name].rstrip().endswith("…") and long_row[name].startswith("Reservanto Pra"), long_row
    assert "Not authorized" in long_row  # the narrow columns are kept whole
    assert long_row.rstrip().endswith("…")
    # The columns stay aligned: every row's status starts where the header's does.
    start = header.index("STATUS")
    assert long_row[start:].startswith("Not authorized") and short_row[start:].startswith("Not authorized")


def test_list_at_200_columns_is_not_cut(long_rows):
    code, lines, _ = run(["list"], 200)
    assert code == 0
    assert "…" not in "".join(lines)
    assert any(LONG_NAME in line and "Booking Cancel" in line for line in lines)


@pytest.mark.parametrize("columns", [60, 200])
def test_providers_fits_the_width(columns):
    code, lines, _ = run(["providers"], columns)
    assert code == 0
    assert all(len(line) <= columns for line in lines)
    assert len(lines) == 1 + 43  # one line per provider, none wrapped
    if columns == 200:
        assert "Microsoft (Entra ID / Microsoft Graph)" in "".join(lines)  # the narrower columns are kept whole
    else:
        assert "…" in "".join(lines)


def test_piped_output_is_never_cut(cli, long_rows):
    result = cli("list", env={"COLUMNS": "40"})
    assert LONG_NAME in result.stdout and "…" not in result.stdout


def test_doctor_is_aligned_on_a_terminal_and_tab_separated_when_piped(cli):
    code, lines, _ = run(["doctor"], 200)
    assert code == 8  # the tests' keyring is the fail backend
    rows = [line for line in lines if line.split()[0] in ("ok", "problem")]
    assert [row.split()[1] for row in rows] == ["registry", "index", "keyring"]
    assert "\t" not in "".join(rows)
    assert len({row.index(row.split()[1]) for row in rows}) == 1  # the check column lines up
    assert len({re.search(r"\S+\s+\S+\s+", row).end() for row in rows}) == 1  # and so does the detail
    piped = cli("doctor")
    assert [line.split("\t")[:2] for line in piped.stdout.splitlines()] == [["ok", "registry"], ["ok", "index"], ["problem", "keyring"]]


# --- the pager -----------------------------------------------------------------------------


@pytest.fixture
def fake_pager(tmp_path) -> tuple[Path, Path]:
    record = tmp_path / "pager-was-called"
    script = tmp_path / "fake-pager"
    script.write_text(f'#!/bin/sh\necho "args:$*" > "{record}"\nenv | grep -c INTEGRAY_AUTH_ >> "{record}"\ncat\necho "-- end of pager --"\n')
    script.chmod(0o755)
    return script, record


@pytest.mark.parametrize("args", [["providers", "show", "google"], ["show", "Prague"]], ids=["providers-show", "show"])
def test_long_output_goes_through_the_pager_on_a_terminal(cli, fake_pager, args):
    assert cli("add", "Prague", "-p", "reservanto", *sum((["-c", c] for c in CONNECTORS), []), "--no-authorize").code == 0
    script, record = fake_pager
    with Terminal(args, env={"PAGER": f"{script} --flag", "INTEGRAY_AUTH_GOOGLE_CLIENT_SECRET": "s3cret"}) as t:
        assert t.wait() == 0, t.text
    assert "-- end of pager --" in t.text and "Scopes" in t.text
    called = record.read_text().splitlines()
    assert called[0] == "args:--flag"
    assert called[1] == "0"  # none of our variables (secrets) reach the pager

    record.unlink()
    with Terminal([*args, "--no-pager"], env={"PAGER": str(script)}) as t:
        assert t.wait() == 0
    assert "Scopes" in t.text and not record.exists()

    piped = cli(*args, env={"PAGER": str(script)})  # never when piped
    assert piped.code == 0 and "Scopes" in piped.stdout and not record.exists()


def test_pager_cat_and_a_missing_pager_still_show_everything():
    for pager in ("cat", "/nonexistent/pager"):
        with Terminal(["providers", "show", "google"], env={"PAGER": pager}) as t:
            assert t.wait() == 0, t.text
        assert "Scopes" in t.text and "Connectors" in t.text and "Traceback" not in t.text


def test_the_default_pager_is_less_with_frx(tmp_path):
    # A `less` first on PATH that records how it was started.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "less-args"
    (bin_dir / "less").write_text(f'#!/bin/sh\necho "$*" > "{record}"\ncat\n')
    (bin_dir / "less").chmod(0o755)
    with Terminal(["providers", "show", "google"], env={"PAGER": None, "PATH": f"{bin_dir}:{os.environ['PATH']}"}) as t:
        assert t.wait() == 0, t.text
    assert record.read_text().strip() == "-FRX"


# --- notes written for users ---------------------------------------------------------------


def test_provider_notes_shown_to_users_carry_no_maintainers_remarks():
    from integray_auth.registry.loading import load_registry

    for provider in load_registry([]).providers.values():
        notes = provider.notes or ""
        for remark in ("Nango", "cross-check", "background knowledge", "re-verified", "[K]", "third party",
                       "third-party", "per our notes"):
            assert remark not in notes, f"{provider.id}: {remark!r} in its notes"
