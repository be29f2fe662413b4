"""The command-line assembly: the root Typer app, its sub-apps, the global
options, and one list that registers every command in `--help`'s order.

The commands themselves live by group, each a thin adapter that parses its
options, calls one use case and hands the result to the output layer:
authorizations.py, tokens.py, team.py, providers.py (and clients), shell.py.
Their arguments are described once more, for the fast path and completion, in
lean/grammar.py; tests/test_command_table.py keeps the two equal."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .. import __version__
from ..context import AppContext
from . import authorizations, helptopics, mcp, providers, shell, team, tokens, usage

app = typer.Typer(
    name="integray-auth",
    cls=usage.Group,
    help="Manage OAuth 2.0 authorizations for Integray connectors.",
    epilog=helptopics.epilog(),
    # Completion is `integray-auth completion SHELL`, answered by the fast path.
    add_completion=False,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
providers_app = typer.Typer(cls=usage.Group, help="Show the registry's providers, connectors and scopes; add your own.", no_args_is_help=False)
connector_app = typer.Typer(cls=usage.Group, help="Add connectors to providers in your overlay (providers.toml).", no_args_is_help=True)
providers_app.add_typer(connector_app, name="connector")
client_app = typer.Typer(cls=usage.Group, help="Save a provider's OAuth client: id in config.toml, secret in the keyring.", no_args_is_help=True)
app.add_typer(providers_app, name="providers")
app.add_typer(client_app, name="client")
connectors_app = typer.Typer(cls=usage.Group, help="Change the connectors an authorization is for.", no_args_is_help=True)
app.add_typer(connectors_app, name="connectors")
mcp_app = typer.Typer(cls=usage.Group, help="Serve MCP servers to agents with their authorizations.", no_args_is_help=True)
app.add_typer(mcp_app, name="mcp")

# Tests and the entry point may hand in a ready context (e.g. with fakes).
_context_factory = AppContext.from_environment


def _version(value: bool) -> None:
    if value:
        typer.echo(f"integray-auth {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    typer_ctx: typer.Context,
    registry: Optional[Path] = typer.Option(
        None, "--registry", metavar="PATH", help="An extra providers.toml overlay (env: INTEGRAY_AUTH_REGISTRY)."
    ),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    typer_ctx.obj = _context_factory(registry_path=registry)


_EXEC = {"context_settings": {"ignore_unknown_options": True}}  # CMD's own options after '--'
# (Typer app, command name, function, settings): registration order is `--help`'s order.
COMMANDS = (
    (app, "list", authorizations.list_, {}),
    (app, "search", authorizations.search, {}),
    (app, "show", authorizations.show, {}),
    (app, "add", authorizations.add, {}),
    (app, "authorize", authorizations.authorize, {}),
    (app, "token", tokens.token, {}),
    (app, "exec", tokens.exec_, _EXEC),
    (app, "status", tokens.status, {}),
    (app, "refresh", tokens.refresh, {}),
    (app, "rename", authorizations.rename, {}),
    (connectors_app, "add", authorizations.connectors_add, {}),
    (connectors_app, "remove", authorizations.connectors_remove, {}),
    (app, "deactivate", authorizations.deactivate, {}),
    (app, "activate", authorizations.activate, {}),
    (app, "remove", authorizations.remove, {}),
    (app, "share", team.share, {}),
    (app, "unshare", team.unshare, {}),
    (mcp_app, "proxy", mcp.proxy, {}),
    (providers_app, "show", providers.providers_show, {}),
    (providers_app, "add", providers.providers_add, {}),
    (connector_app, "add", providers.providers_connector_add, {}),
    (client_app, "set", providers.client_set, {}),
    (client_app, "remove", providers.client_remove, {}),
    (app, "doctor", shell.doctor, {}),
    (app, "completion", shell.completion, {}),
    (app, "help", shell.help_, {}),
)
providers_app.callback(invoke_without_command=True)(providers.providers)
for _app, _name, _function, _settings in COMMANDS:
    _app.command(_name, cls=usage.Command, **_settings)(_function)
