"""How Click's parsing looks to the user: usage lines without Typer's braces
(`show [OPTIONS] NAME`, not `{NAME}`), an unknown command suggested only
when a command is close, and every Click usage error turned into our one
`UsageError`, so main.py prints it as one `integray-auth: ...` line, exit 2."""

from __future__ import annotations

import difflib

import typer.core

from ..errors import UsageError

try:  # typer >= 0.22 vendors Click
    from typer import _click as click
except ImportError:  # pragma: no cover - older typer depends on click
    import click

# 0.6 (difflib's default) suggests 'client' for 'lsit'; 0.7 keeps 'list'.
CUTOFF = 0.7


def close_matches(word: str, choices) -> list[str]:
    """The best of `choices` for a mistyped `word`: only those as close as the closest."""
    scored = [(difflib.SequenceMatcher(None, word, choice).ratio(), choice) for choice in choices]
    scored = [(score, choice) for score, choice in scored if score >= CUTOFF]
    if not scored:
        return []
    best = max(score for score, _ in scored)
    return [choice for score, choice in sorted(scored, reverse=True) if score >= best - 0.05][:3]


# Words from gh and other CLIs, and what does that job here (a hint, never run for you).
HABITS = {
    "login": ("add NAME -p PROVIDER -c CONNECTOR", "authorize NAME"),
    "logout": ("remove NAME", "deactivate NAME"),
    "delete": ("remove NAME",),
    "rm": ("remove NAME",),
    "ls": ("list",),
}


def did_you_mean(matches: list[str]) -> str:
    return f"; did you mean {' or '.join(repr(m) for m in matches)}?" if matches else ""


def _plain_usage(pieces: list[str]) -> list[str]:
    # Typer writes required arguments as {NAME}; nobody types the braces.
    return [piece[1:-1] if piece.startswith("{") and piece.endswith("}") else piece for piece in pieces]


class Command(typer.core.TyperCommand):
    def collect_usage_pieces(self, ctx):
        return _plain_usage(super().collect_usage_pieces(ctx))


class Group(typer.core.TyperGroup):
    def collect_usage_pieces(self, ctx):
        return _plain_usage(super().collect_usage_pieces(ctx))

    def resolve_command(self, ctx, args):
        name = args[0] if args else ""
        if args and self.get_command(ctx, name) is None and not ctx.resilient_parsing and not name.startswith("-"):
            visible = [n for n in self.list_commands(ctx) if not self.get_command(ctx, n).hidden]
            where = f" for '{ctx.command_path}'" if " " in ctx.command_path else ""
            if ctx.parent is None and name in HABITS:
                commands = " or ".join(f"'{ctx.command_path} {command}'" for command in HABITS[name])
                raise UsageError(f"unknown command {name!r}; here that is {commands}",
                                 hint=f"Run '{ctx.command_path} --help' to list the commands.")
            raise UsageError(
                f"unknown command {name!r}{where}{did_you_mean(close_matches(name, visible))}",
                hint=f"Run '{ctx.command_path} --help' to list the commands.",
            )
        return super().resolve_command(ctx, args)


def from_click(error: Exception, root, args: list[str]) -> UsageError:
    """Click's usage error as ours: one line, the command's --help as the hint."""
    ctx = getattr(error, "ctx", None)
    path = ctx.command_path if ctx is not None else _command_path(root, args)
    hint = f"Run '{path} --help'."
    if isinstance(error, click.exceptions.NoSuchOption):
        options = []
        if ctx is not None:
            for param in ctx.command.get_params(ctx):
                options.extend(getattr(param, "opts", []) + getattr(param, "secondary_opts", []))
        matches = close_matches(error.option_name, [o for o in options if o.startswith("--")] or options)
        return UsageError(f"unknown option {error.option_name!r} for '{path}'{did_you_mean(matches)}", hint=hint)
    message = error.format_message().strip().rstrip(".")
    message = " ".join(message.split())  # one line
    if message[:1].isupper() and not message[1:2].isupper():
        message = message[0].lower() + message[1:]
    return UsageError(message, hint=hint)


def _command_path(root, args: list[str]) -> str:
    """The command the words name, for errors Click raises without a context."""
    path, command = ["integray-auth"], root
    for word in args:
        if word == "--":
            break
        sub = getattr(command, "commands", {}).get(word) if not word.startswith("-") else None
        if sub is not None:
            path.append(word)
            command = sub
    return " ".join(path)


def is_no_args_help(error: Exception) -> bool:
    """`integray-auth client` alone: Click's way of showing the group's help."""
    no_args = getattr(click.exceptions, "NoArgsIsHelpError", None)
    return no_args is not None and isinstance(error, no_args)
