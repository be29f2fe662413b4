"""Every hint is a command that works (issue 19 item 2): each `integray-auth ...` command the
source can print in a message or a hint — `Run: ...`, `Try: ...`, `... with: ...`, `'integray-auth
...'`, and every `command_hint(...)` — parses with the real command parser. Read from the source
(string literals and f-strings, their `{...}` parts as a sample word), so a new message is checked
without anyone listing it; then the known wrong ones, each in the state it is printed in."""

from __future__ import annotations

import ast
import re

import pytest

from tests.support.cli import REPO, assert_error_line
from tests.support.commandline import concrete, problem

SOURCE = REPO / "src" / "integray_auth"
HOLE = "\x00"  # where an f-string puts a value
# Shell scripts completion prints, not messages: they call the hidden `__complete`.
NOT_MESSAGES = {"cli/completion.py"}
QUOTED = re.compile(r"'(integray-auth [^']+)'")
LEADING = re.compile(r"(?:Run|Try|[Ww]ith|See|again|use it again with|bind it anew with):? (integray-auth [^'\n]*?)(?=;|\. |\.$|, then |, or |\(|$)")


def _text(node) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(part.value if isinstance(part, ast.Constant) else HOLE for part in node.values)
    return None


def printed_hints() -> list[tuple[str, str]]:
    """(where, command) for every command a message of the source can print."""
    found = []
    for path in sorted(SOURCE.rglob("*.py")):
        where = str(path.relative_to(SOURCE))
        if where in NOT_MESSAGES:
            continue
        tree = ast.parse(path.read_text())
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and node.body
                      and isinstance(node.body[0], ast.Expr)}  # fmt: skip
        # The literal pieces of an f-string are read with it, not alone.
        docstrings |= {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "command_hint":
                command = _text(node.args[0]) if node.args else None
                if command and HOLE not in command:
                    found.append((f"{where}:{node.lineno}", f"integray-auth {command} NAME"))
                continue
            text = _text(node)
            if text is None or id(node) in docstrings or "integray-auth " not in text:
                continue
            commands = QUOTED.findall(text) + [match.group(1) for match in LEADING.finditer(text)]
            found += [(f"{where}:{node.lineno}", command.strip()) for command in dict.fromkeys(commands)]
    return found


HINTS = printed_hints()


def _words(command: str) -> list[str] | None:
    command = re.split(r" [<>|] ", command)[0]  # `client set x --secret-stdin < secret-file`
    words = concrete(command.replace(HOLE, "x"))[1:]
    if not words or words[0] == "x":
        return None  # the command itself is a value (hints.command_hint): checked at its callers
    return words


def test_the_hints_are_found():
    commands = {command for _, command in HINTS}
    assert len(HINTS) > 30
    for expected in ("integray-auth providers", "integray-auth list --all", "integray-auth authorize NAME",
                     "integray-auth activate NAME", "integray-auth doctor --repair"):
        assert expected in commands, expected


@pytest.mark.parametrize(("where", "command"), HINTS, ids=[f"{where} {command}" for where, command in HINTS])
def test_every_printed_command_parses(where, command):
    words = _words(command)
    if words is None:
        pytest.skip("the command is a value here; its callers are checked")
    assert problem(words) is None, f"{where}: `{command}` does not parse: {problem(words)}"


# The known wrong ones, each in the state it is printed in.


def test_a_parameter_typo_suggests_the_real_name_not_the_typo(cli):
    result = cli("add", "Mail", "-p", "microsoft", "-c", "outlook-read-mail", "--param", "tenat=contoso", "--no-authorize")

    line = assert_error_line(result, 2, "has no parameter 'tenat'", "did you mean 'tenant'?", "Pass --param tenant=VALUE")
    assert "tenat=VALUE" not in line


@pytest.mark.parametrize(("view", "hint"), [(["--all"], "integray-auth add NAME"), (["--inactive"], "integray-auth list --all"),
                                            ([], "integray-auth add NAME")])
def test_an_empty_list_suggests_what_helps_in_that_view(home, view, hint):
    from tests.support.terminal import Terminal, plain

    with Terminal(["list", *view], columns=80) as terminal:
        assert terminal.wait() == 0
        text = plain(terminal.text)
    assert f"Try: {hint}" in text
    if view == ["--all"]:
        assert "Try: integray-auth list --all" not in text
    said = re.search(r"Try: (integray-auth .*)", text).group(1).strip()
    assert problem(concrete(said)[1:]) is None


def test_deactivating_one_without_tokens_does_not_say_its_tokens_are_kept(cli):
    assert cli("add", "Repos", "-p", "github", "-c", "list-repositories", "--no-authorize").code == 0

    result = cli("deactivate", "Repos")

    assert result.code == 0, result.stderr
    assert "tokens are kept" not in result.stderr
    assert "it has no tokens (Not authorized)" in result.stderr
    assert "use it again with: integray-auth activate Repos" in result.stderr


@pytest.mark.e2e
def test_authorizing_an_inactive_one_says_it_is_still_inactive(cli, auth_server, http_browser, keyring_env):
    assert cli("providers", "add", "dot", "--issuer", auth_server.issuer, "--client-id", auth_server.client_id).code == 0
    assert cli("providers", "connector", "add", "dot", "reader", "--scope", "read").code == 0
    assert cli("add", "Sleeping", "-p", "dot", "-c", "reader", "--no-authorize").code == 0
    assert cli("deactivate", "Sleeping").code == 0

    result = cli("authorize", "Sleeping", env={**http_browser.env(), **keyring_env})

    assert result.code == 0, result.stderr
    assert "Authorized 'Sleeping' with dot." in result.stderr
    assert "It is still inactive: token and exec refuse it until integray-auth activate Sleeping" in result.stderr
    assert cli("token", "Sleeping", env=keyring_env).code == 13
    assert cli("activate", "Sleeping").code == 0
    assert cli("token", "Sleeping", env=keyring_env).code == 0
