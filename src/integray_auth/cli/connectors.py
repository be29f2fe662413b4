"""The connectors commands: connectors add and connectors remove, which change
the connectors an authorization is for. Registered in cli/app.py."""

from __future__ import annotations

from typing import TYPE_CHECKING, List

import typer

from .. import hints
from ..lean.printable import escape, quoted
from ..usecases.connectors import add_connectors, remove_connectors
from .options import NAME, context_of

if TYPE_CHECKING:
    from typing import Callable

    from ..context import AppContext
    from ..usecases.connectors import ConnectorChange

CONNECTOR_WORDS = typer.Argument(..., metavar="CONNECTOR...", help="Connector ids or display names.")


def connectors_add(typer_ctx: typer.Context, name: str = NAME, connectors: List[str] = CONNECTOR_WORDS) -> None:
    """Add connectors; then authorize to grant the scopes they need.

    \b
    Example:
      integray-auth connectors add Gmail gmail-send
    """
    _change(typer_ctx, name, connectors, add_connectors, _report_added)


def connectors_remove(typer_ctx: typer.Context, name: str = NAME, connectors: List[str] = CONNECTOR_WORDS) -> None:
    """Remove connectors; the scopes no other connector needs are no longer requested.

    \b
    Example:
      integray-auth connectors remove Gmail gmail-send
    """
    _change(typer_ctx, name, connectors, remove_connectors, _report_removed)


def _change(
    typer_ctx: typer.Context,
    name: str,
    connectors: list[str],
    change_with: Callable[[AppContext, str, list[str]], ConnectorChange],
    report: Callable[[AppContext, ConnectorChange, str], None],
) -> None:
    """Both commands: the use case changes the connectors, `report` says what that means for the grant."""
    ctx = context_of(typer_ctx)
    change = change_with(ctx, name, connectors)
    report(ctx, change, escape(", ".join(change.changed)))


def _report_added(ctx: AppContext, change: ConnectorChange, changed: str) -> None:
    done = change.authorization
    ctx.stderr.write(f"Added {changed} to {quoted(done.name)}.\n")
    if change.unchanged:
        ctx.stderr.write(f"Note: it already had {escape(', '.join(change.unchanged))}.\n")
    if change.missing_scopes:
        ctx.stderr.write(
            f"The grant lacks {escape(', '.join(change.missing_scopes))}: the new connectors fail until you authorize again. "
            f"Run: {hints.command_hint('authorize', done)}\n"
        )
    elif not done.is_authorized:
        ctx.stderr.write(f"Authorize it with: {hints.command_hint('authorize', done)}\n")


def _report_removed(ctx: AppContext, change: ConnectorChange, changed: str) -> None:
    done = change.authorization
    provider = escape(change.provider_name)
    ctx.stderr.write(f"Removed {changed} from {quoted(done.name)}.\n")
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
