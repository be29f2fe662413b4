"""Parse an `integray-auth ...` command line with Typer's real command tree, without running it.

Docs, the README and every hint the tool prints show commands to paste; `parses(words)` says
whether the entry point would accept them (main.py's `--json` rewriting, then Click) (the command path, its options, their values and choices, the
number of arguments), or why not. Callbacks of eager options (`--help`, `--version`) never run:
those two are accepted as they are."""

from __future__ import annotations

import re
import shlex

import typer.main

from integray_auth.cli import jsonfields
from integray_auth.cli.app import app

ROOT = typer.main.get_command(app)
PROGRAM = "integray-auth"


def problem(words: list[str]) -> str | None:
    """None when `integray-auth WORDS` parses, else what Click says is wrong."""
    words = [word for word in words if word not in ("--help", "-h", "--version")]
    if not words:
        return None  # `integray-auth` alone (or `--help`): the main help
    words = jsonfields.normalize(words)  # as main.py does first: `--json [FIELDS]` as `--json=FIELDS`
    command, path, rest, parent = ROOT, [PROGRAM], list(words), None
    try:
        while True:
            context = command.make_context(" ".join(path), rest, parent=parent, resilient_parsing=False)
            if not hasattr(command, "commands"):
                return None
            rest = [*getattr(context, "_protected_args", []), *context.args]
            if not rest:
                return None
            name, sub, rest = command.resolve_command(context, rest)
            if sub is None:
                return f"unknown command {name!r}"
            command, path, parent = sub, [*path, name], context
    except Exception as exc:  # noqa: BLE001 - Click's usage errors, whichever copy of Click raised them
        show = getattr(exc, "format_message", None)
        return show() if show else f"{type(exc).__name__}: {exc}"


# Metasyntax in the docs' command summaries: `[--json [FIELDS]]`, `raw\|header`, `NAME...`.
PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9_]*(=[A-Z0-9_ ]+)?(\.\.\.)?$")


def concrete(shown: str) -> list[str]:
    """The words of a command as the docs show it, with its metasyntax made concrete: an
    optional `[...]` part kept (the first of `a | b`), `[-c ...]` dropped, `a|b` the first
    choice, an upper-case placeholder `1` (a value every option and argument accepts)."""
    text = shown.replace("\\|", "|")
    text = re.sub(r"\[[^\[\]]*\.\.\.[^\[\]]*\]", " ", text)  # [-c ...], [ARG...]
    text = re.sub(r"(?<=\S)\[(=[^\[\]]*)\]", r"\1", text)  # NAME[=WHAT]: one word
    while (opened := re.sub(r"\[([^\[\]]*)\]", lambda m: " " + m.group(1).split("|")[0] + " ", text)) != text:
        text = opened
    text = re.sub(r"(?<=\s)\.\.\.(?=\s|$)", " ", text)
    words = []
    for word in shlex.split(text):
        if "|" in word and not word.startswith("'"):
            word = word.split("|")[0]
        if PLACEHOLDER.match(word):
            word = "1"
        elif word.endswith("...") and word[:-3].isupper():
            word = "1"
        words.append(word)
    return words
