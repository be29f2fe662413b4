"""The command-line assembly: the root Typer app, its sub-apps, the global
options, and one list that registers every command in `--help`'s order.

The commands themselves live by group, each a thin adapter that parses its
options, calls one use case and hands the result to the output layer:
authorizations.py, connectors.py, tokens.py, team.py, providers.py (and clients), helpers.py,
mcp.py, shell.py.
Their arguments are described once more, for the fast path and completion, in
lean/grammar.py; tests/test_command_table.py keeps the two equal."""

from __future__ import annotations

from typing import Optional

import typer

from .. import __version__
from ..context import AppContext
from ..lean.filepath import FilePath
from . import authorizations, connectors, helpers, helptopics, mcp, providers, shell, team, tokens, usage

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
client_app = typer.Typer(cls=usage.Group, help="Save, show or forget a provider's OAuth client: id in config.toml, secret in the keyring.", no_args_is_help=True)
app.add_typer(providers_app, name="providers", short_help="The registry: providers, connectors, scopes; add yours")
app.add_typer(client_app, name="client", short_help="Save, show or forget a provider's OAuth client")
connectors_app = typer.Typer(cls=usage.Group, help="Change the connectors an authorization is for.", no_args_is_help=True)
app.add_typer(connectors_app, name="connectors", short_help="Change the connectors an authorization is for")
mcp_app = typer.Typer(cls=usage.Group, help="Serve MCP servers to agents with their authorizations.", no_args_is_help=True)
app.add_typer(mcp_app, name="mcp", short_help="Serve MCP servers to agents with their authorizations")

# Tests and the entry point may hand in a ready context (e.g. with fakes).
_context_factory = AppContext.from_environment


def _version(value: bool) -> None:
    if value:
        typer.echo(f"integray-auth {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    typer_ctx: typer.Context,
    # path_type: Click's path checks, as for a pathlib.Path, and the value arrives as the package's one path type.
    registry: Optional[FilePath] = typer.Option(
        None, "--registry", metavar="PATH", path_type=FilePath, help="An extra providers.toml overlay (env: INTEGRAY_AUTH_REGISTRY)."
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
    (connectors_app, "add", connectors.connectors_add, {}),
    (connectors_app, "remove", connectors.connectors_remove, {}),
    (app, "deactivate", authorizations.deactivate, {}),
    (app, "activate", authorizations.activate, {}),
    (app, "remove", authorizations.remove, {}),
    (app, "share", team.share, {}),
    (app, "unshare", team.unshare, {}),
    (app, "setup-git", helpers.setup_git, {}),
    (app, "git-credential", helpers.git_credential, {}),
    (app, "setup-kube", helpers.setup_kube, {}),
    (app, "kube-credential", helpers.kube_credential, {}),
    (mcp_app, "proxy", mcp.proxy, {}),
    (providers_app, "show", providers.providers_show, {}),
    (providers_app, "add", providers.providers_add, {}),
    (providers_app, "remove", providers.providers_remove, {}),
    (connector_app, "add", providers.providers_connector_add, {}),
    (connector_app, "remove", providers.providers_connector_remove, {}),
    (client_app, "set", providers.client_set, {}),
    (client_app, "remove", providers.client_remove, {}),
    (client_app, "list", providers.client_list, {}),
    (client_app, "show", providers.client_show, {}),
    (app, "doctor", shell.doctor, {}),
    (app, "completion", shell.completion, {}),
    (app, "help", shell.help_, {}),
)
# One line each for the main --help, never cut mid-sentence (a docstring's first line is
# longer); the group ones are given where the groups are added above.
SUMMARIES = {
    "list": "List authorizations: provider, name, status, connectors",
    "search": "Find authorizations by name, provider, connector, scope",
    "show": "Show an authorization and what its scopes permit",
    "add": "Add an authorization and authorize it",
    "authorize": "Authorize an existing authorization (again)",
    "token": "Print a valid access token, renewed when due",
    "exec": "Run a command with a valid token in its environment",
    "status": "Whether each authorization is usable, and the fix",
    "refresh": "Renew access tokens ahead of expiry (cron, timers)",
    "rename": "Give an authorization another name",
    "deactivate": "Stop using an authorization (its tokens are kept)",
    "activate": "Use an inactive authorization again",
    "remove": "Revoke the grant and delete an authorization",
    "share": "Move an authorization to the team's Vault",
    "unshare": "Move a shared authorization back to this machine",
    "setup-git": "Let git get an authorization's token itself",
    "git-credential": "git's credential helper (setup-git registers it)",
    "setup-kube": "Let kubectl get an authorization's token itself",
    "kube-credential": "kubectl's exec credential plugin (setup-kube adds it)",
    "doctor": "Check the registry, the index and the keyring",
    "completion": "Print the shell completion script",
    "help": "Help topics (exit-codes, environment, keyring, vault)",
}
providers_app.callback(invoke_without_command=True)(providers.providers)
for _app, _name, _function, _settings in COMMANDS:
    _short = {"short_help": SUMMARIES[_name]} if _app is app else {}
    _app.command(_name, cls=usage.Command, **_short, **_settings)(_function)
