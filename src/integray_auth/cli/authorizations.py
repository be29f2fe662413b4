"""The authorization commands: list, search, show, add, authorize, rename,
deactivate, activate, remove. Registered in cli/app.py."""

from __future__ import annotations

from typing import List, Optional

import typer

from .. import hints
from ..context import AppContext
from ..errors import IntegrayAuthError, UsageError
from ..grants import DEVICE_GRANT, MACHINE_GRANT
from ..lean import grammar
from ..lean.printable import escape, quoted
from ..models import STORAGE_VAULT
from ..oauth.mcp_discovery import canonical_url
from ..stores import BACKENDS, STORAGE_FILE, lookup
from ..usecases import manage, mcp_servers, provider_lookup
from ..usecases.authorize import FlowOptions, check_storage, grant_needs
from ..usecases.authorize import authorize as run_authorization
from ..usecases.connectors import rename as rename_authorization
from . import adding, jsonfields, prompts, run
from .client_setup import credentials_for
from .flow_ui import TerminalFlowUI
from .options import JQ, JSON, NAME, NO_PAGER, context_of


def _view(inactive: bool, all_: bool) -> str:
    if inactive and all_:
        raise UsageError("--inactive and --all cannot be used together")
    return "all" if all_ else "inactive" if inactive else "active"


INACTIVE = typer.Option(False, "--inactive", help="Show inactive (deactivated) authorizations instead.")
ALL = typer.Option(False, "--all", help="Show active and inactive authorizations.")


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
    run.run_list(context_of(typer_ctx), view, jsonfields.request("list", json, jq))


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
    run.run_search(context_of(typer_ctx), query, view, jsonfields.request("search", json, jq))


def show(
    typer_ctx: typer.Context,
    name: str = NAME,
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
    run.run_show(context_of(typer_ctx), name, jsonfields.request("show", json, jq), no_pager)


FLOW_OPTIONS = {
    "no_browser": typer.Option(False, "--no-browser", help="Only print the URL; do not open a browser."),
    "timeout": typer.Option(300, "--timeout", min=grammar.MIN_TIMEOUT, metavar="SECONDS", help="Give up after this long."),
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
        help="Where the tokens live: the OS keyring (default), a 0600 file, or the team's Vault (shared; needs VAULT_ADDR). "
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


def add(
    typer_ctx: typer.Context,
    name: Optional[str] = typer.Argument(None, metavar="NAME", help="A name for the authorization, unique (asked on a terminal)."),
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
    resource: Optional[str] = typer.Option(
        None, "--resource", metavar="URL", help="An MCP server's URL: discover its authorization server, register a client, add it."
    ),
    client_metadata_url: Optional[str] = typer.Option(
        None, "--client-metadata-url", metavar="URL",
        help="With --resource: your Client ID Metadata Document's https URL, used as the client id where the server accepts one.",
    ),
) -> None:
    """Add an authorization, then authorize it in the browser (or, with --client-credentials, as a machine).

    \b
    Examples:
      integray-auth add "Reservanto Prague" -p reservanto -c list-locations -c create-class-booking
      integray-auth add "Outlook Contoso" -p microsoft -c outlook-read-mail --param tenant=contoso.onmicrosoft.com
      integray-auth add "Nightly export" -p acme -c export --client-credentials
      integray-auth add "GitHub over SSH" -p github -c list-repositories --device
      integray-auth add Linear --resource https://mcp.linear.app/mcp
    """

    ctx = context_of(typer_ctx)
    ctx.no_input = no_input
    flow = _flow(no_browser, timeout, client_id, client_secret_stdin, insecure_storage, storage, client_credentials, device)
    if resource is not None:
        _add_mcp_server(ctx, name, resource, client_metadata_url, provider, connectors, params, no_authorize, flow)
        return
    if client_metadata_url is not None:
        raise UsageError("--client-metadata-url goes with --resource (an MCP server)")
    if no_authorize:
        _refuse_choices_made_when_authorizing(storage, insecure_storage, device, client_credentials, client_id, client_secret_stdin)
    if name is None and not ctx.interactive:
        raise UsageError("missing argument 'NAME'", hint="Run 'integray-auth add --help'.")
    if no_authorize and not ctx.interactive:
        # Nothing to ask: the body main.py's fast path runs too (fast_add.py).
        adding.run_add_unauthorized(ctx, name, provider, connectors or [], params or [])
        return

    # Everything that can be checked is checked before the first question. The
    # name of tokens bound for Vault is checked among the team's by the store.
    team = no_authorize or flow["storage"] != STORAGE_VAULT
    asked = name is None or provider is None or not connectors
    if name is None:
        name = prompts.ask_checked(ctx, "Name of the new authorization: ", lambda answer: manage.check_new_name(ctx, answer, team=team))
    name = manage.check_new_name(ctx, name, team=team)
    if not no_authorize:
        _check_storage(ctx, flow["storage"], name=name)
    if provider is None:
        if not ctx.interactive:
            raise adding.missing_provider()
        provider = prompts.choose_provider(ctx)
    found = provider_lookup.require_provider(ctx, provider)
    given = adding.parameters(params or [])
    if not no_authorize:  # the client depends on the provider only, not on its {parameters}
        # ... and on the grant, which depends on the connectors' scopes (the device flow's limits).
        flow["credentials"] = _credentials(ctx, found, {**flow, "connectors": connectors})
    if not connectors:
        if not ctx.interactive:
            raise adding.missing_connector(found)
        connectors = prompts.choose_connectors(ctx, found)
    for parameter in provider_lookup.missing_parameters(found, given):
        if not ctx.interactive:
            raise adding.missing_parameter(found, parameter)
        asked = True
        given[parameter.name] = prompts.ask_parameter(
            ctx, found, parameter, check=lambda value, name=parameter.name: provider_lookup.checked_parameters(found, {**given, name: value})
        )
    authorization = manage.new_authorization(ctx, name, provider, connectors, given)
    if no_authorize:
        manage.save_new(ctx, authorization)
        adding.report_added(ctx, authorization)
        return
    try:
        _authorize(ctx, authorization, new=True, **flow)
    except IntegrayAuthError as failed:
        if asked:  # past the questions: the answers as one command, so a retry is one paste
            again = adding.add_command(name, found.id, connectors, given, _given_options(typer_ctx))
            failed.hint = f"{failed.hint or ''} To try again with your answers: {again}".strip()
        raise


def _add_mcp_server(ctx: AppContext, name: str, resource: str, client_metadata_url, provider, connectors, params,
                    no_authorize: bool, flow: dict) -> None:
    """`add NAME --resource URL`: the MCP server's provider from its metadata, then authorize."""
    for option, value in (("--provider", provider), ("--connector", connectors), ("--param", params), ("--device", flow["grant"] == DEVICE_GRANT)):
        if value:
            raise UsageError(f"{option} does not go with --resource: an MCP server's provider comes from its metadata")
    resource = canonical_url(resource)  # the argument first, then the store, then the network
    if not no_authorize:
        _check_storage(ctx, flow["storage"], name=name)
    authorization, grant = mcp_servers.prepare(
        ctx, name, resource, client_id=flow["client_id"], secret_from_stdin=flow["read_secret_from_stdin"],
        client_metadata_url=client_metadata_url, machine=flow["grant"] == MACHINE_GRANT,
    )
    if no_authorize:
        manage.save_new(ctx, authorization)
        adding.report_added(ctx, authorization)
        return
    _authorize(ctx, authorization, new=True, **{**flow, "client_id": None, "read_secret_from_stdin": False, "grant": grant})


def authorize(
    typer_ctx: typer.Context,
    name: str = NAME,
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
    ctx = context_of(typer_ctx)
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

    check_storage(ctx, storage, authorization, name)


def _credentials(ctx: AppContext, provider, flow: dict, authorization=None):
    """The OAuth client, resolved before the first prompt; set up on a terminal if missing."""
    known = [
        cid for cid in (provider_lookup.connector_id(provider, c) for c in flow.get("connectors") or ())
        if cid in provider.connectors
    ]
    grant, require_secret = grant_needs(
        provider, authorization, flow.get("grant"), flow["open_browser"], ctx.environ, provider.scopes_for(known)
    )
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
        "grant": MACHINE_GRANT if client_credentials else DEVICE_GRANT if device else None,
    }


def _storage(insecure_storage: bool, storage: str | None) -> str | None:
    if storage is not None and storage not in BACKENDS:
        raise UsageError(f"--storage {quoted(storage)} is not one of {', '.join(BACKENDS)}")
    if insecure_storage:
        if storage not in (None, STORAGE_FILE):
            raise UsageError(f"--insecure-storage is --storage {STORAGE_FILE}, not --storage {storage}",
                             hint="Give one of them.")
        return STORAGE_FILE
    return storage


def _given_options(typer_ctx: typer.Context) -> list[str]:
    """The options of this run given on the command line (not their defaults), as words."""
    words: list[str] = []
    for param in typer_ctx.command.params:
        if param.param_type_name != "option" or param.name in ("provider", "connectors", "params"):
            continue
        source = typer_ctx.get_parameter_source(param.name)  # read by name: Typer may bring its own Click
        if source is None or source.name == "DEFAULT":
            continue
        value = typer_ctx.params[param.name]
        if param.is_flag:
            words += [param.opts[0]] if value else []
        else:
            words += [param.opts[0], str(getattr(value, "value", value))]
    return words


def _authorize(ctx: AppContext, authorization, new: bool, **options) -> None:
    result = run_authorization(ctx, authorization, new=new, ui=TerminalFlowUI(ctx), options=FlowOptions(**options))
    done = result.authorization
    where = BACKENDS[done.storage].kept if done.storage in BACKENDS else ""
    provider = escape(result.provider.name)
    ctx.stderr.write(f"Authorized {quoted(done.name)} with {provider}{where}.\n")
    if not done.active:
        # Authorizing does not activate: token, exec and refresh still refuse it (exit 13).
        ctx.stderr.write(f"It is still inactive: token and exec refuse it until {hints.command_hint('activate', done)}\n")
    if result.missing_scopes:
        # Scopes come from the provider's answer: escaped like every outside text.
        ctx.stderr.write(
            f"Warning: {provider} did not grant {escape(', '.join(result.missing_scopes))}; "
            f"connectors that need them will fail. See: {hints.command_hint('show', done)}\n"
        )
    if result.extra_scopes:
        ctx.stderr.write(f"Note: {provider} also granted {escape(', '.join(result.extra_scopes))}.\n")


def rename(
    typer_ctx: typer.Context,
    name: str = NAME,
    new_name: str = typer.Argument(..., metavar="NEW", help="The new name, unique."),
) -> None:
    """Give an authorization another name; its tokens and connectors stay.

    \b
    Example:
      integray-auth rename "Gmail" "Gmail Sales"
    """

    ctx = context_of(typer_ctx)
    old, done = rename_authorization(ctx, name, new_name)
    ctx.stderr.write(f"Renamed {quoted(old)} to {quoted(done.name)}.\n")


def deactivate(
    typer_ctx: typer.Context,
    name: str = NAME,
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
    ctx = context_of(typer_ctx)
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
    kept = "its tokens are kept but not used" if done.is_authorized else "it has no tokens (Not authorized)"
    ctx.stderr.write(
        f"Deactivated {quoted(done.name)}: {kept}. See it with: integray-auth list --inactive; "
        f"use it again with: {hints.command_hint('activate', done)}\n"
    )


def activate(typer_ctx: typer.Context, name: str = NAME) -> None:
    """Move an inactive authorization back to the active view.

    \b
    Example:
      integray-auth activate "Reservanto Prague"
    """
    ctx = context_of(typer_ctx)
    done = manage.set_active(ctx, name, active=True)
    ctx.stderr.write(f"Activated {quoted(done.name)}.\n")


def remove(
    typer_ctx: typer.Context,
    name: str = NAME,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation (for scripts)."),
    no_revoke: bool = typer.Option(False, "--no-revoke", help="Do not revoke the grant at the provider first."),
) -> None:
    """Delete an authorization and its tokens, revoking the grant at the provider first.

    Revocation (RFC 7009) is best effort and only where the provider has an endpoint.

    \b
    Example:
      integray-auth remove "Old Gmail" --yes
    """
    ctx = context_of(typer_ctx)
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
