"""The provider and client commands: providers, providers show/add,
providers connector add, client set/remove/list/show. Registered in cli/app.py."""

from __future__ import annotations

import enum
from typing import List, Optional

import typer

from ..errors import UsageError
from ..lean import grammar
from ..lean.printable import escape
from ..usecases import provider_lookup
from ..usecases.clients import client_info, configured_clients, remove_client_secret, store_private_key
from ..usecases.discovery import add_connector, add_provider, add_provider_by_hand, remove_connector, remove_provider
from . import jsonfields, provider_output
from .client_setup import set_client
from .options import JQ, JSON, JSON_DOCUMENT, NO_PAGER, PROVIDER, context_of
from .pager import paged
from .provider_form import ask_form

# Choices from the command table (lean/grammar.py), which completion reads too.
Pkce = enum.Enum("Pkce", {value: value for value in grammar.PKCE_CHOICES}, type=str)
ClientAuth = enum.Enum("ClientAuth", {value: value for value in grammar.CLIENT_AUTH_CHOICES}, type=str)


def providers(typer_ctx: typer.Context, json: Optional[str] = JSON, jq: Optional[str] = JQ) -> None:
    """List the registry's providers.

    \b
    Examples:
      integray-auth providers
      integray-auth providers --json id,name
    """
    if typer_ctx.invoked_subcommand is None:
        provider_output.print_providers(context_of(typer_ctx), jsonfields.request("providers", json, jq))


def providers_show(
    typer_ctx: typer.Context,
    provider: str = PROVIDER,
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
    as_json = jsonfields.request("providers show", json, jq)
    ctx = context_of(typer_ctx)
    found = provider_lookup.require_provider(ctx, provider)
    client = client_info(ctx, found, look_up_secret=False)  # no keyring read for a description
    with paged(ctx, enabled=not (no_pager or as_json)):
        provider_output.print_provider(ctx, found, as_json, client)


def providers_add(
    typer_ctx: typer.Context,
    provider: Optional[str] = typer.Argument(None, metavar="ID", help="An id for the new provider (lowercase letters, digits, '-')."),
    issuer: Optional[str] = typer.Option(None, "--issuer", metavar="URL", help="The provider's issuer URL (its metadata is read from there)."),
    authorization_url: Optional[str] = typer.Option(None, "--authorization-url", metavar="URL", help="Without --issuer: the login (authorization) URL."),
    token_url: Optional[str] = typer.Option(None, "--token-url", metavar="URL", help="Without --issuer: the token URL."),
    revocation_url: Optional[str] = typer.Option(None, "--revocation-url", metavar="URL", help="Without --issuer: the RFC 7009 revocation URL."),
    userinfo_url: Optional[str] = typer.Option(None, "--userinfo-url", metavar="URL", help="Without --issuer: the userinfo URL."),
    scopes: Optional[List[str]] = typer.Option(None, "--scope", metavar="NAME[=WHAT]", help="A scope and what it permits; repeat for several."),
    auth_params: Optional[List[str]] = typer.Option(None, "--auth-param", metavar="KEY=VALUE", help="A query parameter of the login URL; repeat for several."),
    offline_access: bool = typer.Option(False, "--offline-access", help="Request the offline_access scope (a refresh token) with every connector."),
    pkce: Pkce = typer.Option("required", "--pkce", metavar="required|supported", help="Whether the provider requires PKCE (sent either way)."),
    client_auth: ClientAuth = typer.Option("none", "--client-auth", metavar="METHOD", help="How the client proves itself at the token URL: none (public), client_secret_basic or client_secret_post."),
    name: Optional[str] = typer.Option(None, "--name", metavar="NAME", help="Its display name (default: the id)."),
    client_id: Optional[str] = typer.Option(None, "--client-id", metavar="ID", help="Your OAuth client id at this provider, kept in the entry."),
    force: bool = typer.Option(False, "--force", help="Replace a provider of this id in your overlay."),
) -> None:
    """Add a provider to your overlay: from its discovery document, or by hand from its URLs.

    On a terminal it asks for what is missing.

    \b
    Examples:
      integray-auth providers add acme --issuer https://login.acme.example --client-id my-app
      integray-auth providers add shop --authorization-url https://shop.example/oauth/authorize --token-url https://shop.example/oauth/token --scope 'orders:read=Read your orders' --offline-access
    """
    ctx = context_of(typer_ctx)
    pkce, client_auth = pkce.value, client_auth.value
    by_hand = (authorization_url, token_url, revocation_url, userinfo_url, scopes, auth_params, offline_access or None,
               None if pkce == "required" else pkce, None if client_auth == "none" else client_auth)
    if issuer is not None and any(value is not None for value in by_hand):
        raise UsageError("--issuer reads the endpoints from the provider; give it alone, or the URLs without it")
    if issuer is None:
        form, provider, name = ask_form(ctx, provider, name, authorization_url, token_url, revocation_url, userinfo_url,
                                        scopes or [], auth_params or [], offline_access, pkce, client_auth, client_id)
        added = add_provider_by_hand(ctx, provider, form, name=name, force=force)
        what = f"PKCE {added.pkce}, client auth {form.client_auth}, {len(added.scopes)} scopes"
        ctx.stderr.write(f"{'Replaced' if added.replaced else 'Added'} provider '{added.provider_id}' in {added.file} ({what}). ")
    else:
        if provider is None:
            raise UsageError("missing argument 'ID'", hint="For example: integray-auth providers add acme --issuer https://login.acme.example")
        added = add_provider(ctx, provider, issuer, name=name, client_id=client_id, force=force)
        checks = [f"PKCE {added.pkce}", "iss checked on every callback" if added.iss_parameter else "iss checked when sent"]
        scopes_said = f"{len(added.scopes)} scopes to describe" if added.scopes else "no scopes listed"
        ctx.stderr.write(
            f"{'Replaced' if added.replaced else 'Added'} provider '{added.provider_id}' in {added.file} from {added.source_url} "
            f"({', '.join(checks)}; {scopes_said}). "
        )
    ctx.stderr.write(f"Add a connector with: integray-auth providers connector add {added.provider_id} CONNECTOR --scope SCOPE\n")


def providers_remove(typer_ctx: typer.Context, provider: str = typer.Argument(..., metavar="ID", help="A provider your overlay adds.")) -> None:
    """Remove a provider your overlay (providers.toml) adds; bundled ones stay.

    \b
    Example:
      integray-auth providers remove acme
    """

    ctx = context_of(typer_ctx)
    path = remove_provider(ctx, provider)
    ctx.stderr.write(f"Removed provider '{provider}' from {path}.\n")


def providers_connector_remove(
    typer_ctx: typer.Context,
    provider: str = PROVIDER,
    connector: str = typer.Argument(..., metavar="CONNECTOR", help="A connector your overlay adds."),
) -> None:
    """Remove a connector your overlay (providers.toml) adds.

    \b
    Example:
      integray-auth providers connector remove acme list-orders
    """
    ctx = context_of(typer_ctx)
    path = remove_connector(ctx, provider, connector)
    ctx.stderr.write(f"Removed connector '{connector}' of provider '{provider}' from {path}.\n")


def providers_connector_add(
    typer_ctx: typer.Context,
    provider: str = PROVIDER,
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

    ctx = context_of(typer_ctx)
    added = add_connector(ctx, provider, connector, scopes or [], name=name, description=description, force=force)
    ctx.stderr.write(
        f"{'Replaced' if added.replaced else 'Added'} connector '{added.connector_id}' ({added.name}) "
        f"of provider '{added.provider_id}' in {added.file}.\n"
    )
    if added.new_scopes:
        ctx.stderr.write(f"Note: new scopes {', '.join(added.new_scopes)} have no description yet; say what each permits in {added.file}.\n")


def client_set(
    typer_ctx: typer.Context,
    provider: str = PROVIDER,
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

    ctx = context_of(typer_ctx)
    found = provider_lookup.require_provider(ctx, provider)
    if private_key_file is not None:
        if secret_stdin:
            raise UsageError("--private-key-file and --secret-stdin cannot be used together")
        store_private_key(ctx, found, private_key_file)
        ctx.stderr.write(f"Stored the private key for {escape(found.name)} in the keyring.\n")
        if client_id is None:
            return
    set_client(ctx, found, client_id, secret_stdin)


def client_remove(typer_ctx: typer.Context, provider: str = PROVIDER) -> None:
    """Forget a provider's client secret and private key stored in the keyring.

    \b
    Example:
      integray-auth client remove google
    """
    ctx = context_of(typer_ctx)
    found = provider_lookup.require_provider(ctx, provider)
    remove_client_secret(ctx, found)
    ctx.stderr.write(f"Removed the client secret and private key for {escape(found.name)}.\n")


def client_list(
    typer_ctx: typer.Context,
    json: bool = JSON_DOCUMENT,
) -> None:
    """List the providers with an OAuth client id configured, and where each comes from (never the secret).

    \b
    Example:
      integray-auth client list
    """
    ctx = context_of(typer_ctx)
    provider_output.print_clients(ctx, configured_clients(ctx), json)


def client_show(
    typer_ctx: typer.Context,
    provider: str = PROVIDER,
    json: bool = JSON_DOCUMENT,
) -> None:
    """Show a provider's configured client id, whether its secret is stored, and how to register one.

    \b
    Example:
      integray-auth client show github
    """
    ctx = context_of(typer_ctx)
    found = provider_lookup.require_provider(ctx, provider)
    provider_output.print_client(ctx, client_info(ctx, found), json)
