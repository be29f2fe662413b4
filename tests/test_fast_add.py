"""`add NAME -p P -c C --no-authorize` on main.py's fast path (fast_add.py): the
same command body as Typer's (cli/adding.py), the same stdout, stderr, exit
code and index, and none of the heavy imports."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from integray_auth import main as entry
from integray_auth.cli import fast_add
from integray_auth.usecases import manage
from tests.support.cli import assert_no_crash

HEAVY = ("typer", "click", "rich", "requests", "oauthlib", "keyring", "pydantic", "prompt_toolkit")
RANDOM_FIELDS = ("id", "created_at", "updated_at")  # a new id and the clock differ from run to run


@pytest.fixture
def saved(make_ctx, home):
    ctx = make_ctx()
    for name, connectors in [("Reservanto Prague", ["list-locations"]), ("Old Brno", ["list-segments"])]:
        manage.save_new(ctx, manage.new_authorization(ctx, name, "reservanto", connectors))
    manage.set_active(ctx, "Old Brno", active=False)


def typer_form(args: list[str]) -> list[str]:
    """The same command with NAME after `--`: Typer parses it, the fast path declines it."""
    name = args[1]
    return ["add", *args[2:], "--", name]


def index(home) -> list[dict]:
    path = home / "index.json"
    if not path.exists():
        return []
    entries = json.loads(path.read_text())["authorizations"]
    return [{k: v for k, v in e.items() if k not in RANDOM_FIELDS} for e in entries]


def run_in_process(capsys, args: list[str]) -> tuple[int, str, str]:
    code = entry.main(args)
    out, err = capsys.readouterr()
    return code, out, err


CASES = [
    (["add", "Gmail work", "-p", "google", "-c", "gmail-send-message", "--no-authorize"], 0),
    (["add", "Prague 2", "--provider", "reservanto", "--connector=list-locations", "-c", "create-class-booking",
      "-c", "list-locations", "--no-authorize", "--no-input"], 0),
    (["add", "Contoso", "-p", "microsoft", "-c", "outlook-read-mail", "--param", "tenant=contoso.onmicrosoft.com",
      "--no-authorize"], 0),
    (["add", "X", "-p", "gogle", "-c", "gmail-send-message", "--no-authorize"], 5),  # unknown provider
    (["add", "X", "-p", "reservanto", "-c", "list-location", "--no-authorize"], 5),  # unknown connector
    (["add", "reservanto PRAGUE", "-p", "reservanto", "-c", "list-locations", "--no-authorize"], 6),  # duplicate
    (["add", "old brno", "-p", "reservanto", "-c", "list-locations", "--no-authorize"], 6),  # an inactive one's name
    (["add", "evil\x1b]0;title\x07name", "-p", "reservanto", "-c", "list-locations", "--no-authorize"], 2),  # hostile
    (["add", "zero\u200bwidth", "-p", "reservanto", "-c", "list-locations", "--no-authorize"], 2),
    (["add", "0123456789ab", "-p", "reservanto", "-c", "list-locations", "--no-authorize"], 2),  # an id's shape
    (["add", "   ", "-p", "reservanto", "-c", "list-locations", "--no-authorize"], 2),  # empty
    (["add", "X", "-c", "list-locations", "--no-authorize"], 2),  # missing --provider
    (["add", "X", "-p", "reservanto", "--no-authorize"], 2),  # missing --connector
    (["add", "X", "-p", "shopify", "-c", "list-products", "--no-authorize"], 2),  # missing --param shop
    (["add", "X", "-p", "shopify", "-c", "list-products", "--param", "shop=no.dots", "--no-authorize"], 2),
    (["add", "X", "-p", "microsoft", "-c", "outlook-read-mail", "--param", "tenant", "--no-authorize"], 2),
    (["add", "X", "-p", "reservanto", "-c", "list-locations", "--param", "a=1", "--param", "a=2", "--no-authorize"], 2),
]


@pytest.mark.parametrize(("args", "code"), CASES, ids=lambda v: " ".join(v) if isinstance(v, list) else f"exit {v}")
def test_add_no_authorize_is_the_same_on_both_paths(capsys, saved, home, tmp_path, args, code):
    assert fast_add.run(typer_form(args)) is None  # so that run really goes through Typer
    before = tmp_path / "before"
    shutil.copytree(home, before)

    fast = run_in_process(capsys, args)
    fast_index = index(home)
    shutil.rmtree(home)
    shutil.copytree(before, home)
    typer = run_in_process(capsys, typer_form(args))

    assert fast == typer
    assert fast_index == index(home)
    assert fast[0] == code, fast[2]
    assert fast[1] == ""
    assert_no_crash(fast[2])
    if code == 0:
        assert fast[2].startswith(f"Added {args[1]!r} (Not authorized). Authorize it with: integray-auth authorize ")
        assert len(fast_index) == 3
    else:
        assert fast[2].startswith("integray-auth: ") and fast[2].count("\n") == 1
        assert "\x1b" not in fast[2] and "\x07" not in fast[2]
        assert len(fast_index) == 2


@pytest.mark.parametrize(
    "args",
    [
        ["add", "X", "-p", "reservanto", "-c", "list-locations"],  # authorizes: Typer
        ["add", "X", "-p", "reservanto", "-c", "list-locations", "--no-authorize", "--timeout", "5"],
        ["add", "X", "-preservanto", "-c", "list-locations", "--no-authorize"],
        ["add", "X", "-p", "reservanto", "-p", "google", "-c", "list-locations", "--no-authorize"],
        ["add", "X", "-p", "reservanto", "-c", "--no-authorize"],
        ["add", "X", "-p", "reservanto", "-c", "list-locations", "--no-authorize", "-p"],
        ["add", "X", "-p", "", "-c", "list-locations", "--no-authorize"],
        ["add", "X", "Y", "-p", "reservanto", "-c", "list-locations", "--no-authorize"],
        ["add", "-p", "reservanto", "-c", "list-locations", "--no-authorize"],
        ["add", "X", "-p", "reservanto", "-c", "list-locations", "--no-authorize", "--no-authorize"],
        ["add", "X", "-p", "reservanto", "-c", "list-locations", "--no-authorize", "--help"],
        ["add", "--", "X", "-p", "reservanto", "-c", "list-locations", "--no-authorize"],
        ["--registry", "x.toml", "add", "X", "-p", "reservanto", "-c", "list-locations", "--no-authorize"],
    ],
    ids=" ".join,
)
def test_what_the_fast_path_does_not_know_goes_to_typer(args):
    assert fast_add.run(args) is None


def probe(args: list[str]) -> tuple[int, list[str], str]:
    code = (
        "import json, sys\nfrom integray_auth.main import main\ncode = main(sys.argv[1:])\n"
        "print(json.dumps({'code': code, 'modules': sorted({m.split('.')[0] for m in sys.modules})}), file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60)
    report = json.loads(done.stderr.splitlines()[-1])
    return report["code"], sorted(set(report["modules"]) & set(HEAVY)), done.stderr.splitlines()[0]


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["add", "Bulk 1", "-p", "reservanto", "-c", "list-locations", "--no-authorize"], 0),
        (["add", "Bulk 2", "-p", "nope", "-c", "list-locations", "--no-authorize"], 5),
        (["add", "Reservanto Prague", "-p", "reservanto", "-c", "list-locations", "--no-authorize"], 6),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else f"exit {v}",
)
def test_add_no_authorize_imports_none_of_the_heavy_libraries(saved, args, code):
    result = probe(args)

    assert result[:2] == (code, [])
    assert result[2].startswith("Added " if code == 0 else "integray-auth: ")


def test_the_probe_would_see_typer(saved):
    code, imported, _ = probe(typer_form(["add", "Bulk 3", "-p", "reservanto", "-c", "list-locations", "--no-authorize"]))

    assert code == 0 and "typer" in imported


def test_the_installed_command_adds_the_same_on_both_paths(cli, saved, home, tmp_path):
    args = ["add", "Script added", "-p", "reservanto", "-c", "list-segments", "--no-authorize"]
    before = tmp_path / "before"
    shutil.copytree(home, before)

    fast = cli(*args)
    fast_index = index(home)
    shutil.rmtree(home)
    shutil.copytree(before, home)
    typer = cli(*typer_form(args))

    assert fast.code == 0, fast.stderr
    assert (fast.code, fast.stdout, fast.stderr) == (typer.code, typer.stdout, typer.stderr)
    assert fast_index == index(home)
    assert [e["name"] for e in fast_index] == ["Reservanto Prague", "Old Brno", "Script added"]


def test_add_no_authorize_reads_the_index_once(capsys, saved, monkeypatch):
    """At 1,000 authorizations a read of the index costs more than all of `add`'s checks."""
    from integray_auth.stores.index import Index

    reads = []
    real = Index.load
    monkeypatch.setattr(Index, "load", lambda self, **options: reads.append(1) or real(self, **options))

    code, _, err = run_in_process(capsys, ["add", "Once", "-p", "reservanto", "-c", "list-locations", "--no-authorize"])

    assert code == 0, err
    assert len(reads) == 1


def test_the_index_is_rewritten_by_jsons_c_encoder(capsys, saved, monkeypatch, home):
    """json's indenting encoder is pure Python: at 1,000 entries it cost more than the rest of `add`."""
    import json.encoder

    def pure_python(*args, **kwargs):
        raise AssertionError("the index was written with json's pure-Python encoder")

    monkeypatch.setattr(json.encoder, "_make_iterencode", pure_python)

    code, _, err = run_in_process(capsys, ["add", "Encoded", "-p", "reservanto", "-c", "list-locations", "--no-authorize"])

    assert code == 0, err
    text = (home / "index.json").read_text()
    assert [e["name"] for e in json.loads(text)["authorizations"]] == ["Reservanto Prague", "Old Brno", "Encoded"]
    assert text.count("\n") == 5  # the header line, one line per authorization, the closing line
