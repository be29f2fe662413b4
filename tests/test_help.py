"""Help that documents itself, through the installed command: topics made from
the tables the README shows, the exit codes in --help, usage lines without
braces, examples never wrapped, and usage errors as one `integray-auth:` line."""

from __future__ import annotations

import re

import pytest

from integray_auth.cli import helptopics
from integray_auth.errors import EXIT_CODE_MEANINGS, ExitCode
from tests.support.cli import REPO, assert_error_line

README = (REPO / "README.md").read_text()


def readme_table(heading: str) -> list[tuple[str, str]]:
    """The two-column table right under `## heading` in the README."""
    section = README.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")][2:]  # header, rule
    return [tuple(cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]) for row in rows]


def test_the_readme_exit_code_table_is_errors_table():
    table = [(", ".join(str(int(code)) for code in codes), meaning) for codes, meaning in EXIT_CODE_MEANINGS]
    assert readme_table("Exit codes") == table
    every = [code for codes, _ in EXIT_CODE_MEANINGS for code in codes]
    assert sorted(every) == sorted(ExitCode)  # each code once


def test_the_readme_environment_table_is_helptopics_table():
    assert readme_table("Environment variables") == list(helptopics.ENVIRONMENT)


def test_help_exit_codes_lists_every_code_with_its_meaning(cli):
    result = cli("help", "exit-codes")

    assert (result.code, result.stderr) == (0, "")
    for code in ExitCode:
        assert re.search(rf"^\s+(\d+, )?{int(code)}(, \d+)?  \S", result.stdout, re.M), code
    assert "INTEGRAY_AUTH_DEBUG=1 shows details" in result.stdout
    assert "`" not in result.stdout  # Markdown in the table, plain on the terminal


def test_help_environment_lists_every_variable(cli):
    result = cli("help", "environment")

    assert (result.code, result.stderr) == (0, "")
    for variable in ("INTEGRAY_AUTH_HOME", "INTEGRAY_AUTH_REGISTRY", "INTEGRAY_AUTH_<PROVIDER>_CLIENT_ID", "NO_COLOR"):
        assert f"\n  {variable}" in result.stdout


def test_help_of_a_command_is_its_help_and_bare_help_is_the_main_help(cli):
    assert cli("help", "add").stdout == cli("add", "--help").stdout
    assert cli("help", "providers").stdout == cli("providers", "--help").stdout
    assert cli("help").stdout == cli("--help").stdout


def test_an_unknown_help_topic_is_a_usage_error_with_a_close_suggestion(cli):
    assert_error_line(cli("help", "exit-code"), ExitCode.USAGE, "no help topic or command 'exit-code'; did you mean 'exit-codes'?")


def test_the_main_help_ends_with_the_exit_codes(cli):
    text = cli("--help", env={"COLUMNS": "80"}).stdout

    words = " ".join(text.split())  # the paragraph is wrapped to the width
    assert "Exit codes: 0 ok, 1 error, 2 usage, 3 registry" in words
    assert "13 inactive, 126 cannot run, 127 command not found, 130 interrupted." in words
    assert "  integray-auth help exit-codes    what each exit code means\n" in text
    assert "completion" in text and "help" in text


COMMANDS = [
    [], ["list"], ["search"], ["show"], ["add"], ["authorize"], ["token"], ["deactivate"], ["activate"],
    ["remove"], ["doctor"], ["providers"], ["providers", "show"], ["client"], ["client", "set"],
    ["client", "remove"], ["completion"], ["help"],
]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "integray-auth")
def test_usage_lines_show_arguments_without_braces(cli, command):
    result = cli(*command, "--help")

    assert result.code == 0, result.stderr
    usage = result.stdout.splitlines()[0]
    assert usage.startswith(" ".join(["Usage: integray-auth", *command]))
    assert "{" not in usage and "}" not in usage


@pytest.mark.parametrize("columns", ["60", "200"])
def test_examples_are_never_wrapped_inside_an_argument(cli, columns):
    text = cli("add", "--help", env={"COLUMNS": columns}).stdout

    assert '\n    integray-auth add "Reservanto Prague" -p reservanto -c list-locations -c create-class-booking\n' in text
    assert "\n    integray-auth add \"Outlook Contoso\" -p microsoft -c outlook-read-mail --param tenant=contoso.onmicrosoft.com\n" in text


def test_bare_command_and_a_bare_group_print_help_and_exit_0(cli):
    for args in ((), ("client",)):
        result = cli(*args)
        assert (result.code, result.stderr) == (0, ""), args
        assert result.stdout.startswith("Usage: integray-auth")


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["list", "--jsn"], ["unknown option '--jsn' for 'integray-auth list'; did you mean '--json'? Run 'integray-auth list --help'."]),
        (["list", "--frobnicate"], ["unknown option '--frobnicate' for 'integray-auth list'. Run 'integray-auth list --help'."]),
        (["show"], ["missing argument 'NAME'. Run 'integray-auth show --help'."]),
        (["show", "a", "b"], ["unexpected extra argument", "Run 'integray-auth show --help'."]),
        (["add", "X", "--timeout", "soon"], ["invalid value for '--timeout'", "Run 'integray-auth add --help'."]),
        (["list", "--jq"], ["option '--jq' requires an argument", "Run 'integray-auth list --help'."]),
        (["providers", "shwo"], ["unknown command 'shwo' for 'integray-auth providers'; did you mean 'show'?"]),
        (["remvoe", "x"], ["unknown command 'remvoe'; did you mean 'remove'? Run 'integray-auth --help' to list the commands."]),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) and value and "'" not in value[0] else "",
)
def test_usage_errors_are_one_line_with_a_hint(cli, args, fragments):
    line = assert_error_line(cli(*args), ExitCode.USAGE, *fragments)

    assert "Error" not in line and "Usage:" not in line and "unexpected error" not in line


def test_the_readme_documents_the_topics_completion_and_json_fields():
    for text in ("integray-auth help exit-codes", "integray-auth help environment", 'eval "$(integray-auth completion bash)"',
                 "--json name,status", "--jq"):  # fmt: skip
        assert text in README, text
