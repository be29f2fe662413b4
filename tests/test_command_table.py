"""The command table (lean/grammar.py) against Typer's real command tree.

The fast path, `add --no-authorize` and completion read their options from the
table, not from Typer (which they cannot import), so Typer is held to it here:
every command of each is in the other, and each option has the same spellings,
takes a value or not alike, and has the same choices, limits and repeatability.
An option added to a Typer command but not to the table fails this test."""

from __future__ import annotations

import pytest
import typer.main

from integray_auth.cli.app import app
from integray_auth.lean import grammar
from integray_auth.stores import BACKENDS

# Typer commands the table does not describe, each with the reason. None today.
NOT_IN_TABLE: dict[str, str] = {}


def _walk(click_command, table, path=()):
    """(path, click command, table command or None) for every visible command, depth first."""
    yield path, click_command, table
    for name, sub in getattr(click_command, "commands", {}).items():
        if sub.hidden:
            continue
        yield from _walk(sub, None if table is None else table.subcommands.get(name), (*path, name))


def _click_options(command) -> list[tuple]:
    found = []
    for param in command.params:
        if param.param_type_name != "option":
            continue
        # Read by attribute: Typer may bring its own copy of Click (typer._click).
        kind = param.type
        choices = getattr(kind, "choices", None)
        choices = None if choices is None else tuple(getattr(choice, "value", choice) for choice in choices)
        low, high = getattr(kind, "min", None), getattr(kind, "max", None)  # an IntRange's
        found.append((tuple(param.opts + param.secondary_opts), not param.is_flag, choices, low, high, param.multiple))
    return found


def _table_options(command: grammar.Command) -> list[tuple]:
    return [
        (option.names, option.takes_value, option.choices, option.low, option.high, option.repeatable)
        for option in command.options
    ]


TREE = list(_walk(typer.main.get_command(app), grammar.ROOT))


@pytest.mark.parametrize(("path", "command", "table"), TREE, ids=[" ".join(p) or "integray-auth" for p, _, _ in TREE])
def test_each_typer_command_has_the_options_of_the_table(path, command, table):
    if " ".join(path) in NOT_IN_TABLE:
        assert table is None, f"{' '.join(path)} is in the table after all: take it off NOT_IN_TABLE"
        return
    assert table is not None, f"'{' '.join(path)}' is a Typer command missing from lean/grammar.py"
    # In Typer's declaration order: completion offers them in the table's.
    assert _table_options(table) == _click_options(command)
    arguments = [param for param in command.params if param.param_type_name == "argument"]
    assert len(arguments) == len(table.arguments)
    assert table.variadic == bool(arguments and arguments[-1].nargs == -1)
    commands = getattr(command, "commands", {})
    assert set(table.subcommands) == {name for name, sub in commands.items() if not sub.hidden}


def test_the_table_has_no_command_typer_lacks():
    typer_paths = {path for path, _, _ in TREE}

    def paths(table, path=()):
        yield path
        for name, sub in table.subcommands.items():
            yield from paths(sub, (*path, name))

    assert set(paths(grammar.ROOT)) - typer_paths == set()


def test_no_option_is_in_the_table_twice():
    for _, _, table in TREE:
        if table is None:
            continue
        names = [name for option in table.options for name in option.names]
        assert len(names) == len(set(names))
        assert not set(names) & set(grammar.HELP_OPTIONS)  # Click adds those to every command


def test_the_storage_choices_are_the_backends():
    """`--storage` is checked by the command (its own error text), not by Click: a table constant, kept equal."""
    assert grammar.STORAGES == tuple(BACKENDS)
    assert set(grammar.LOCAL_STORAGES) < set(BACKENDS)


def test_the_fast_path_and_fast_add_read_the_table():
    from integray_auth.cli import fast_add

    add = grammar.COMMANDS["add"]
    assert set(fast_add._VALUED) == {*add.option("--provider").names, *add.option("--connector").names, "--param"}
    assert fast_add._FLAGS == ("--no-authorize", "--no-input")
    assert grammar.COMMANDS["token"].option("--format").choices == grammar.TOKEN_FORMATS
    assert grammar.COMMANDS["token"].option("--min-valid").high == grammar.MAX_MIN_VALID
