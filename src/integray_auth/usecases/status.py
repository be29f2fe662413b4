"""`status [NAME...] [--check]`: is each authorization usable, for scripts and monitoring.

Without --check it reads the index only (health.py: no keyring, no
network; stdlib-only, on the fast path). With --check it renews the tokens
that are due, as `token` would, and where the registry has a userinfo
endpoint asks the provider whether it accepts the access token. Never
prompts, never opens a browser.
"""

from __future__ import annotations

from .. import hints
from ..context import AppContext
from ..errors import ExitCode, IntegrayAuthError
from ..health import AUTHORIZED, MISSING_SCOPES, NEEDS_REAUTHORIZATION, health, usable
from ..lean.printable import quoted
from ..lean.record import Record
from ..models import Authorization, now_from
from ..stores import lookup
from . import provider_lookup

ACCEPTED = "accepted"  # the provider's userinfo endpoint took the access token
VALID = "valid"  # valid (renewed if due); the registry names no endpoint to ask
REJECTED = "rejected"  # the provider refused the refresh or the access token
FAILED = "failed"  # could not tell: the provider could not be reached, the keyring failed, ...
SKIPPED = "skipped"  # nothing to ask: not usable without the user anyway


class StatusLine(Record):
    __slots__ = ("authorization", "health", "usable", "check", "message", "fix", "exit_code")

    def __init__(
        self,
        authorization: Authorization,
        health: str,  # a health.VALUES value
        usable: bool,
        check: str | None,  # with --check: one of the constants above
        message: str | None,  # what is wrong, for stderr
        fix: str | None,  # the command that fixes it
        exit_code: int,  # 0, 12 (needs the user), 13 (deactivated), or the check's failure
    ) -> None:
        self.authorization = authorization
        self.health = health
        self.usable = usable
        self.check = check
        self.message = message
        self.fix = fix
        self.exit_code = exit_code


def selected(ctx: AppContext, names: list[str]) -> list[Authorization]:
    """The named authorizations (in the order named, once each), or every active one."""
    if not names:
        return lookup.list_authorizations(ctx, "active")
    authorizations = lookup.with_shared(ctx)  # the index, and with VAULT_ADDR the team's shared ones
    chosen: dict[str, Authorization] = {}
    for name in names:
        found = lookup.find_in(authorizations, name)
        chosen.setdefault(found.id, found)
    return list(chosen.values())


def local_status(ctx: AppContext, names: list[str]) -> list[StatusLine]:
    now = now_from(ctx.clock)
    return [_line(a, health(a, ctx.registry.get(a.provider), now)) for a in selected(ctx, names)]


def checked_status(ctx: AppContext, names: list[str]) -> list[StatusLine]:
    return [_checked(ctx, a) for a in selected(ctx, names)]


def exit_code(lines: list[StatusLine]) -> int:
    """0 when every one is usable; 12 when any needs the user (authorize it);
    else 13 when any is deactivated; else the first check's failure (11: the
    provider could not be reached, ...)."""
    codes = [line.exit_code for line in lines]
    for code in (ExitCode.NOT_AUTHORIZED, ExitCode.INACTIVE):
        if code in codes:
            return int(code)
    return next((code for code in codes if code), int(ExitCode.OK))


def _line(authorization: Authorization, value: str, check: str | None = None, message: str | None = None,
          code: int | None = None) -> StatusLine:
    if not authorization.active:
        from .access_token import check_active

        try:
            check_active(authorization)
        except IntegrayAuthError as inactive:
            # With --check a refusal, as `token` would refuse; without, a state to report.
            return StatusLine(authorization, value, False, check, inactive.message if check else None,
                              hints.command_hint("activate", authorization), int(inactive.exit_code))
    if code is None:
        code = int(ExitCode.OK) if usable(value, True) else int(ExitCode.NOT_AUTHORIZED)
    if code == ExitCode.OK:
        fix = None
    elif code == ExitCode.NOT_AUTHORIZED:
        fix = hints.command_hint("authorize", authorization)
    else:  # the provider or the keyring failed: the grant may be fine, try again
        fix = hints.command_hint("status --check", authorization)
    return StatusLine(authorization, value, code == ExitCode.OK, check, message, fix, code)


def _checked(ctx: AppContext, authorization: Authorization) -> StatusLine:
    from .access_token import valid_tokens

    value = health(authorization, ctx.registry.get(authorization.provider), ctx.clock())
    if not authorization.active or value not in (AUTHORIZED, MISSING_SCOPES):
        return _line(authorization, value, SKIPPED)
    try:
        tokens = valid_tokens(ctx, authorization.id)
        check = _ask_provider(ctx, authorization, tokens.access_token)
    except IntegrayAuthError as failed:
        current = _reloaded(ctx, authorization)
        value = health(current, ctx.registry.get(current.provider), ctx.clock())
        if failed.exit_code == ExitCode.NOT_AUTHORIZED:
            return _line(current, value, REJECTED, failed.message)
        return _line(current, value, FAILED, failed.message, int(failed.exit_code))
    if check == REJECTED:
        from .access_token import record_rejection

        message = f"{_provider_name(ctx, authorization)} rejected the access token of {quoted(authorization.name)}"
        try:
            # Kept, so `list`, `show` and `status` say it too, until it is authorized again.
            record_rejection(ctx, authorization, tokens.access_token)
        except IntegrayAuthError as failed:
            message += f" (not recorded: {failed.message})"
        return _line(_reloaded(ctx, authorization), NEEDS_REAUTHORIZATION, REJECTED, message)
    current = _reloaded(ctx, authorization)
    return _line(current, health(current, ctx.registry.get(current.provider), ctx.clock()), check)


def _ask_provider(ctx: AppContext, authorization: Authorization, access_token: str) -> str:
    """ACCEPTED or REJECTED by the provider's userinfo endpoint; VALID without one."""
    provider = provider_lookup.provider_for(ctx, authorization)
    if not provider.userinfo_url:
        return VALID
    import requests

    from ..oauth.endpoint import USER_AGENT, request_deadline, send
    from .binding import check_binding

    check_binding(ctx, authorization, provider)  # the token goes there: the endpoint it was authorized for
    headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json", "User-Agent": USER_AGENT}
    with requests.Session() as session:
        answer = send(session, "GET", provider.userinfo_url, request_deadline(ctx.environ), headers=headers)
    if 200 <= answer.status_code < 300:
        return ACCEPTED
    challenge = (answer.headers.get("WWW-Authenticate") or "").lower()
    if answer.status_code == 403 and "insufficient_scope" in challenge:
        return ACCEPTED  # RFC 6750 §3.1: the token is good, only not for this endpoint
    if answer.status_code == 401:
        return REJECTED
    from urllib.parse import urlsplit

    from ..errors import NetworkError

    raise NetworkError(
        f"{urlsplit(provider.userinfo_url).netloc} answered HTTP {answer.status_code} when asked about the access token"
    )


def _reloaded(ctx: AppContext, authorization: Authorization) -> Authorization:
    try:
        if authorization.is_shared:  # Vault's copy: the check's refresh recorded its health there
            return lookup.shared_copy(ctx, authorization)
        return lookup.find_in(ctx.index.load(), authorization.id)
    except IntegrayAuthError:
        return authorization


def _provider_name(ctx: AppContext, authorization: Authorization) -> str:
    provider = ctx.registry.get(authorization.provider)
    return provider.name if provider else authorization.provider
