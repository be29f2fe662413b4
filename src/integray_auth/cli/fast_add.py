"""`add NAME -p PROVIDER -c CONNECTOR ... --no-authorize` without Typer, for
scripts that create authorizations in bulk: the same command body as the
Typer command (cli/adding.py), a stricter reading of the arguments.

Only the plain spellings are read here: `--provider/-p`, `--connector/-c`,
`--param` (each with its value as the next word or after `=`), `--no-authorize`
and `--no-input`. Anything else (another option, a value that looks like an
option, a repeated --provider, `--`, help, a person at a terminal who may be
asked) returns None: Typer parses it, and explains what is wrong.
"""

from __future__ import annotations

from ..lean.grammar import COMMANDS

# The options read here, by their first spelling; every spelling of each comes from the command table.
_READ = ("--provider", "--connector", "--param", "--no-authorize", "--no-input")
_OPTIONS = [option for option in COMMANDS["add"].options if option.names[0] in _READ]
_VALUED = {name: option.names[0].removeprefix("--") for option in _OPTIONS if option.takes_value for name in option.names}
_FLAGS = tuple(name for option in _OPTIONS if not option.takes_value for name in option.names)


def run(args: list[str]) -> int | None:
    """Exit code of `add ... --no-authorize` done here, or None to let Typer do it."""
    if not args or args[0] != "add" or "--no-authorize" not in args:
        return None
    values: dict[str, list[str]] = {"provider": [], "connector": [], "param": []}
    flags: set[str] = set()
    positional = []
    words = iter(args[1:])
    for word in words:
        if word in _FLAGS:
            if word in flags:
                return None
            flags.add(word)
            continue
        option, sep, value = word.partition("=") if word.startswith("--") else (word, "", "")
        if option in _VALUED:
            if not sep:
                value = next(words, None)
                if value is None or value.startswith("-"):
                    return None
            if not value:
                return None
            values[_VALUED[option]].append(value)
        elif word.startswith("-"):
            return None
        else:
            positional.append(word)
    if len(positional) != 1 or len(values["provider"]) > 1:
        return None

    import gc

    # A short run that makes no cycles worth collecting, while it imports its
    # modules and reads, copies and writes the index's entries once each: the
    # cyclic collector would only scan them again and again (~4% of the run).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _add(positional[0], values, "--no-input" in flags)
    finally:
        if collecting:
            gc.enable()


def _add(name: str, values: dict[str, list[str]], no_input: bool) -> int | None:
    from ..context import AppContext
    from .adding import run_add_unauthorized

    ctx = AppContext.from_environment()
    ctx.no_input = no_input
    if ctx.interactive:
        return None  # a missing value is asked for: Typer's command does that
    provider = values["provider"][0] if values["provider"] else None
    run_add_unauthorized(ctx, name, provider, values["connector"], values["param"])
    return 0
