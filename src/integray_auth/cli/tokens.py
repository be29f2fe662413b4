"""The token commands: token, exec, status, refresh. Registered in cli/app.py."""

from __future__ import annotations

import enum
from typing import List, Optional

import typer

from ..errors import UsageError
from ..lean import grammar
from ..usecases import keepalive
from ..usecases.run_with_token import run_with_token
from . import jsonfields, output, run
from .options import JQ, JSON, JSON_FLAG, NAME, context_of

# Choices and limits from the command table (lean/grammar.py), which the fast path reads too.
TokenFormat = enum.Enum("TokenFormat", {f: f for f in grammar.TOKEN_FORMATS}, type=str)
MIN_VALID = typer.Option(
    None, "--min-valid", min=0, max=grammar.MAX_MIN_VALID, metavar="SECONDS",
    help="The token stays valid at least this long (renewed first if not).",
)
FORCE_REFRESH = typer.Option(False, "--force-refresh", help="Renew the token now, whatever its expiry.")


def token(
    typer_ctx: typer.Context,
    name: str = NAME,
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
    run.run_token(context_of(typer_ctx), name, min_valid, force_refresh, format.value)


def exec_(
    typer_ctx: typer.Context,
    name: str = NAME,
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

    raise typer.Exit(run_with_token(context_of(typer_ctx), name, command, env_var, min_valid, force_refresh))


def status(
    typer_ctx: typer.Context,
    names: Optional[List[str]] = typer.Argument(None, metavar="[NAME...]", help="Names or ids; default: every active one."),
    check: bool = typer.Option(
        False, "--check", help="Renew tokens that are due and ask the provider whether it accepts them."
    ),
    json: Optional[str] = JSON,
    jq: Optional[str] = JQ,
) -> None:
    """Whether each authorization is usable, with the command that fixes it; never prompts.

    Exit code 0 when every one is usable, 12 when any needs you (authorize it),
    13 when a named one is deactivated, else that of the first failed check.

    \b
    Example:
      integray-auth status --check || alert "integray-auth needs you"
    """
    code = run.run_status(context_of(typer_ctx), list(names or []), check, jsonfields.request("status", json, jq))
    if code:
        raise typer.Exit(code)


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

    ctx = context_of(typer_ctx)
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
