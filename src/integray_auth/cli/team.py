"""The team commands: share and unshare through the team's Vault. Registered in cli/app.py."""

from __future__ import annotations

import typer

from ..lean.printable import escape, quoted
from ..stores import LOCAL_BACKENDS
from ..usecases.sharing import share as share_authorization
from ..usecases.sharing import unshare as unshare_authorization
from .options import NAME, context_of


def share(typer_ctx: typer.Context, name: str = NAME) -> None:
    """Move an authorization to the team's Vault (VAULT_ADDR), where every machine sees it.

    \b
    Example:
      VAULT_ADDR=https://vault.example:8200 integray-auth share "Reservanto Prague"
    """
    ctx = context_of(typer_ctx)
    done = share_authorization(ctx, name)
    ctx.stderr.write(f"Shared {quoted(done.name)} through Vault; its tokens on this machine are deleted.\n")


def unshare(
    typer_ctx: typer.Context,
    name: str = NAME,
    to: str = typer.Option(LOCAL_BACKENDS[0], "--to", metavar="|".join(LOCAL_BACKENDS), help="Where to keep it on this machine."),
) -> None:
    """Move a shared authorization from Vault to this machine (other machines lose it).

    \b
    Example:
      integray-auth unshare "Reservanto Prague" --to keyring
    """

    ctx = context_of(typer_ctx)
    done, warning = unshare_authorization(ctx, name, to)
    if warning:
        ctx.stderr.write(escape(warning) + "\n")
    ctx.stderr.write(f"Unshared {quoted(done.name)}; its tokens are now in {escape(to)} on this machine only.\n")
