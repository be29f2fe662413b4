"""Typer commands: each one parses its options, calls one use case and hands
the result to the output layer. No OAuth, keyring, file or JSON code here."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import enum

import typer

from .. import __version__
from . import helptopics, jsonfields, output
from ..context import AppContext
from ..lean.printable import escape, quoted
from ..errors import UsageError
from ..usecases import manage
from ..usecases import provider_lookup
from .. import hints
from ..stores import lookup
from . import adding, run, usage

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


def _ctx(typer_ctx: typer.Context) -> AppContext:
    return typer_ctx.find_root().obj


def _view(inactive: bool, all_: bool) -> str:
    if inactive and all_:
        raise UsageError("--inactive and --all cannot be used together")
    return "all" if all_ else "inactive" if inactive else "active"


INACTIVE = typer.Option(False, "--inactive", help="Show inactive (deactivated) authorizations instead.")
ALL = typer.Option(False, "--all", help="Show active and inactive authorizations.")
# `--json` of a listing takes an optional value: main.py rewrites it to `--json=` /
# `--json=FIELDS` first (jsonfields.normalize).
JSON = typer.Option(
    None, "--json", metavar="[FIELDS]", help="Print JSON (versioned); FIELDS keeps only those, e.g. --json name,status."
)
JQ = typer.Option(None, "--jq", metavar="EXPR", help="Filter the JSON with a jq expression, e.g. '.authorizations[].name'.")
JSON_FLAG = typer.Option(False, "--json", help="Print JSON (documented, versioned shape).")


@app.command("list", cls=usage.Command)
def list_(
    typer_ctx: typer.Context, inactive: bool = INACTIVE, all_: bool = ALL, json: Optional[str] = JSON, jq: Optional[str] = JQ
) -> None:
    """List authorizations: provider, name, status, connectors.

    \b
    Examples:
      integray-auth list --inactive
      integray-auth list --json name,status
      integray-auth list --jq '.authorizations[].name'
    """
    view = _view(inactive, all_)
    run.run_list(_ctx(typer_ctx), view, jsonfields.request("list", json, jq))


@app.command(cls=usage.Command)
def search(
    typer_ctx: typer.Context,
    query: str = typer.Argument(..., metavar="QUERY", help="Text to look for in names, providers, connectors and scopes."),
    inactive: bool = INACTIVE,
    all_: bool = ALL,
    json: Optional[str] = JSON,
    jq: Optional[str] = JQ,
) -> None:
    """Find authorizations by name, provider, connector or scope.

    \b
    Examples:
      integray-auth search gmail
      integray-auth search booking --all --json name,active
    """
    view = _view(inactive, all_)
    run.run_search(_ctx(typer_ctx), query, view, jsonfields.request("search", json, jq))


NO_PAGER = typer.Option(False, "--no-pager", help="Print straight to the terminal, not through PAGER (less -FRX).")


@app.command(cls=usage.Command)
def show(
    typer_ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME", help="Name or id."),
    json: Optional[str] = JSON,
    jq: Optional[str] = JQ,
    no_pager: bool = NO_PAGER,
) -> None:
    """Show an authorization with its Scopes section.

    \b
    Examples:
      integray-auth show "Reservanto Prague"
      integray-auth show Gmail --json status,scopes
    """
    run.run_show(_ctx(typer_ctx), name, jsonfields.request("show", json, jq), no_pager)


FLOW_OPTIONS = {
    "no_browser": typer.Option(False, "--no-browser", help="Only print the URL; do not open a browser."),
    "timeout": typer.Option(300, "--timeout", min=1, metavar="SECONDS", help="Give up after this long."),
    "client_id": typer.Option(None, "--client-id", metavar="ID", help="OAuth client id (env: INTEGRAY_AUTH_<PROVIDER>_CLIENT_ID)."),
    "client_secret_stdin": typer.Option(
        False, "--client-secret-stdin", help="Read the OAuth client secret from standard input."
    ),
    "insecure_storage": typer.Option(
        False, "--insecure-storage", help="Same as --storage file: keep tokens in a 0600 file instead of the OS keyring."
    ),
    "storage": typer.Option(
        None,
        "--storage",
        metavar="keyring|file|vault",
        help="Where the tokens live: the OS keyring (default), a 0600 file, or the team's Vault (shared; docs/team.md). "
        "Authorizing again keeps the one chosen before.",
    ),
    "client_credentials": typer.Option(
        False, "--client-credentials",
        help="A machine authorization: the client's own credentials, no user or browser (providers that allow it).",
    ),
    "device": typer.Option(
        False, "--device", help="Use the device flow: enter a code in a browser on any device (SSH, no browser here)."
    ),
    "no_input": typer.Option(
        False, "--no-input", help="Never prompt nor open a browser; fail at once instead (env: INTEGRAY_AUTH_NO_INPUT=1)."
    ),
}


@app.command(cls=usage.Command)
def add(
    typer_ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME", help="A name for the authorization, unique."),
    provider: Optional[str] = typer.Option(None, "--provider", "-p", metavar="PROVIDER", help="Provider id (see 'providers')."),
    connectors: Optional[List[str]] = typer.Option(
        None, "--connector", "-c", metavar="CONNECTOR", help="Connector id; repeat for several."
    ),
    params: Optional[List[str]] = typer.Option(
        None, "--param", metavar="NAME=VALUE", help="A value the provider's URLs need, e.g. tenant=contoso.onmicrosoft.com; repeat for several."
    ),
    no_authorize: bool = typer.Option(False, "--no-authorize", help="Save it as Not authorized; authorize later."),
    no_browser: bool = FLOW_OPTIONS["no_browser"],
    timeout: int = FLOW_OPTIONS["timeout"],
    client_id: Optional[str] = FLOW_OPTIONS["client_id"],
    client_secret_stdin: bool = FLOW_OPTIONS["client_secret_stdin"],
    insecure_storage: bool = FLOW_OPTIONS["insecure_storage"],
    client_credentials: bool = FLOW_OPTIONS["client_credentials"],
    device: bool = FLOW_OPTIONS["device"],
    no_input: bool = FLOW_OPTIONS["no_input"],
    storage: Optional[str] = FLOW_OPTIONS["storage"],
) -> None:
    """Add an authorization, then authorize it in the browser (or, with --client-credentials, as a machine).

    \b
    Examples:
      integray-auth add "Reservanto Prague" -p reservanto -c list-locations -c create-class-booking
      integray-auth add "Outlook Contoso" -p microsoft -c outlook-read-mail --param tenant=contoso.onmicrosoft.com
      integray-auth add "Nightly export" -p acme -c export --client-credentials
      integray-auth add "GitHub over SSH" -p github -c list-repositories --device
    """
    from . import prompts

    ctx = _ctx(typer_ctx)
    ctx.no_input = no_input
    flow = _flow(no_browser, timeout, client_id, client_secret_stdin, insecure_storage, storage, client_credentials, device)
    if no_authorize:
        _refuse_choices_made_when_authorizing(storage, insecure_storage, device, client_credentials, client_id, client_secret_stdin)
    if no_authorize and not ctx.interactive:
        # Nothing to ask: the body main.py's fast path runs too (fast_add.py).
        adding.run_add_unauthorized(ctx, name, provider, connectors or [], params or [])
        return
    from ..models import STORAGE_VAULT

    # Everything that can be checked is checked before the first question. The
    # name of tokens bound for Vault is checked among the team's by the store.
    name = manage.check_new_name(ctx, name, team=no_authorize or flow["storage"] != STORAGE_VAULT)
    if not no_authorize:
        _check_storage(ctx, flow["storage"], name=name)
    if provider is None:
        if not ctx.interactive:
            raise adding.missing_provider()
        provider = prompts.choose_provider(ctx)
    found = provider_lookup.require_provider(ctx, provider)
    given = adding.parameters(params or [])
    if not no_authorize:  # the client depends on the provider only, not on its {parameters}
        flow["credentials"] = _credentials(ctx, found, flow)
    if not connectors:
        if not ctx.interactive:
            raise adding.missing_connector(found)
        connectors = prompts.choose_connectors(ctx, found)
    for parameter in provider_lookup.missing_parameters(found, given):
        if not ctx.interactive:
            raise adding.missing_parameter(found, parameter)
        given[parameter.name] = prompts.ask_parameter(
            ctx, found, parameter, check=lambda value, name=parameter.name: provider_lookup.checked_parameters(found, {**given, name: value})
        )
    authorization = manage.new_authorization(ctx, name, provider, connectors, given)
    if no_authorize:
        manage.save_new(ctx, authorization)
        adding.report_added(ctx, authorization)
        return
    _authorize(ctx, authorization, new=True, **flow)


@app.command(cls=usage.Command)
def authorize(
    typer_ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME", help="Name or id."),
    no_browser: bool = FLOW_OPTIONS["no_browser"],
    timeout: int = FLOW_OPTIONS["timeout"],
    client_id: Optional[str] = FLOW_OPTIONS["client_id"],
    client_secret_stdin: bool = FLOW_OPTIONS["client_secret_stdin"],
    insecure_storage: bool = FLOW_OPTIONS["insecure_storage"],
    client_credentials: bool = FLOW_OPTIONS["client_credentials"],
    device: bool = FLOW_OPTIONS["device"],
    no_input: bool = FLOW_OPTIONS["no_input"],
    storage: Optional[str] = FLOW_OPTIONS["storage"],
) -> None:
    """Authorize (again) an existing authorization in the browser (or, with --client-credentials, as a machine).

    \b
    Example:
      integray-auth authorize "Reservanto Prague"
    """
    ctx = _ctx(typer_ctx)
    ctx.no_input = no_input
    authorization = lookup.find_here(ctx, name, "authorize")
    flow = _flow(no_browser, timeout, client_id, client_secret_stdin, insecure_storage, storage, client_credentials, device)
    _check_storage(ctx, flow["storage"], authorization)
    flow["credentials"] = _credentials(ctx, provider_lookup.require_provider(ctx, authorization.provider), flow, authorization)
    _authorize(ctx, authorization, new=False, **flow)


def _refuse_choices_made_when_authorizing(storage, insecure_storage, device, client_credentials, client_id, client_secret_stdin) -> None:
    """Where the tokens go, which grant and which client are chosen by `authorize`
    and recorded then; `add --no-authorize` keeps none of them, so taking them
    silently would let `authorize` later use another (the keyring, not Vault)."""
    given = [
        option for option, value in (
            ("--storage", storage), ("--insecure-storage", insecure_storage), ("--device", device),
            ("--client-credentials", client_credentials), ("--client-id", client_id),
            ("--client-secret-stdin", client_secret_stdin),
        ) if value
    ]
    if given:
        raise UsageError(
            f"{given[0]} is chosen when authorizing, and --no-authorize does not authorize",
            hint=f"Add it with --no-authorize alone, then give {given[0]} to 'integray-auth authorize NAME'.",
        )


def _check_storage(ctx: AppContext, storage: str | None, authorization=None, name: str | None = None) -> None:
    from ..usecases.authorize import check_storage

    check_storage(ctx, storage, authorization, name)


def _credentials(ctx: AppContext, provider, flow: dict, authorization=None):
    """The OAuth client, resolved before the first prompt; set up on a terminal if missing."""
    from ..usecases.authorize import grant_needs
    from .client_setup import credentials_for

    grant, require_secret = grant_needs(provider, authorization, flow.get("grant"), flow["open_browser"], ctx.environ)
    return credentials_for(ctx, provider, flow["client_id"], flow["read_secret_from_stdin"], require_secret, grant)


def _flow(no_browser, timeout, client_id, client_secret_stdin, insecure_storage, storage=None, client_credentials=False,
          device=False) -> dict:
    if client_credentials and device:
        raise UsageError("--client-credentials and --device are two different grants; give one of them")
    return {
        "open_browser": not no_browser,
        "timeout": float(timeout),
        "client_id": client_id,
        "read_secret_from_stdin": client_secret_stdin,
        "storage": _storage(insecure_storage, storage),
        "grant": "client_credentials" if client_credentials else "device_code" if device else None,
    }


def _storage(insecure_storage: bool, storage: str | None) -> str | None:
    from ..stores.secrets import BACKENDS

    if storage is not None and storage not in BACKENDS:
        raise UsageError(f"--storage {quoted(storage)} is not one of {', '.join(BACKENDS)}")
    if insecure_storage:
        if storage not in (None, "file"):
            raise UsageError(f"--insecure-storage is --storage file, not --storage {storage}", hint="Give one of them.")
        return "file"
    return storage


def _authorize(ctx: AppContext, authorization, new: bool, **options) -> None:
    from ..usecases.authorize import FlowOptions, authorize
    from .flow_ui import TerminalFlowUI

    result = authorize(ctx, authorization, new=new, ui=TerminalFlowUI(ctx), options=FlowOptions(**options))
    done = result.authorization
    where = {"file": " (tokens in an insecure file)", "vault": " (shared through Vault)"}.get(done.storage or "", "")
    provider = escape(result.provider.name)
    ctx.stderr.write(f"Authorized {quoted(done.name)} with {provider}{where}.\n")
    if result.missing_scopes:
        # Scopes come from the provider's answer: escaped like every outside text.
        ctx.stderr.write(
            f"Warning: {provider} did not grant {escape(', '.join(result.missing_scopes))}; "
            f"connectors that need them will fail. See: {hints.command_hint('show', done)}\n"
        )
    if result.extra_scopes:
        ctx.stderr.write(f"Note: {provider} also granted {escape(', '.join(result.extra_scopes))}.\n")


TokenFormat = enum.Enum("TokenFormat", {f: f for f in output.TOKEN_FORMATS}, type=str)
MIN_VALID = typer.Option(
    None, "--min-valid", min=0, max=86400, metavar="SECONDS",
    help="The token stays valid at least this long (renewed first if not).",
)
FORCE_REFRESH = typer.Option(False, "--force-refresh", help="Renew the token now, whatever its expiry.")


@app.command(cls=usage.Command)
def token(
    typer_ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME", help="Name or id."),
    min_valid: Optional[int] = MIN_VALID,
    force_refresh: bool = FORCE_REFRESH,
    format: TokenFormat = typer.Option(
        "raw", "--format", metavar="raw|header|json|env",
        help="raw: the token; header: 'Authorization: Bearer ...'; json: with type, expiry, scopes; env: INTEGRAY_AUTH_TOKEN='...' to eval.",
    ),
) -> None:
    """Print a valid access token (refreshed when expired) for scripts; never prompts.

    \b
    Example:
      curl -H "Authorization: Bearer $(integray-auth token Gmail --min-valid 300)" ...
    """
    run.run_token(_ctx(typer_ctx), name, min_valid, force_refresh, format.value)


@app.command("exec", cls=usage.Command, context_settings={"ignore_unknown_options": True})
def exec_(
    typer_ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME", help="Name or id."),
    command: List[str] = typer.Argument(..., metavar="-- CMD [ARG...]", help="The command to run, after '--'."),
    env_var: str = typer.Option(output.TOKEN_VARIABLE, "--env-var", metavar="VAR", help="The variable that holds the token."),
    min_valid: Optional[int] = MIN_VALID,
    force_refresh: bool = FORCE_REFRESH,
) -> None:
    """Run CMD with a valid access token in its environment (never on its command line).

    The token is renewed first when due; CMD's exit code becomes ours. CMD gets
    none of the client secrets (INTEGRAY_AUTH_*_CLIENT_SECRET).

    \b
    Example:
      integray-auth exec Gmail -- sh -c 'curl -H "Authorization: Bearer $INTEGRAY_AUTH_TOKEN" https://...'
    """
    from ..usecases.run_with_token import run_with_token

    raise typer.Exit(run_with_token(_ctx(typer_ctx), name, command, env_var, min_valid, force_refresh))


@app.command(cls=usage.Command)
def status(
    typer_ctx: typer.Context,
    names: Optional[List[str]] = typer.Argument(None, metavar="[NAME...]", help="Names or ids; default: every active one."),
    check: bool = typer.Option(
        False, "--check", help="Renew tokens that are due and ask the provider whether it accepts them."
    ),
    json: bool = JSON,
) -> None:
    """Whether each authorization is usable, with the command that fixes it; never prompts.

    Exit code 0 when every one is usable, 12 when any needs you (authorize it),
    13 when a named one is deactivated, else that of the first failed check.

    \b
    Example:
      integray-auth status --check || alert "integray-auth needs you"
    """
    code = run.run_status(_ctx(typer_ctx), list(names or []), check, json)
    if code:
        raise typer.Exit(code)


@app.command(cls=usage.Command)
def refresh(
    typer_ctx: typer.Context,
    name: Optional[str] = typer.Argument(None, metavar="[NAME]", help="Name or id; or --all."),
    all_: bool = typer.Option(False, "--all", help="Every active authorization expiring within the window."),
    expiring_within: Optional[str] = typer.Option(
        None, "--expiring-within", metavar="DURATION",
        help="Only those expiring within this long: 90s, 15m, 2h, 1d (--all's default: 60s).",
    ),
    json: bool = JSON_FLAG,
) -> None:
    """Renew access tokens ahead of expiry, for cron or a systemd timer; never prompts.

    Exit code 12 when any authorization needs you (authorize it), else that of the first failure.

    \b
    Example:
      integray-auth refresh --all --expiring-within 15m
    """
    from ..usecases import keepalive

    ctx = _ctx(typer_ctx)
    if all_ == (name is not None):
        raise UsageError("give either NAME or --all", hint="For example: integray-auth refresh --all")
    window = None if expiring_within is None else keepalive.parse_duration(expiring_within)
    if all_:
        outcomes = keepalive.refresh_all(ctx, window)
        window_seconds = (window or keepalive.REFRESH_MARGIN).total_seconds()
    else:
        outcomes = [keepalive.refresh_named(ctx, name, window)]
        window_seconds = None if window is None else window.total_seconds()
    output.print_refresh(ctx, outcomes, window_seconds, json)
    code = keepalive.exit_code(outcomes)
    if code:
        raise typer.Exit(code)


@app.command(cls=usage.Command)
def rename(
    typer_ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME", help="Name or id."),
    new_name: str = typer.Argument(..., metavar="NEW", help="The new name, unique."),
) -> None:
    """Give an authorization another name; its tokens and connectors stay.

    \b
    Example:
      integray-auth rename "Gmail" "Gmail Sales"
    """
    from ..usecases.connectors import rename as rename_authorization

    ctx = _ctx(typer_ctx)
    old, done = rename_authorization(ctx, name, new_name)
    ctx.stderr.write(f"Renamed {quoted(old)} to {quoted(done.name)}.\n")


CONNECTOR_WORDS = typer.Argument(..., metavar="CONNECTOR...", help="Connector ids or display names.")


@connectors_app.command("add", cls=usage.Command)
def connectors_add(
    typer_ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME", help="Name or id."),
    connectors: List[str] = CONNECTOR_WORDS,
) -> None:
    """Add connectors; then authorize to grant the scopes they need.

    \b
    Example:
      integray-auth connectors add Gmail gmail-send
    """
    from ..usecases.connectors import add_connectors

    ctx = _ctx(typer_ctx)
    change = add_connectors(ctx, name, connectors)
    done = change.authorization
    ctx.stderr.write(f"Added {escape(', '.join(change.changed))} to {quoted(done.name)}.\n")
    if change.unchanged:
        ctx.stderr.write(f"Note: it already had {escape(', '.join(change.unchanged))}.\n")
    if change.missing_scopes:
        ctx.stderr.write(
            f"The grant lacks {escape(', '.join(change.missing_scopes))}: the new connectors fail until you authorize again. "
            f"Run: {hints.command_hint('authorize', done)}\n"
        )
    elif not done.is_authorized:
        ctx.stderr.write(f"Authorize it with: {hints.command_hint('authorize', done)}\n")


@connectors_app.command("remove", cls=usage.Command)
def connectors_remove(
    typer_ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME", help="Name or id."),
    connectors: List[str] = CONNECTOR_WORDS,
) -> None:
    """Remove connectors; the scopes no other connector needs are no longer requested.

    \b
    Example:
      integray-auth connectors remove Gmail gmail-send
    """
    from ..usecases.connectors import remove_connectors

    ctx = _ctx(typer_ctx)
    change = remove_connectors(ctx, name, connectors)
    done = change.authorization
    provider = escape(change.provider_name)
    ctx.stderr.write(f"Removed {escape(', '.join(change.changed))} from {quoted(done.name)}.\n")
    given_up = escape(", ".join(change.given_up))
    if change.narrowing == "narrowed":
        ctx.stderr.write(f"Narrowed the grant at {provider}: it no longer covers the scopes given up.\n")
        return
    if not change.given_up:
        return
    fix = f"until it is authorized again ({hints.command_hint('authorize', done)}) or revoked"
    if change.narrowing == "cannot":
        ctx.stderr.write(f"Note: {provider} cannot narrow an existing grant; it still covers {given_up} {fix}.\n")
    else:
        ctx.stderr.write(
            f"Warning: could not narrow the grant at {provider} ({escape(change.narrowing)}); "
            f"it still covers {given_up} {fix}.\n"
        )


@app.command(cls=usage.Command)
def deactivate(
    typer_ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME", help="Name or id."),
    revoke: bool = typer.Option(
        False, "--revoke", help="Also revoke the grant at the provider and delete the tokens (Not authorized)."
    ),
) -> None:
    """Stop using an authorization: token, refresh and status --check refuse it until activate.

    Plain deactivate keeps its tokens; --revoke revokes the grant (RFC 7009) and deletes them.

    \b
    Example:
      integray-auth deactivate "Reservanto Prague" --revoke
    """
    ctx = _ctx(typer_ctx)
    if revoke:
        done, said = manage.deactivate_revoking(ctx, name)
        if said:
            ctx.stderr.write(escape(said) + "\n")  # may quote the provider's error
        ctx.stderr.write(
            f"Deactivated {quoted(done.name)}; its tokens are deleted (Not authorized). "
            f"To use it again: {hints.command_hint('activate', done)}, then {hints.command_hint('authorize', done)}\n"
        )
        return
    done = manage.set_active(ctx, name, active=False)
    ctx.stderr.write(
        f"Deactivated {quoted(done.name)}: its tokens are kept but not used. See it with: integray-auth list --inactive; "
        f"use it again with: {hints.command_hint('activate', done)}\n"
    )


@app.command(cls=usage.Command)
def activate(typer_ctx: typer.Context, name: str = typer.Argument(..., metavar="NAME", help="Name or id.")) -> None:
    """Move an inactive authorization back to the active view.

    \b
    Example:
      integray-auth activate "Reservanto Prague"
    """
    ctx = _ctx(typer_ctx)
    done = manage.set_active(ctx, name, active=True)
    ctx.stderr.write(f"Activated {quoted(done.name)}.\n")


@app.command(cls=usage.Command)
def remove(
    typer_ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME", help="Name or id."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation (for scripts)."),
    no_revoke: bool = typer.Option(False, "--no-revoke", help="Do not revoke the grant at the provider first."),
) -> None:
    """Delete an authorization and its tokens, revoking the grant at the provider first.

    Revocation (RFC 7009) is best effort and only where the provider has an endpoint.

    \b
    Example:
      integray-auth remove "Old Gmail" --yes
    """
    from . import prompts

    ctx = _ctx(typer_ctx)
    authorization = lookup.find_here(ctx, name, "remove")
    if not yes:
        if not ctx.interactive:
            raise UsageError("remove needs confirmation", hint="Add --yes to remove without asking.")
        if not prompts.confirm(ctx, f"Remove {quoted(authorization.name)} and its tokens?"):
            ctx.stderr.write("Nothing removed.\n")
            return
    done, said = manage.remove(ctx, authorization.id, revoke=not no_revoke)
    if said:
        ctx.stderr.write(escape(said) + "\n")  # may quote the provider's error
    ctx.stderr.write(f"Removed {quoted(done.name)}.\n")


@app.command(cls=usage.Command)
def share(typer_ctx: typer.Context, name: str = typer.Argument(..., metavar="NAME", help="Name or id.")) -> None:
    """Move an authorization to the team's Vault (VAULT_ADDR), where every machine sees it.

    \b
    Example:
      VAULT_ADDR=https://vault.example:8200 integray-auth share "Reservanto Prague"
    """
    from ..usecases.sharing import share as share_authorization

    ctx = _ctx(typer_ctx)
    done = share_authorization(ctx, name)
    ctx.stderr.write(f"Shared {quoted(done.name)} through Vault; its tokens on this machine are deleted.\n")


@app.command(cls=usage.Command)
def unshare(
    typer_ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME", help="Name or id."),
    to: str = typer.Option("keyring", "--to", metavar="keyring|file", help="Where to keep it on this machine."),
) -> None:
    """Move a shared authorization from Vault to this machine (other machines lose it).

    \b
    Example:
      integray-auth unshare "Reservanto Prague" --to keyring
    """
    from ..usecases.sharing import unshare as unshare_authorization

    ctx = _ctx(typer_ctx)
    done, warning = unshare_authorization(ctx, name, to)
    if warning:
        ctx.stderr.write(escape(warning) + "\n")
    ctx.stderr.write(f"Unshared {quoted(done.name)}; its tokens are now in {escape(to)} on this machine only.\n")


@providers_app.callback(invoke_without_command=True)
def providers(typer_ctx: typer.Context, json: Optional[str] = JSON, jq: Optional[str] = JQ) -> None:
    """List the registry's providers.

    \b
    Examples:
      integray-auth providers
      integray-auth providers --json id,name
    """
    if typer_ctx.invoked_subcommand is None:
        output.print_providers(_ctx(typer_ctx), jsonfields.request("providers", json, jq))


@providers_app.command("show", cls=usage.Command)
def providers_show(
    typer_ctx: typer.Context,
    provider: str = typer.Argument(..., metavar="PROVIDER", help="Provider id."),
    json: Optional[str] = JSON,
    jq: Optional[str] = JQ,
    no_pager: bool = NO_PAGER,
) -> None:
    """Show a provider's endpoints, connectors and scopes.

    \b
    Examples:
      integray-auth providers show reservanto
      integray-auth providers show google --jq '.provider.connectors[].id'
    """
    from .pager import paged

    as_json = jsonfields.request("providers show", json, jq)
    ctx = _ctx(typer_ctx)
    found = provider_lookup.require_provider(ctx, provider)
    with paged(ctx, enabled=not (no_pager or as_json)):
        output.print_provider(ctx, found, as_json)


@providers_app.command("add", cls=usage.Command)
def providers_add(
    typer_ctx: typer.Context,
    provider: str = typer.Argument(..., metavar="ID", help="An id for the new provider (lowercase letters, digits, '-')."),
    issuer: str = typer.Option(..., "--issuer", metavar="URL", help="The provider's issuer URL (its metadata is read from there)."),
    name: Optional[str] = typer.Option(None, "--name", metavar="NAME", help="Its display name (default: the id)."),
    client_id: Optional[str] = typer.Option(None, "--client-id", metavar="ID", help="Your OAuth client id at this provider, kept in the entry."),
    force: bool = typer.Option(False, "--force", help="Replace a provider of this id in your overlay."),
) -> None:
    """Add a provider to your overlay from its discovery document (RFC 8414, OpenID Connect).

    \b
    Example:
      integray-auth providers add acme --issuer https://login.acme.example --client-id my-app
    """
    from ..usecases.discovery import add_provider

    ctx = _ctx(typer_ctx)
    added = add_provider(ctx, provider, issuer, name=name, client_id=client_id, force=force)
    checks = [f"PKCE {added.pkce}", "iss checked on every callback" if added.iss_parameter else "iss checked when sent"]
    scopes = f"{len(added.scopes)} scopes to describe" if added.scopes else "no scopes listed"
    ctx.stderr.write(
        f"{'Replaced' if added.replaced else 'Added'} provider '{added.provider_id}' in {added.file} from {added.source_url} "
        f"({', '.join(checks)}; {scopes}). Add a connector with: "
        f"integray-auth providers connector add {added.provider_id} CONNECTOR --scope SCOPE\n"
    )


@connector_app.command("add", cls=usage.Command)
def providers_connector_add(
    typer_ctx: typer.Context,
    provider: str = typer.Argument(..., metavar="PROVIDER", help="Provider id."),
    connector: str = typer.Argument(..., metavar="CONNECTOR", help="An id for the connector (lowercase letters, digits, '-')."),
    scopes: Optional[List[str]] = typer.Option(None, "--scope", "-s", metavar="SCOPE", help="A scope it needs; repeat for several."),
    name: Optional[str] = typer.Option(None, "--name", metavar="NAME", help="Its display name (default: from the id)."),
    description: Optional[str] = typer.Option(None, "--description", metavar="TEXT", help="What it does."),
    force: bool = typer.Option(False, "--force", help="Replace a connector of this id in your overlay."),
) -> None:
    """Add a connector to a provider, in your overlay (providers.toml).

    \b
    Example:
      integray-auth providers connector add acme list-orders --scope orders:read
    """
    from ..usecases.discovery import add_connector

    ctx = _ctx(typer_ctx)
    added = add_connector(ctx, provider, connector, scopes or [], name=name, description=description, force=force)
    ctx.stderr.write(
        f"{'Replaced' if added.replaced else 'Added'} connector '{added.connector_id}' ({added.name}) "
        f"of provider '{added.provider_id}' in {added.file}.\n"
    )
    if added.new_scopes:
        ctx.stderr.write(f"Note: new scopes {', '.join(added.new_scopes)} have no description yet; say what each permits in {added.file}.\n")


@client_app.command("set", cls=usage.Command)
def client_set(
    typer_ctx: typer.Context,
    provider: str = typer.Argument(..., metavar="PROVIDER", help="Provider id."),
    client_id: Optional[str] = typer.Option(None, "--client-id", metavar="ID", help="The client id (saved in config.toml)."),
    secret_stdin: bool = typer.Option(False, "--secret-stdin", help="Read the client secret from standard input (kept in the keyring)."),
    private_key_file: Optional[str] = typer.Option(
        None, "--private-key-file", metavar="PATH",
        help="Keep the client's PEM private key (private_key_jwt) from this 0600 file in the keyring.",
    ),
) -> None:
    """Save a provider's OAuth client: the id in config.toml, the secret (or private key) in the keyring.

    On a terminal it asks for what is not given (the secret hidden, only where the provider needs one).

    \b
    Examples:
      integray-auth client set google
      integray-auth client set acme --private-key-file ~/.config/acme/client-key.pem
    """
    from ..usecases.clients import store_private_key
    from .client_setup import set_client

    ctx = _ctx(typer_ctx)
    found = provider_lookup.require_provider(ctx, provider)
    if private_key_file is not None:
        if secret_stdin:
            raise UsageError("--private-key-file and --secret-stdin cannot be used together")
        store_private_key(ctx, found, private_key_file)
        ctx.stderr.write(f"Stored the private key for {escape(found.name)} in the keyring.\n")
        if client_id is None:
            return
    set_client(ctx, found, client_id, secret_stdin)


@client_app.command("remove", cls=usage.Command)
def client_remove(typer_ctx: typer.Context, provider: str = typer.Argument(..., metavar="PROVIDER", help="Provider id.")) -> None:
    """Forget a provider's client secret and private key stored in the keyring.

    \b
    Example:
      integray-auth client remove google
    """
    from ..usecases.clients import remove_client_secret

    ctx = _ctx(typer_ctx)
    found = provider_lookup.require_provider(ctx, provider)
    remove_client_secret(ctx, found)
    ctx.stderr.write(f"Removed the client secret and private key for {escape(found.name)}.\n")


@app.command(cls=usage.Command)
def doctor(
    typer_ctx: typer.Context,
    repair: bool = typer.Option(False, "--repair", help="Set a broken index aside and start a new one."),
) -> None:
    """Check the registry, the index and the keyring; --repair a broken index.

    \b
    Example:
      integray-auth doctor --repair
    """
    from ..usecases.doctor import run_doctor

    ctx = _ctx(typer_ctx)
    report = run_doctor(ctx, repair=repair)
    output.print_checks(ctx, [(c.state, c.name, c.detail) for c in report.checks])
    for note in report.notes:
        ctx.stderr.write(note + "\n")
    if report.exit_code:
        raise typer.Exit(report.exit_code)


@app.command(cls=usage.Command)
def completion(
    typer_ctx: typer.Context,
    shell: str = typer.Argument(..., metavar="SHELL", help="bash, zsh, fish or powershell."),
) -> None:
    """Print the shell completion script for bash, zsh, fish or powershell.

    \b
    Add the line for your shell to its profile:
      bash  (~/.bashrc)                  eval "$(integray-auth completion bash)"
      zsh   (~/.zshrc)                   eval "$(integray-auth completion zsh)"
      fish  (~/.config/fish/config.fish) integray-auth completion fish | source
      PowerShell ($PROFILE)              integray-auth completion powershell | Out-String | Invoke-Expression
    """
    from . import completion as scripts

    if shell not in scripts.SHELLS:
        raise UsageError(
            f"no completion for the shell {shell!r}{usage.did_you_mean(usage.close_matches(shell, scripts.SHELLS))}",
            hint=f"Choose one of: {', '.join(scripts.SHELLS)}.",
        )
    _ctx(typer_ctx).stdout.write(scripts.SCRIPTS[shell])


@app.command("help", cls=usage.Command)
def help_(
    typer_ctx: typer.Context,
    topic: Optional[str] = typer.Argument(None, metavar="[TOPIC]", help="environment, exit-codes, or a command."),
) -> None:
    """Show a help topic (environment, exit-codes) or a command's help.

    \b
    Examples:
      integray-auth help exit-codes
      integray-auth help environment
      integray-auth help add
    """
    root = typer_ctx.find_root()
    out = _ctx(typer_ctx).stdout
    if topic is None:
        out.write(root.get_help() + "\n")
        return
    if topic in helptopics.TOPICS:
        out.write(helptopics.TOPICS[topic][1]())
        return
    command = root.command.get_command(root, topic)
    if command is None or command.hidden:
        choices = [*helptopics.TOPICS, *root.command.list_commands(root)]
        raise UsageError(
            f"no help topic or command {topic!r}{usage.did_you_mean(usage.close_matches(topic, choices))}",
            hint=f"Topics: {', '.join(helptopics.TOPICS)}; commands: integray-auth --help.",
        )
    out.write(typer.Context(command, info_name=topic, parent=root).get_help() + "\n")
