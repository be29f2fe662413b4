"""Every `integray-auth ...` command the README and docs/ show parses with the real command
parser (Typer's tree, which tests/test_command_table.py holds equal to lean/grammar.py): no
unknown command or option, no bad choice, no missing or extra argument. A reader pastes them."""

from __future__ import annotations

import re
import shlex

import pytest

from tests.support.cli import REPO
from tests.support.commandline import concrete, problem

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
OPERATORS = {"|", "||", "&&", ";", ">", "<", ">>", "(", ")", "&", "2>", "<<"}
SUBSTITUTION = re.compile(r"\$\((integray-auth [^()]*)\)")


def _in_code_line(line: str) -> list[str]:
    """The integray-auth commands a shell would run from one line of a code block."""
    found = [command for match in SUBSTITUTION.finditer(line) for command in _in_code_line(match.group(1))]
    line = SUBSTITUTION.sub("SUBSTITUTED", line)
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        words = list(lexer)
    except ValueError:  # an open quote: not a shell line (a message, a TOML value)
        return found
    current: list[str] | None = None
    starts = True  # the word is where a shell command starts
    for word in [*words, ";"]:
        operator = word in OPERATORS or set(word) <= set("|&;<>()")
        if current is not None and operator:
            found.append(shlex.join(current))
            current = None
        elif current is not None:
            current.append(word)
        elif starts and (word == "integray-auth" or word.endswith("/bin/integray-auth")):
            current = []
        starts = operator or (starts and re.fullmatch(r"\w+=\S*|sudo|exec|time|env", word) is not None)
    return ["integray-auth " + command if not command.startswith("integray-auth ") else command for command in found]


def _until_pipe(span: str) -> str:
    """A code span up to a shell pipe or redirection, which `[a \\| b]` (a choice) is not."""
    depth = 0
    for at, character in enumerate(span):
        depth += {"[": 1, "]": -1}.get(character, 0)
        if depth == 0 and re.match(r" (\\?\||<|>) ", span[at:]):
            return span[:at]
    return span


def shown_commands() -> list[tuple[str, str, list[str]]]:
    """(page, command as shown, its words) for every command in a code block or a code span."""
    shown = []
    for page in PAGES:
        text = page.read_text()
        name = str(page.relative_to(REPO))
        for block in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.S | re.M):
            language, body = block.groups()
            if language in ("toml", "json"):
                continue
            for line in body.splitlines():
                if language == "ini":
                    if not line.startswith("ExecStart="):
                        continue
                    line = line.removeprefix("ExecStart=")
                if language == "console":
                    if not line.startswith("$ "):
                        continue  # output
                    line = line[2:]
                if line.startswith("integray-auth:"):
                    continue  # an error message shown as printed
                for command in _in_code_line(line):
                    shown.append((name, command, shlex.split(command)[1:]))
        prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
        for span in re.findall(r"`(integray-auth [^`]+)`", prose):
            span = re.sub(r"\s*\n>?\s*", " ", span)  # a span wrapped across lines (and a quote's `>`)
            span = _until_pipe(span)
            shown.append((name, span, concrete(span)[1:]))
    return shown


SHOWN = shown_commands()

def test_the_pages_show_commands():
    pages = {page for page, _, _ in SHOWN}
    assert {"README.md", "docs/commands.md", "docs/authorizing.md", "docs/registry.md", "docs/scripts.md"} <= pages
    assert len(SHOWN) > 100


@pytest.mark.parametrize(
    ("page", "command", "words"),
    SHOWN,
    ids=[f"{page}: {command}" for page, command, _ in SHOWN],
)
def test_every_command_shown_parses(page, command, words):
    assert problem(words) is None, f"{page}: `{command}` does not parse: {problem(words)}"
    if words[:2] == ["providers", "add"]:  # the ID is asked for only on a terminal: a pasted command names it
        assert len(words) > 2 and not words[2].startswith("-"), f"{page}: `{command}` names no provider ID"


def test_the_check_catches_a_wrong_command():
    assert problem(["client", "set", "github", "--insecure-storage"])
    assert problem(["lsit"])
    assert problem(["token", "x", "--format", "xml"])
    assert problem(["show"]) is None or "NAME" in problem(["show"])


def _anchors(page) -> set[str]:
    """GitHub's anchors of a page's headings: lower case, punctuation dropped, spaces as `-`."""
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.S | re.M)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in re.findall(r"^#+ (.*)$", text, re.M)}


def test_every_link_between_the_pages_reaches_a_page_and_a_heading():
    broken = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+:", target):
                continue  # https:, mailto:
            file, _, anchor = target.partition("#")
            linked = (page.parent / file).resolve() if file else page
            if not linked.exists() or (anchor and anchor not in _anchors(linked)):
                broken.append(f"{page.relative_to(REPO)}: {target}")
    assert broken == []
