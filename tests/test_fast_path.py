"""The stdlib-only fast path for `list`, `search` and `token`: the same output
and exit codes as the Typer commands, and none of the heavy imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from integray_auth import main as entry
from integray_auth.cli import jsonfields
from integray_auth.stores import lookup
from integray_auth.usecases import manage
from tests.support.cli import SCRIPT
from tests.support.imports import HEAVY, IMPORT_PROBE, SLOW_STDLIB, probe  # noqa: F401
from tests.support.saved import file_stored, saved  # noqa: F401


def typer_form(args: list[str]) -> list[str]:
    """The same command with `--` before the positionals: Typer parses it, the fast path declines it.

    `--json FIELDS` and `--jq EXPR` keep their values, as main.py reads them (jsonfields.normalize)."""
    words = iter(jsonfields.normalize(args)[1:])
    options, positionals = [], []
    for word in words:
        if word == "--jq":
            options += [word, next(words)]
        elif word.startswith("-"):
            options.append(word)
        else:
            positionals.append(word)
    return [args[0], *options, "--", *positionals]


def run_in_process(capsys, args: list[str]) -> tuple[int, str, str]:
    code = entry.main(args)
    out, err = capsys.readouterr()
    return code, out, err


PARITY = [
    ["list"],
    ["list", "--inactive"],
    ["list", "--all"],
    ["list", "--json"],
    ["list", "--inactive", "--json"],
    ["list", "--json", "--all"],
    ["search", "reservanto"],
    ["search", "PRAGUE", "--json"],
    ["search", "brno", "--inactive"],
    ["search", "gmail", "--all", "--json"],
    ["search", "location_r", "--all"],
    ["search", "gone"],
    ["search", "nothing-like-this"],  # exit 7
    ["search", "gmail", "--inactive", "--json"],  # exit 7
    # --json FIELDS: a value when it reads as a field list, or when no positional can take it.
    ["list", "--json", "name,status"],
    ["list", "--json", "name"],
    ["list", "--all", "--json=active,name,id"],
    ["list", "--json", "name", "--json", "status"],  # the last one wins, as in Click
    ["search", "--json", "reservanto"],  # not a field: still the query
    ["search", "--json", "name,active", "reservanto", "--all"],
    ["search", "reservanto", "--json", "name"],
    ["list", "--jq", ".authorizations[].name"],
    ["list", "--all", "--json", "name,active", "--jq", ".authorizations[] | select(.active | not) | .name"],
    ["search", "PRAGUE", "--jq=.view"],
    ["search", "nothing-like-this", "--json", "name"],  # exit 7
    ["show", "Gmail"],
    ["show", "Reservanto Prague", "--json"],
    ["show", "Reservanto Brno", "--no-pager"],
    ["show", "--json", "Orphan"],
    ["show", "nobody"],  # exit 5
    ["show", "Gmail", "--json", "status,scopes"],
    ["show", "Gmail", "--jq", ".authorization.name"],
]


@pytest.mark.parametrize("args", PARITY, ids=" ".join)
def test_fast_path_and_typer_print_the_same(capsys, saved, args):
    assert entry._fast_path(typer_form(args)) is None  # so the second run really goes through Typer

    fast = run_in_process(capsys, args)
    typer = run_in_process(capsys, typer_form(args))

    assert fast == typer
    assert fast[0] in (0, 5, 7)


def test_parity_holds_for_errors_of_the_index(capsys, home):
    home.mkdir()
    (home / "index.json").write_text("{broken")

    fast = run_in_process(capsys, ["list", "--json"])
    typer = run_in_process(capsys, typer_form(["list", "--json"]))

    assert fast == typer
    assert fast[0] == 4 and fast[1] == ""


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["list", "--json", "nmae"], "unknown JSON field 'nmae' for 'list'. Available fields: id, name, provider,"),
        (["search", "x", "--json", "name,bogus,worse"], "unknown JSON fields 'bogus', 'worse' for 'search'"),
        (["list", "--jq", ".authorizations["], "--jq '.authorizations[' is not a valid jq expression: syntax error"),
        (["list", "--jq", ".view[]"], "--jq '.view[]' failed: Cannot iterate over string"),
        (["list", "--jq", " "], "--jq needs an expression"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else "",
)
def test_json_usage_errors_are_the_same_on_both_paths(capsys, saved, args, fragment):
    fast = run_in_process(capsys, args)
    typer = run_in_process(capsys, typer_form(args))

    assert fast == typer
    code, out, err = fast
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and err.startswith("integray-auth: ") and fragment in err, err


def test_the_fast_path_hands_what_it_does_not_know_to_typer(capsys, saved):
    for args in (["list", "--inactive", "--all"], ["list", "--help"], ["list", "extra"], ["search"], ["search", "a", "b"]):
        assert entry._fast_path(args) is None, args

    code, out, err = run_in_process(capsys, ["list", "--inactive", "--all"])

    assert code == 2
    assert "cannot be used together" in err


@pytest.mark.parametrize("args", [["list", "--all", "--json"], ["search", "reservanto"]], ids=" ".join)
def test_the_installed_command_gives_the_same_output_on_both_paths(cli, saved, args):
    fast = cli(*args)
    typer = cli(*typer_form(args))
    module = subprocess.run(
        [sys.executable, "-m", "integray_auth", *typer_form(args)], capture_output=True, text=True, timeout=30
    )

    assert fast.code == 0, fast.stderr
    assert (fast.code, fast.stdout, fast.stderr) == (typer.code, typer.stdout, typer.stderr)
    assert (module.returncode, module.stdout) == (fast.code, fast.stdout)


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["list"], 0),
        (["list", "--json"], 0),
        (["list", "--all"], 0),
        (["search", "reservanto"], 0),
        (["search", "reservanto", "--json"], 0),
        (["search", "nothing-like-this"], 7),
        (["list", "--json", "name,status"], 0),
        (["list", "--jq", ".authorizations[].name"], 0),
        (["list", "--json", "nmae"], 2),
        (["show", "Gmail"], 0),
        (["show", "Gmail", "--json"], 0),
        (["show", "Gmail", "--json", "name,health"], 0),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else f"exit {value}",
)
def test_list_and_search_import_none_of_the_heavy_libraries(saved, args, code):
    result = probe(args, HEAVY)

    assert result[:2] == (code, [])
    assert code != 0 or result[2]
    assert ("jq" in probe(args, ("jq",))[1]) == ("--jq" in args)  # jq is imported only for --jq


@pytest.fixture
def bound(make_ctx, saved):
    """'Gmail' authorized and bound to its endpoints, its access token expired and not
    renewable: health compares the expiry with the clock and the endpoints with the registry."""
    from integray_auth.usecases.binding import endpoints_of

    ctx = make_ctx()
    with ctx.index.transaction() as authorizations:
        gmail = lookup.find_in(authorizations, "Gmail")
        gmail.status, gmail.granted_scopes, gmail.storage = "authorized", list(gmail.requested_scopes), "keyring"
        gmail.expires_at, gmail.renewable = "2020-01-01T00:00:00Z", False
        gmail.endpoints = endpoints_of(ctx.registry.get("google"))


WARM_CACHE_COMMANDS = [
    (["list"], 0),
    (["list", "--all", "--json"], 0),
    (["search", "gmail"], 0),
    (["show", "Gmail"], 0),
    (["show", "Gmail", "--json"], 0),
    (["status"], 12),  # the Reservanto one is not authorized, Gmail's token expired
    (["status", "--json", "Gmail"], 12),
]


@pytest.mark.parametrize(("args", "code"), WARM_CACHE_COMMANDS, ids=lambda v: " ".join(v) if isinstance(v, list) else f"exit {v}")
def test_with_a_warm_registry_cache_list_search_show_and_status_import_no_slow_stdlib_module(bound, args, code):
    warm = probe(["list"], ())
    assert warm[0] == 0

    assert probe(args, HEAVY + SLOW_STDLIB)[:2] == (code, [])
    imported, result = lean_probe(args), cli_run(args)
    assert imported[:2] == (code, [])  # pathlib, re, enum, json, urllib, datetime, ... (LEAN_NEVER)
    assert imported[2] == result  # what the command prints, too: the expiry compared, Gmail's endpoints checked
    assert "xpired" in result and ("Gmail" in result or "gmail" in result)


def cli_run(args: list[str]) -> str:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=30).stdout


def test_token_from_the_file_store_imports_none_of_the_heavy_libraries(file_stored):
    result = probe(["token", "Gmail"], HEAVY + ("dataclasses", "inspect"))

    assert result == (0, [], "file-token\n")


# What `token` from the file store does not need: the registry and the output layer
# (health, fit), the network, the keyring's way to the Secret Service, Vault (not configured).
TOKEN_NEVER = (
    "integray_auth.registry", "integray_auth.cli.output", "integray_auth.health", "integray_auth.cli.fit",
    "integray_auth.lean.secret_service", "integray_auth.stores.vault", "integray_auth.stores.vault_store",
    "integray_auth.stores.shared_index", "hvac", "requests", "socket", "ssl", "http",
    "email", "urllib.request", "cryptography", "keyring", "tomllib", "shlex", "subprocess",
)


def test_token_from_the_file_store_loads_neither_the_registry_nor_the_output_layer(file_stored):
    probe_code = IMPORT_PROBE.replace('m.split(".")[0] for m in sys.modules', "m for m in sys.modules")
    done = subprocess.run([sys.executable, "-c", probe_code, "token", "Gmail"], capture_output=True, text=True, timeout=30)
    report = json.loads(done.stderr.splitlines()[-1])

    assert (report["code"], done.stdout) == (0, "file-token\n")
    assert sorted(set(report["modules"]) & set(TOKEN_NEVER)) == []
    assert "integray_auth.usecases.access_token" in report["modules"]  # the probe sees our own modules


def test_the_probe_would_see_a_heavy_import(saved):
    code, imported, _ = probe(typer_form(["list"]), HEAVY + SLOW_STDLIB)

    assert code == 0
    assert "typer" in imported


# --- status and token's options on the fast path --------------------------------------------

STATUS_PARITY = [
    (["status"], 12),  # the active ones are not authorized
    (["status", "--json"], 12),
    (["status", "Gmail", "--json"], 12),
    (["status", "Reservanto Brno"], 13),  # deactivated
    (["status", "nobody"], 5),
]


@pytest.mark.parametrize(("args", "code"), STATUS_PARITY, ids=lambda v: " ".join(v) if isinstance(v, list) else f"exit {v}")
def test_status_prints_the_same_on_both_paths(capsys, saved, args, code):
    assert entry._fast_path(typer_form(args)) is None

    fast = run_in_process(capsys, args)
    typer = run_in_process(capsys, typer_form(args))

    assert fast == typer
    assert fast[0] == code


@pytest.mark.parametrize(
    ("fast_args", "typer_args"),
    [
        (["token", "Gmail", "--format", "json"], ["token", "--format", "json", "--", "Gmail"]),
        (["token", "--format=header", "Gmail"], ["token", "--format", "header", "--", "Gmail"]),
        (["token", "Gmail", "--format", "env", "--min-valid", "60"], ["token", "--min-valid", "60", "--format", "env", "--", "Gmail"]),
        (["token", "Gmail", "--format", "raw"], ["token", "--", "Gmail"]),
    ],
    ids=lambda v: " ".join(v),
)
def test_token_options_print_the_same_on_both_paths(capsys, file_stored, fast_args, typer_args):
    assert entry._fast_path(typer_args) is None

    fast = run_in_process(capsys, fast_args)
    typer = run_in_process(capsys, typer_args)

    assert fast == typer
    assert fast[0] == 0 and "file-token" in fast[1]


def test_token_options_the_fast_path_does_not_know_go_to_typer(capsys, file_stored):
    for args in (["token", "Gmail", "--format", "yaml"], ["token", "Gmail", "--min-valid", "-5"],
                 ["token", "Gmail", "--min-valid"], ["token", "Gmail", "--min-valid", "99999999"]):
        assert entry._fast_path(args) is None, args
        code, out, err = run_in_process(capsys, args)
        assert code == 2 and out == "", err


@pytest.mark.parametrize(
    ("args", "code", "stdout"),
    [
        (["status"], 12, None),
        (["status", "--json", "Gmail"], 0, "\"health\":\"authorized\""),
        (["token", "Gmail", "--format", "json", "--min-valid", "30"], 0, '"file-token"'),
        (["token", "Gmail", "--format", "env"], 0, "INTEGRAY_AUTH_TOKEN='file-token'\n"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else str(v),
)
def test_status_and_token_options_import_none_of_the_heavy_libraries(file_stored, args, code, stdout):
    result = probe(args, HEAVY + ("dataclasses", "inspect"))

    assert result[:2] == (code, [])
    if stdout:
        assert stdout in result[2]


# The stdlib modules that together cost about one `python -c pass` to import
# (pathlib pulls re, fnmatch, urllib.parse, ipaddress, ntpath, warnings; json's
# decoder imports re; re imports enum; datetime). `token` from the file store
# needs none: jsonio.py reads JSON through _json, filepath.py stands in for
# pathlib.Path, tokens.expires_within checks the expiry in whole seconds.
LEAN_NEVER = (
    "pathlib", "re", "enum", "json", "json.decoder", "fnmatch", "urllib", "urllib.parse", "ipaddress", "ntpath",
    "warnings", "importlib", "datetime", "_datetime", "shlex", "tomllib",
)

LEAN_PROBE = textwrap.dedent(
    """
    import sys
    from integray_auth.main import main
    code = main(sys.argv[1:])
    modules = sorted(sys.modules)  # before this probe's own json import
    import json
    print(json.dumps({"code": code, "modules": modules}), file=sys.stderr)
    """
)


def lean_probe(args: list[str], env: dict[str, str] | None = None, never=LEAN_NEVER) -> tuple[int, list[str], str]:
    """Run the command in a fresh interpreter: its exit code, which LEAN_NEVER modules it imported, its stdout."""
    done = subprocess.run([sys.executable, "-c", LEAN_PROBE, *args], capture_output=True, text=True, timeout=30, env=env)
    report = json.loads(done.stderr.splitlines()[-1])
    assert "integray_auth.main" in report["modules"]  # the probe sees the modules by their full names
    return report["code"], sorted(set(report["modules"]) & set(never)), done.stdout


@pytest.mark.parametrize("args", [["token", "Gmail"], ["token", "Gmail", "--min-valid", "30"]], ids=" ".join)
def test_token_from_the_file_store_imports_no_slow_stdlib_module(file_stored, args):
    assert lean_probe(args) == (0, [], "file-token\n")


# contextlib brings these (about 3 ms); the locks and transactions that use it are on write paths (scoped.py).
TOKEN_LEAN_NEVER = ("contextlib", "collections", "functools", "reprlib", "operator")


def test_token_from_the_file_store_imports_no_contextlib(file_stored):
    done = subprocess.run([sys.executable, "-c", LEAN_PROBE, "token", "Gmail"], capture_output=True, text=True, timeout=30)
    report = json.loads(done.stderr.splitlines()[-1])

    assert (report["code"], done.stdout) == (0, "file-token\n")
    assert sorted(set(report["modules"]) & set(TOKEN_LEAN_NEVER)) == []
    assert "integray_auth.lean.scoped" in report["modules"]  # the probe sees the module the locks come from


def test_the_lean_probe_would_see_a_slow_stdlib_module(saved, home):
    cache = home / "cache" / "registry.json"
    assert probe(["list"], ())[0] == 0 and cache.exists()
    cache.unlink()  # cold: the registry is read from its TOML (tomllib imports re and datetime)

    code, imported, _ = lean_probe(["list", "--json", "name"])

    assert code == 0
    assert {"re", "enum", "datetime"} <= set(imported)
    assert cache.exists()


@pytest.mark.skipif(sys.platform != "linux", reason="the XDG folders are worked out without platformdirs on Linux only")
def test_without_integray_auth_home_list_finds_its_folders_without_platformdirs(make_ctx, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "INTEGRAY_AUTH_HOME" and not k.startswith("XDG_")}
    env["HOME"] = str(tmp_path / "user")
    data = tmp_path / "user" / ".local" / "share" / "integray-auth"
    data.mkdir(parents=True)
    ctx = make_ctx()
    manage.save_new(ctx, manage.new_authorization(ctx, "Gmail", "google", ["gmail-send-message"]))
    (data / "index.json").write_bytes(ctx.paths.index_file.read_bytes())
    assert lean_probe(["list"], env)[0] == 0  # the registry cache written, in ~/.cache/integray-auth

    code, imported, out = lean_probe(["list"], env, LEAN_NEVER + ("platformdirs",))

    assert (code, imported) == (0, [])
    assert "Gmail" in out and (tmp_path / "user" / ".cache" / "integray-auth" / "registry.json").exists()


# --- how a fast-path process ends (main._exit_now: no interpreter teardown) -----------------


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux), a device every write fails on")
@pytest.mark.parametrize("args", [["list"], ["list", "--all", "--json"], ["token", "Gmail"], ["show", "Gmail"]],
                         ids=" ".join)
def test_output_that_cannot_be_written_is_one_line_and_exit_1(file_stored, args):
    with open("/dev/full", "w") as full:
        done = subprocess.run([str(SCRIPT), *args], stdout=full, stderr=subprocess.PIPE, text=True, timeout=30)

    assert done.returncode == 1
    assert done.stderr == ("integray-auth: cannot write the output (No space left on device). "
                           "Send it where there is room, or free some space.\n")


@pytest.mark.parametrize("args", [["list"], ["list", "--json"], ["token", "Gmail"], ["status"], ["status", "--json"]],
                         ids=" ".join)
def test_a_reader_that_left_before_the_output_is_no_error(file_stored, args):
    read = subprocess.run([str(SCRIPT), *args], capture_output=True, timeout=30)
    proc = subprocess.Popen([str(SCRIPT), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # long before the process has read the index and written a byte
    stderr = proc.stderr.read()
    proc.stderr.close()

    assert read.stdout and not read.stderr
    assert (proc.wait(timeout=30), stderr) == (read.returncode, b"")  # as when it is read: no error line
    assert args[0] != "status" or read.returncode == 12  # status's code says something: one is not authorized
