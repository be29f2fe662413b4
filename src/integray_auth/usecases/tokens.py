"""`token`: a valid access token for scripts, refreshed when it has expired.

Refresh tokens may rotate (RFC 9700 §4.14): the refresh runs under a lock
and re-reads the stored tokens first, because another process may have
refreshed (and so invalidated our copy) a moment ago; the new tokens are
stored before anything else happens.
"""

from __future__ import annotations

import contextlib

from ..context import AppContext
from ..errors import AuthorizationFailed, IndexError_, NotAuthorizedError
from ..fileutil import LockError, LockTimeout, take_lock
from ..models import NOT_AUTHORIZED, to_iso
from ..scopes import granted_as_requested
from ..secret_store import ChunkedTokens
from ..tokens import TokenSet
from . import manage
from .binding import check_binding


def access_token(ctx: AppContext, name: str) -> str:
    authorization = manage.find(ctx, name)
    if not authorization.is_authorized or not authorization.storage:
        raise NotAuthorizedError(
            f"authorization '{authorization.name}' is not authorized", hint=manage.authorize_hint(authorization)
        )
    store = ChunkedTokens(ctx.secret_store(authorization.storage, authorization.keyring_backend))
    tokens = _load(store, authorization)
    if not tokens.expired(ctx.clock()):
        return tokens.access_token
    with tokens_lock(ctx, authorization.name):
        tokens = _load(store, authorization)
        now = ctx.clock()
        if not tokens.expired(now):
            return tokens.access_token  # another process refreshed meanwhile
        if not tokens.refresh_token:
            raise NotAuthorizedError(
                f"the access token of '{authorization.name}' has expired and the provider gave no refresh token",
                hint=manage.authorize_hint(authorization),
            )
        try:
            fresh = _refresh(ctx, authorization, tokens)
        except AuthorizationFailed as refused:
            if refused.error != "invalid_grant":
                # invalid_client, temporarily_unavailable, server_error...: the grant
                # (and its refresh token) may well be fine; fix the cause, run again.
                raise
            _mark_not_authorized(ctx, authorization.id)
            raise NotAuthorizedError(
                f"{refused.message}; '{authorization.name}' is now Not authorized",
                hint=manage.authorize_hint(authorization),
            ) from None
        store.save(authorization.id, fresh)
        with ctx.index.transaction() as authorizations:
            entry = manage.find_in(authorizations, authorization.id)
            entry.expires_at = fresh.expires_at
            entry.updated_at = to_iso(now)
            if fresh.scope is not None:
                entry.granted_scopes = granted_as_requested(
                    entry.requested_scopes, fresh.scope, fresh.refresh_token is not None, fresh.id_token is not None
                )
    return fresh.access_token


REFRESH_LOCK_TIMEOUT = 60.0  # longer than one refresh may take (connect 10 s + read 30 s)


@contextlib.contextmanager
def tokens_lock(ctx: AppContext, name: str):
    """Serialise every change to stored tokens: refreshes (rotation), authorize
    and remove, so none overwrites or resurrects another's tokens. A lock
    that cannot be had is an error of ours, not a crash."""
    path = ctx.paths.data_dir / "refresh.lock"
    try:
        held = take_lock(path, timeout=REFRESH_LOCK_TIMEOUT)
    except LockTimeout:
        raise IndexError_(
            f"another integray-auth process has been refreshing the token of '{name}' "
            f"for over {int(REFRESH_LOCK_TIMEOUT)} seconds",
            hint="Wait for it to finish, then run the command again.",
        ) from None
    except LockError as exc:
        raise IndexError_(f"cannot lock {path}: {exc}") from None
    with held:
        yield


def _refresh(ctx: AppContext, authorization, tokens: TokenSet) -> TokenSet:
    provider = manage.provider_for(ctx, authorization)  # the token URL of its tenant / shop
    # Here, where the refresh token and the client secret would leave, not on every
    # `token`: a stored access token goes only where the caller sends it, and that
    # path must not even read the registry (it stays as fast as before).
    check_binding(ctx, authorization, provider)
    if provider.variant == "reservanto_long_time_token":
        from ..oauth import reservanto

        return reservanto.short_time_token(provider, tokens.refresh_token, authorization.requested_scopes, ctx.clock())
    from ..oauth.endpoint import TokenEndpoint
    from .clients import resolve_credentials

    credentials = resolve_credentials(ctx, provider, client_id=authorization.client_id)
    # A refresh asks for the scope granted before (RFC 6749 §6), so an answer that
    # omits `scope` means that one (§5.1), not everything the connectors requested.
    granted = tokens.scope if tokens.scope is not None else authorization.requested_scopes
    return TokenEndpoint(provider, credentials).refresh(tokens.refresh_token, granted, ctx.clock())


def _load(store: ChunkedTokens, authorization) -> TokenSet:
    tokens = store.load(authorization.id)
    if tokens is None:
        raise NotAuthorizedError(
            f"the tokens of '{authorization.name}' are missing from {store.store.describe()}",
            hint=manage.authorize_hint(authorization),
        )
    return tokens


def _mark_not_authorized(ctx: AppContext, authorization_id: str) -> None:
    with ctx.index.transaction() as authorizations:
        entry = manage.find_in(authorizations, authorization_id)
        entry.status = NOT_AUTHORIZED
        entry.updated_at = to_iso(ctx.clock())


def revoke_at_provider(ctx: AppContext, authorization) -> str:
    """Best-effort RFC 7009 revocation before `remove` deletes the tokens.

    Returns what happened, for the user. A failure never stops the removal:
    the user asked to forget the authorization, and is told to revoke it in
    the provider's settings instead.
    """
    from ..errors import IntegrayAuthError

    if not authorization.storage or ctx.registry.get(authorization.provider) is None:
        return ""
    try:
        provider = manage.provider_for(ctx, authorization)
    except IntegrayAuthError as failed:
        return f"Warning: could not revoke the grant ({failed.message}); revoke it in the provider's settings."
    if not provider.revocation_url:
        return f"{provider.name} has no revocation endpoint; revoke the access in its settings if needed."
    # Not best effort: a retargeted endpoint would receive the refresh token; stop before
    # anything is sent or removed.
    check_binding(ctx, authorization, provider, removing=True)
    try:
        tokens = ChunkedTokens(ctx.secret_store(authorization.storage, authorization.keyring_backend)).load(authorization.id)
        if tokens is None:
            return ""
        from ..oauth.endpoint import TokenEndpoint
        from .clients import resolve_credentials

        credentials = resolve_credentials(
            ctx, provider, client_id=authorization.client_id, want_secret=provider.revocation_needs_secret
        )
        if provider.revocation_needs_secret and not credentials.client_secret:
            # e.g. Zoom: its revoke endpoint takes HTTP Basic client_id:client_secret,
            # which a public (secret-less) PKCE client does not have.
            return (
                f"Not revoked: {provider.name}'s revocation endpoint needs the client secret, and this client has none; "
                f"revoke the access in {provider.name}'s settings."
            )
        endpoint = TokenEndpoint(provider, credentials)
        # Revoking the refresh token ends the whole grant (RFC 7009 §2.1).
        if tokens.refresh_token:
            endpoint.revoke(tokens.refresh_token, "refresh_token")
        else:
            endpoint.revoke(tokens.access_token, "access_token")
    except IntegrayAuthError as failed:
        return f"Warning: could not revoke the grant at {provider.name} ({failed.message}); revoke it in its settings."
    return f"Revoked the grant at {provider.name}."
