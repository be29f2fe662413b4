"""The provider and client commands: providers, providers show/add,
providers connector add, client set/remove. Registered in cli/app.py."""

from __future__ import annotations

from typing import List, Optional

import typer

from ..errors import UsageError
from ..lean.printable import escape
from ..usecases import provider_lookup
from ..usecases.clients import remove_client_secret, store_private_key
from ..usecases.discovery import add_connector, add_provider
from . import jsonfields, output
from .client_setup import set_client
from .options import JQ, JSON, NO_PAGER, context_of
from .pager import paged


def providers(typer_ctx: typer.Context, json: Optional[str] = JSON, jq: Optional[str] = JQ) -> None:
    """List the registry's providers.

    \b
    Examples:
      integray-auth providers
      integray-auth providers --json id,name
    """
    if typer_ctx.invoked_subcommand is None:
        output.print_providers(context_of(typer_ctx), jsonfields.request("providers", json, jq))


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
    as_json = jsonfields.request("providers show", json, jq)
    ctx = context_of(typer_ctx)
    found = provider_lookup.require_provider(ctx, provider)
    with paged(ctx, enabled=not (no_pager or as_json)):
        output.print_provider(ctx, found, as_json)


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

    ctx = context_of(typer_ctx)
    added = add_provider(ctx, provider, issuer, name=name, client_id=client_id, force=force)
    checks = [f"PKCE {added.pkce}", "iss checked on every callback" if added.iss_parameter else "iss checked when sent"]
    scopes = f"{len(added.scopes)} scopes to describe" if added.scopes else "no scopes listed"
    ctx.stderr.write(
        f"{'Replaced' if added.replaced else 'Added'} provider '{added.provider_id}' in {added.file} from {added.source_url} "
        f"({', '.join(checks)}; {scopes}). Add a connector with: "
        f"integray-auth providers connector add {added.provider_id} CONNECTOR --scope SCOPE\n"
    )


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


def client_remove(typer_ctx: typer.Context, provider: str = typer.Argument(..., metavar="PROVIDER", help="Provider id.")) -> None:
    """Forget a provider's client secret and private key stored in the keyring.

    \b
    Example:
      integray-auth client remove google
    """
    ctx = context_of(typer_ctx)
    found = provider_lookup.require_provider(ctx, provider)
    remove_client_secret(ctx, found)
    ctx.stderr.write(f"Removed the client secret and private key for {escape(found.name)}.\n")
