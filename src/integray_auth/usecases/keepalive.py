"""Keep-alive: `refresh NAME` and `refresh --all [--expiring-within DURATION]`.

Renews tokens ahead of their expiry, for cron or a systemd timer: one
authorization at a time, each under its own lock (the same one `token`
takes, so the two never refresh the same grant twice), re-reading the stored
tokens under it. Never prompts and never opens a browser: what needs the
user (a revoked grant, no refresh token) is reported with the command that
fixes it, and the caller turns it into the exit code.
"""

from __future__ import annotations

import re
from datetime import timedelta

from .. import hints
from ..context import AppContext
from ..errors import ExitCode, IntegrayAuthError, NotAuthorizedError, UsageError
from ..lean.printable import quoted
from ..lean.record import Record
from ..models import Authorization
from ..stores import lookup
from ..stores.secrets import ChunkedTokens, RescuedTokens, store_of
from ..tokens import REFRESH_MARGIN
from .access_token import (
    check_active,
    grant_of,
    load_tokens,
    renew_held,
    take_back,
    tokens_lock,
)

REFRESHED = "refreshed"
VALID = "valid"  # not due: valid beyond the window
NO_EXPIRY = "no_expiry"  # the provider gave no expiry: nothing to renew ahead of
NEEDS_USER = "needs_user"  # not authorized, revoked, or expiring without a refresh token
FAILED = "failed"  # the provider or the store failed; the grant may be fine (run again)
LABELS = {
    REFRESHED: "Refreshed",
    VALID: "Still valid",
    NO_EXPIRY: "No expiry",
    NEEDS_USER: "Needs the user",
    FAILED: "Failed",
}


class RefreshOutcome(Record):
    __slots__ = ("authorization", "result", "expires_at", "message", "hint", "exit_code")

    def __init__(
        self,
        authorization: Authorization,
        result: str,  # one of the constants above
        expires_at: str | None,  # of the access token now stored
        message: str | None = None,  # why it needs the user or failed
        hint: str | None = None,  # the command that fixes it
        exit_code: int = 0,  # of that error: 12 needs the user, 11 network, ...
    ) -> None:
        self.authorization = authorization
        self.result = result
        self.expires_at = expires_at
        self.message = message
        self.hint = hint
        self.exit_code = exit_code


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """`90`, `90s`, `15m`, `2h`, `1d` (UsageError otherwise)."""
    match = _DURATION.fullmatch(text.strip().lower())
    seconds = float(match.group(1)) * _UNITS[match.group(2)] if match else -1
    if not match or seconds > 366 * 86400:
        raise UsageError(
            f"--expiring-within {quoted(text)} is not a duration of up to a year",
            hint="Give seconds or a number with s, m, h or d, e.g. --expiring-within 15m.",
        )
    return timedelta(seconds=seconds)


def refresh_all(ctx: AppContext, window: timedelta | None = None) -> list[RefreshOutcome]:
    """Every active authorization, renewed if its access token expires within
    `window` (default: the margin `token` refreshes at), in name order."""
    window = REFRESH_MARGIN if window is None else window
    return [refresh_one(ctx, a, window) for a in lookup.list_authorizations(ctx, "active")]


def refresh_named(ctx: AppContext, name: str, window: timedelta | None = None) -> RefreshOutcome:
    """One authorization: renewed now, or (with `window`) only when it expires within it."""
    authorization = lookup.locate(ctx, name)  # a shared one this machine never saw, too, as `token`
    check_active(authorization)  # deactivated means stopped (exit 13)
    return refresh_one(ctx, authorization, window)


def refresh_one(ctx: AppContext, authorization: Authorization, window: timedelta | None) -> RefreshOutcome:
    """Renew one authorization's tokens under its lock; `window` None renews
    whatever its expiry. Errors become outcomes: one failure must not stop
    the others, and each is reported with its own hint."""
    try:
        if not authorization.is_authorized or not authorization.storage:
            raise NotAuthorizedError(
                f"authorization {quoted(authorization.name)} is not authorized",
                hint=hints.authorize_hint(authorization),
            )
        store = ChunkedTokens(store_of(ctx, authorization))
        rescued = RescuedTokens(ctx.paths.data_dir, authorization.id)
        with tokens_lock(ctx, authorization), store.store.lock(authorization.id):
            current = lookup.reread(ctx, authorization)  # as it is now nobody else changes it
            if rescued.exists():
                take_back(ctx, store, rescued, current)
            tokens = load_tokens(store, current)
            if window is not None:
                if tokens.expires_at is None:
                    return RefreshOutcome(current, NO_EXPIRY, None)
                if not tokens.expired(ctx.clock(), leeway=window):
                    return RefreshOutcome(current, VALID, tokens.expires_at)
            if not grant_of(ctx, current).can_renew(tokens):
                raise NotAuthorizedError(
                    f"the tokens of {quoted(current.name)} cannot be renewed without you: "
                    "the provider gave no refresh token",
                    hint=hints.authorize_hint(current),
                )
            fresh = renew_held(ctx, current, store, rescued, tokens)
        return RefreshOutcome(current, REFRESHED, fresh.expires_at)
    except IntegrayAuthError as failed:
        needs_user = failed.exit_code == ExitCode.NOT_AUTHORIZED
        return RefreshOutcome(
            authorization,
            NEEDS_USER if needs_user else FAILED,
            authorization.expires_at,
            message=failed.message,
            hint=failed.hint,
            exit_code=int(failed.exit_code),
        )


def exit_code(outcomes: list[RefreshOutcome]) -> int:
    """0 when nothing needs attention; 12 when any authorization needs the
    user; otherwise the code of the first failure (11: a provider could not
    be reached, ...), so a script can tell "run authorize" from "try later"."""
    if any(o.result == NEEDS_USER for o in outcomes):
        return int(ExitCode.NOT_AUTHORIZED)
    return next((o.exit_code for o in outcomes if o.result == FAILED), int(ExitCode.OK))
