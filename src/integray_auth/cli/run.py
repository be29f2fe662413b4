"""Command bodies shared by the Typer commands and the fast path in main.py.

This module must not import Typer, Rich, requests, oauthlib or keyring:
scripts call `list`, `search`, `show`, `status` and `token` in loops.
"""

from __future__ import annotations

from .. import hints
from ..context import AppContext
from ..stores import lookup
from ..usecases import manage

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .jsonfields import JsonOutput


def run_list(ctx: AppContext, view: str, as_json: JsonOutput | None) -> None:
    from . import output  # here, not at the top: `token` prints no table (health, fit, the registry's helpers)

    output.print_authorizations(ctx, lookup.list_authorizations(ctx, view), view, as_json)


def run_search(ctx: AppContext, query: str, view: str, as_json: JsonOutput | None) -> None:
    from . import output

    output.print_authorizations(ctx, manage.search_authorizations(ctx, query, view), view, as_json)


def run_show(ctx: AppContext, name: str, as_json: JsonOutput | None, no_pager: bool) -> None:
    from . import output

    details = manage.describe(ctx, name)
    if as_json or no_pager or not ctx.stdout_is_terminal:
        # What paged() does then, without importing it (subprocess, shlex): piped `show` stays lean.
        output.print_details(ctx, details, as_json)
        return
    from .pager import paged

    with paged(ctx):
        output.print_details(ctx, details, as_json)


def run_status(ctx: AppContext, names: list[str], check: bool, as_json: bool) -> int:
    """Print each authorization's health; the exit code says whether all are usable."""
    from ..usecases import status
    from . import output

    lines = status.checked_status(ctx, names) if check else status.local_status(ctx, names)
    code = status.exit_code(lines)
    try:
        output.print_status(ctx, lines, check, code, as_json)
    except BrokenPipeError as gone:
        # The reader left (`status | head -1`): no error of ours, and the exit code
        # still says whether every authorization is usable (main() reads it here).
        gone.exit_code = code
        raise
    return code


def run_token(ctx: AppContext, name: str, min_valid: int | None = None, force: bool = False, fmt: str = "raw") -> None:
    from ..usecases.access_token import valid_tokens

    tokens = valid_tokens(ctx, name, min_valid=min_valid, force=force)
    if fmt == "raw":  # what print_token writes for it, without importing the output layer
        ctx.stdout.write(tokens.access_token + "\n")
        return
    from . import output

    if fmt == "header":
        from ..lean.printable import quoted
        from ..tokens import bearer_header

        # Refused before anything is printed; the raw token is still the caller's to use.
        bearer_header(tokens.access_token, quoted(name), hint=f"Print it as it is: {hints.command_hint('token', name)}")
    scopes = None
    if fmt == "json" and tokens.scope is None:
        scopes = lookup.locate(ctx, name).granted_scopes  # a shared one this machine never saw, too
    output.print_token(ctx, tokens, scopes, fmt)
