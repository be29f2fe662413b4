"""Command bodies shared by the Typer commands and the fast path in main.py.

This module must not import Typer, Rich, requests, oauthlib or keyring:
scripts call `list`, `search` and `token` in loops.
"""

from __future__ import annotations

from .. import output
from ..context import AppContext
from ..usecases import manage


def run_list(ctx: AppContext, view: str, as_json: bool) -> None:
    output.print_authorizations(ctx, manage.list_authorizations(ctx, view), view, as_json)


def run_search(ctx: AppContext, query: str, view: str, as_json: bool) -> None:
    output.print_authorizations(ctx, manage.search_authorizations(ctx, query, view), view, as_json)


def run_token(ctx: AppContext, name: str) -> None:
    from ..usecases.access_token import access_token

    ctx.stdout.write(access_token(ctx, name) + "\n")
