"""The first hour on a terminal (issue 19 items 5-8), through the installed command on a pty
at 80 and 120 columns: add asks for everything (the name too), Enter takes the only remaining
match, a failure past the prompts prints the whole command with the answers, a secret read from
a terminal is not echoed; status never cuts a command; help wraps and points at nothing this
machine lacks; status and doctor take --json FIELDS and --jq; Ctrl-C ends on a line of its own;
gh's words name the command that does the job here."""

from __future__ import annotations

import re
import shlex

import pytest

from integray_auth.lean import grammar
from tests.support.cli import assert_error_line
from tests.support.commandline import problem
from tests.support.terminal import CTRL_C, ENTER, Terminal, plain

NO_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
GITHUB_CLIENT = {**NO_KEYRING, "INTEGRAY_AUTH_GITHUB_CLIENT_ID": "Ov23liTEST", "INTEGRAY_AUTH_GITHUB_CLIENT_SECRET": "s3cret"}


def pick(t: Terminal, provider: str, provider_name: str, connector: str) -> None:
    """Answer add's provider prompt, then its connector prompt, each list settled before typing."""
    t.expect("Provider (type to filter, Tab to pick): ")
    t.settle()
    t.type(provider + ENTER)
    t.expect(f"Connectors of {provider_name}")
    t.settle()
    t.type(connector + ENTER)


@pytest.mark.parametrize("columns", [80, 120])
def test_add_with_nothing_else_asks_the_name_then_the_rest(cli, columns):
    assert cli("add", "Taken", "-p", "reservanto", "-c", "list-locations", "--no-authorize").code == 0
    with Terminal(["add", "--no-authorize"], columns=columns) as t:
        t.expect("Name of the new authorization: ")
        t.type("taken" + ENTER)  # names are unique ignoring case: asked again
        t.expect("already exists")
        t.expect("Name of the new authorization: ")
        t.type("Prague" + ENTER)
        pick(t, "reservanto", "Reservanto", "list-locations")
        t.expect("Added 'Prague' (Not authorized)")
        assert t.wait() == 0, t.text


def test_a_missing_name_off_a_terminal_is_a_usage_error(cli):
    assert_error_line(cli("add", "-p", "github", "-c", "list-repositories"), 2, "missing argument 'NAME'", "integray-auth add --help")


def test_enter_takes_the_only_remaining_match():
    with Terminal(["add", "Repos", "--no-authorize"], columns=80) as t:
        # Enter takes the only match: only GitHub's id or name contains "gith", only one connector's id "list-repos".
        pick(t, "gith", "GitHub", "list-repos")
        t.expect("Added 'Repos' (Not authorized)")
        assert t.wait() == 0, t.text


@pytest.mark.parametrize("columns", [80, 120])
def test_a_failure_past_the_prompts_prints_the_whole_command_with_the_answers(columns):
    with Terminal(["add", "--no-browser", "--timeout", "1", "--insecure-storage"], columns=columns, env=GITHUB_CLIENT) as t:
        t.expect("Name of the new authorization: ")
        t.type("My GitHub" + ENTER)
        pick(t, "github", "GitHub", "list-repositories")
        assert t.wait(60) == 10, t.text
    text = " ".join(plain(t.text).replace("\n", "").split())  # the pty wraps at the width
    said = re.search(r"To try again with your answers: (integray-auth add .*?--insecure-storage)", text).group(1)
    assert said == "integray-auth add 'My GitHub' -p github -c list-repositories --no-browser --timeout 1 --insecure-storage"
    assert problem(shlex.split(said)[1:]) is None


def test_a_secret_from_a_terminal_is_read_without_echo_and_says_so():
    args = ["add", "Repos", "-p", "github", "-c", "list-repositories", "--client-id", "Ov23liTEST", "--client-secret-stdin",
            "--insecure-storage", "--no-input"]  # fmt: skip
    with Terminal(args, columns=80, env=NO_KEYRING) as t:
        t.expect("reading the client secret from standard input (not shown)")
        t.type("supersecret" + ENTER)
        t.wait(30)
    assert "supersecret" not in t.text
    assert "Run it where a person can open a browser" in plain(t.text)  # the secret was read, the run went on


def _long_name_status(cli, columns):
    name = "Reservanto Prague Main Office Bookings"
    assert cli("add", name, "-p", "reservanto", "-c", "list-locations", "--no-authorize").code == 0
    with Terminal(["status"], columns=columns) as t:
        assert t.wait() == 12
    return name, t.screen()


@pytest.mark.parametrize("columns", [80, 120])
def test_status_never_cuts_a_command(cli, columns):
    name, screen = _long_name_status(cli, columns)
    fix = f"integray-auth authorize '{name}'"
    lines = [line.rstrip() for line in screen if line.strip()]
    assert all(len(line) <= columns for line in lines), lines
    assert not any("…" in line and "integray-auth" in line for line in lines), lines
    if len(fix) + 60 > columns:  # no room beside the other columns: on its own line
        assert f"  Fix: {fix}" in lines, lines
        assert lines[0].split() == ["NAME", "HEALTH", "ACTIVE", "EXPIRES"]
    else:
        assert any(line.endswith(fix) for line in lines), lines
        assert lines[0].split()[-1] == "FIX"


@pytest.mark.parametrize("columns", ["60", "80", "120"])
@pytest.mark.parametrize("topic", ["exit-codes", "environment", "keyring", "vault"])
def test_help_topics_wrap_to_the_terminal(cli, topic, columns):
    from integray_auth.cli.helptopics import HEADLESS_KEYRING, VAULT_POLICIES

    verbatim = {HEADLESS_KEYRING, *(line.strip() for policy in VAULT_POLICIES for line in policy.splitlines())}
    text = cli("help", topic, env={"COLUMNS": columns}).stdout
    long = [line for line in text.splitlines()
            if len(line) > int(columns) and line.strip() not in verbatim and " " in line.strip()]  # one word cannot wrap
    assert long == []
    assert 'see "' not in text and "README" not in text and "docs/" not in text


def test_the_main_help_shows_one_line_summaries(cli):
    text = cli("--help", env={"COLUMNS": "80"}).stdout
    commands = text.split("\nCommands:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert len(commands) == len(grammar.COMMANDS)  # every command once
    for line in commands:
        assert re.fullmatch(r"  [a-z][a-z-]* +\S.*", line) and len(line) <= 80, line
        assert not line.endswith(("...", "…", ".")), line  # whole, not cut; a summary, not a sentence


def _every_command(command=grammar.ROOT, path=()):
    yield path
    for name, sub in command.subcommands.items():
        yield from _every_command(sub, (*path, name))


@pytest.mark.parametrize("path", list(_every_command()), ids=lambda p: " ".join(p) or "integray-auth")
def test_no_help_points_at_this_repository(cli, path):
    text = cli(*path, "--help", env={"COLUMNS": "120"}).stdout
    assert text.startswith("Usage:")
    assert "README" not in text and "docs/" not in text and 'see "' not in text


def test_status_and_doctor_take_json_fields_and_jq(cli):
    assert cli("add", "Repos", "-p", "github", "-c", "list-repositories", "--no-authorize").code == 0

    status = cli("status", "--json", "name,health,fix")
    assert status.code == 12
    assert status.json()["authorizations"] == [{"name": "Repos", "health": "not_authorized", "fix": "integray-auth authorize Repos"}]
    assert cli("status", "Repos", "--jq", ".authorizations[].fix").stdout == "integray-auth authorize Repos\n"
    assert_error_line(cli("status", "--json", "name,nmae"), 2, "unknown JSON field 'nmae' for 'status'", "Available fields: id, name")

    doctor = cli("doctor", "--json", "check,state", env=NO_KEYRING)
    assert doctor.code == 8
    assert doctor.json() == {"schema_version": 1, "exit_code": 8, "checks": [
        {"check": "registry", "state": "ok"}, {"check": "index", "state": "ok"}, {"check": "keyring", "state": "problem"}]}
    assert cli("doctor", "--jq", '.checks[] | select(.state == "problem") | .check', env=NO_KEYRING).stdout == "keyring\n"


def test_ctrl_c_while_waiting_ends_on_a_line_of_its_own():
    args = ["add", "Repos", "-p", "github", "-c", "list-repositories", "--no-browser", "--insecure-storage"]
    with Terminal(args, columns=80, env=GITHUB_CLIENT) as t:
        t.expect("Redirect URL (paste it here, then Enter): ")
        t.settle()
        t.type("half a url" + CTRL_C)
        assert t.wait() == 130
    lines = [line for line in t.screen() if line.strip()]
    assert lines[-1] == "integray-auth: interrupted", lines
    assert "interrupted" not in lines[-2]


@pytest.mark.parametrize(("word", "fragments"), [
    ("login", ["'integray-auth add NAME -p PROVIDER -c CONNECTOR' or 'integray-auth authorize NAME'"]),
    ("logout", ["'integray-auth remove NAME' or 'integray-auth deactivate NAME'"]),
    ("delete", ["'integray-auth remove NAME'"]),
    ("ls", ["'integray-auth list'"]),
])  # fmt: skip
def test_gh_words_name_the_command_that_does_the_job(cli, word, fragments):
    line = assert_error_line(cli(word, "x"), 2, f"unknown command '{word}'; here that is", *fragments)
    for command in re.findall(r"'(integray-auth [^']+)'", line):
        assert problem(["x" if word.isupper() else word for word in command.split()[1:]]) is None, command


@pytest.mark.parametrize("columns", [80, 120])
def test_providers_add_by_hand_asks_for_what_is_missing(home, columns):
    import tomllib

    with Terminal(["providers", "add"], columns=columns) as t:
        t.expect("Provider id (lowercase letters, digits, '-'): ")
        t.type("Shop" + ENTER)  # not an id: asked again
        t.expect("is not a provider id")
        t.type("shop" + ENTER)
        t.expect("Display name [shop]: ")
        t.type(ENTER)
        t.expect("Login (authorization) URL: ")
        t.type("http://shop.example/authorize" + ENTER)  # plain http to another host: asked again
        t.expect("must be https://")
        t.type("https://shop.example/oauth/authorize" + ENTER)
        t.expect("Token URL: ")
        t.type("https://shop.example/oauth/token" + ENTER)
        t.expect("Revocation URL (Enter: none): ")
        t.type(ENTER)
        t.expect("Scopes, separated by spaces (Enter: none): ")
        t.type("orders:read orders:write" + ENTER)
        t.expect("Client id (Enter: give it later with 'integray-auth client set shop'): ")
        t.type("my-app" + ENTER)
        t.expect("Request the offline_access scope (a refresh token)? [y/N] ")
        t.type("y" + ENTER)
        t.expect("Added provider 'shop'")
        assert t.wait() == 0, t.text
    entry = tomllib.loads((home / "providers.toml").read_text())["providers"]["shop"]
    assert entry["name"] == "shop" and entry["client_id"] == "my-app"
    assert entry["token_url"] == "https://shop.example/oauth/token" and "revocation_url" not in entry
    assert list(entry["scopes"]) == ["orders:read", "orders:write", "offline_access"]


def test_providers_add_by_hand_off_a_terminal_names_what_is_missing(cli):
    assert_error_line(cli("providers", "add", "shop"), 2, "missing --authorization-url, --token-url",
                      "integray-auth providers add acme --authorization-url")
