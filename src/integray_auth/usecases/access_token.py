"""`token`: a valid access token for scripts, renewed when it has expired
by the grant that obtained it (a refresh, or a re-mint: grants/).

Refresh tokens may rotate (RFC 9700 §4.14): the refresh runs under a lock
and re-reads the stored tokens first, because another process may have
refreshed (and so invalidated our copy) a moment ago; the new tokens are
stored before anything else happens, and never dropped: a store that keeps
refusing them leaves them in a rescue file (secret_store.RescuedTokens) that
the next `token` moves back.
"""

from __future__ import annotations

import time

from .. import hints
from ..context import AppContext
from ..errors import (
    AuthorizationFailed,
    InactiveError,
    IndexError_,
    NotAuthorizedError,
    NotFoundError,
    StorageError,
    UsageError,
)
from ..lean.printable import quoted
from ..lean.scoped import contextmanager
from ..models import NOT_AUTHORIZED, now_from, to_iso
from ..scopes import granted_as_requested
from ..stores import locks, lookup
from ..stores.secrets import ChunkedTokens, RescuedTokens, digest, store_of
from ..tokens import REFRESH_MARGIN_SECONDS, TokenSet, UnusableTokens
from . import provider_lookup


def access_token(ctx: AppContext, name: str) -> str:
    return valid_tokens(ctx, name).access_token


def valid_tokens(ctx: AppContext, name: str, min_valid: float | None = None, force: bool = False) -> TokenSet:
    """The authorization's tokens, renewed first when the access token expires
    within `min_valid` seconds (at least the refresh margin), or when `force`.

    An inactive authorization is refused (InactiveError, exit 13): deactivating
    one means its tokens stop being handed out, whatever they still hold.
    """
    authorization = lookup.locate(ctx, name)  # a shared one this machine never saw, too
    check_active(authorization)
    if not authorization.is_authorized or not authorization.storage:
        raise NotAuthorizedError(
            f"authorization '{authorization.name}' is not authorized", hint=hints.authorize_hint(authorization)
        )
    leeway_seconds = REFRESH_MARGIN_SECONDS if min_valid is None else max(REFRESH_MARGIN_SECONDS, min_valid)
    store = ChunkedTokens(store_of(ctx, authorization))
    rescued = RescuedTokens(ctx.paths.data_dir, authorization.id)
    if rescued.exists():  # a stat: the only cost on the fast path
        with tokens_lock(ctx, authorization):
            take_back(ctx, store, rescued, authorization)
    tokens = load_tokens(store, authorization)
    if not force and not _expires_within(ctx, tokens, leeway_seconds):
        return tokens
    from datetime import timedelta  # only on the way to a refresh

    leeway = timedelta(seconds=leeway_seconds)
    # The local lock first (this machine's processes queue here), then the
    # store's own: a lease in Vault that other machines respect (vault_store.py).
    with tokens_lock(ctx, authorization), store.store.lock(authorization.id):
        current = load_tokens(store, authorization)
        now = ctx.clock()
        if digest(current) != digest(tokens):
            # Another process renewed them while we waited: a new token, whatever was asked.
            # When the provider's tokens live shorter than the margin, renewing again
            # would give one just as short, and would make N waiting processes N refreshes.
            if not current.expired(now, leeway if min_valid is not None else timedelta(0)):
                return current
        elif not force and not current.expired(now, leeway):
            return current
        fresh = renew_held(ctx, authorization, store, rescued, current)
    if min_valid is not None and fresh.expired(ctx.clock(), timedelta(seconds=min_valid)):
        raise UsageError(
            f"the provider's access tokens for '{authorization.name}' live less than the {int(min_valid)} seconds "
            "--min-valid asks for, even just renewed",
            hint="Ask for less with --min-valid (the token was renewed and stored).",
        )
    return fresh


def check_active(authorization) -> None:
    """Deactivated means stopped: no token, refresh or check until `activate`."""
    if not authorization.active:
        raise InactiveError(
            f"authorization {quoted(authorization.name)} is deactivated; its tokens are not used",
            hint=f"Run: {hints.command_hint('activate', authorization)}",
        )


def _expires_within(ctx: AppContext, tokens: TokenSet, leeway_seconds: int) -> bool:
    """tokens.expired(ctx.clock(), leeway), without importing datetime when the
    clock is the real one (the common `token` run; models.now_from)."""
    now = now_from(ctx.clock)
    if type(now) is int:
        return tokens.expires_within(now, leeway_seconds)
    from datetime import timedelta

    return tokens.expired(now, timedelta(seconds=leeway_seconds))


def renew_held(
    ctx: AppContext, authorization, store: ChunkedTokens, rescued: RescuedTokens, tokens: TokenSet,
    scopes: list[str] | None = None,
) -> TokenSet:
    """Renew `tokens`, just read under the authorization's tokens_lock (the
    caller holds it), store and record the new set, and return it.

    `scopes` narrows what is asked for (RFC 6749 §6: a subset of the grant);
    None asks for the grant as it is. A refusal with invalid_grant makes the
    authorization Not authorized (NotAuthorizedError); any other refusal
    leaves it as it was (the grant may be fine: fix the cause, run again).
    """
    grant = grant_of(ctx, authorization)
    if not grant.can_renew(tokens):
        raise NotAuthorizedError(
            f"the access token of '{authorization.name}' has expired and the provider gave no refresh token",
            hint=hints.authorize_hint(authorization),
        )
    try:
        fresh = _renew(ctx, authorization, grant, tokens, scopes, store.store.hold_limit)
    except AuthorizationFailed as refused:
        if refused.error != "invalid_grant":
            # invalid_client, temporarily_unavailable, server_error...: the grant
            # (and its refresh token) may well be fine; fix the cause, run again.
            raise
        _mark_rejected(ctx, store, authorization)
        raise NotAuthorizedError(
            f"{refused.message}; '{authorization.name}' is now Not authorized",
            hint=hints.authorize_hint(authorization),
        ) from None
    kept = _keep_issued(store, rescued, authorization, fresh, replaces=tokens)
    if kept is not None:
        # Another machine stored a newer or broader set meanwhile (a lease that ran
        # out under a slow refresh): that one stays, and is the one to hand out.
        fresh = kept
    _record(ctx, store, authorization, fresh, renewable=grant.can_renew(fresh), refreshed=True)
    return fresh


# Between the attempts to store a token set the provider has just issued: a
# Secret Service that drops a D-Bus call, a keychain busy for a moment.
SAVE_RETRY_DELAYS = (0.25, 1.0)


def _keep_issued(store: ChunkedTokens, rescued: RescuedTokens, authorization, fresh: TokenSet,
                 replaces: TokenSet | None) -> TokenSet | None:
    """Store `fresh`; never drop it. After a rotation the set it replaces is
    spent, so when the store keeps failing, `fresh` goes into the rescue file
    (0600) and the error (exit 8) says where. Returns the set a shared store
    kept instead of `fresh` (newer or broader), if it did."""
    try:
        return _save_retrying(store, authorization.id, fresh)
    except StorageError as failed:
        refused = failed.message
    where = store.store.label()
    name = quoted(authorization.name)
    try:
        rescued.keep(fresh, replaces)
    except OSError as exc:
        raise StorageError(
            f"{refused}; the new tokens of {name} could not be kept anywhere ({rescued.path}: {exc.strerror or exc})",
            hint=f"Fix {where}, then run: {hints.command_hint('authorize', authorization)}",
        ) from None
    raise StorageError(
        f"{refused}; the new tokens of {name} are kept in {rescued.path} (readable only by you) until {where} works",
        hint=f"Fix {where}; the next token moves them there and deletes the file. Run: "
        f"{hints.command_hint('token', authorization)}",
    )


def _save_retrying(store: ChunkedTokens, authorization_id: str, tokens: TokenSet) -> TokenSet | None:
    for delay in SAVE_RETRY_DELAYS:
        try:
            return store.save(authorization_id, tokens)
        except StorageError:
            time.sleep(delay)
    return store.save(authorization_id, tokens)


def take_back(ctx: AppContext, store: ChunkedTokens, rescued: RescuedTokens, authorization) -> None:
    """Move a rescued token set into the store (the caller holds tokens_lock).

    Only over the set it replaced (or none): if the store holds another one,
    the authorization was authorized again since, and the rescued set is stale.
    """
    if not rescued.exists():
        return  # another process took it back meanwhile
    tokens, replaces = rescued.load()
    current = store.load(authorization.id)
    if current is None or digest(current) == replaces:
        try:
            _save_retrying(store, authorization.id, tokens)
        except StorageError as failed:
            raise StorageError(
                f"{failed.message}; the tokens of {quoted(authorization.name)} stay in {rescued.path}",
                hint=failed.hint,
            ) from None
        _record(ctx, store, authorization, tokens)
    rescued.discard()


def _record(ctx: AppContext, store: ChunkedTokens, authorization, fresh: TokenSet, renewable: bool | None = None,
            refreshed: bool = False) -> None:
    def update(entry) -> None:
        entry.expires_at = fresh.expires_at
        entry.updated_at = to_iso(ctx.clock())
        if refreshed:
            entry.refreshed_at = entry.updated_at
            entry.rejected_at = None  # the provider accepted the grant again
        if renewable is not None:
            entry.renewable = renewable
        if fresh.scope is not None:
            entry.granted_scopes = granted_as_requested(
                entry.requested_scopes, fresh.scope, fresh.refresh_token is not None, fresh.id_token is not None
            )

    _update_entry(ctx, store, authorization, update)


def _update_entry(ctx: AppContext, store: ChunkedTokens, authorization, update) -> None:
    """Change the index entry, and the copy a shared store keeps; a machine
    that knows a shared authorization only from Vault has no local entry."""
    shared = authorization.copy()
    update(shared)
    store.store.record(shared, health_only=True)  # what a refresh may write: CI's policy allows no more
    with ctx.index.transaction() as authorizations:
        try:
            entry = lookup.find_in(authorizations, authorization.id)
        except NotFoundError:
            if authorization.is_shared:
                return
            raise
        update(entry)


# Waiting for the lock must outlast what one holder may do with it: one whole
# HTTP exchange (the request deadline: a refresh, or the revocation in
# `remove`), plus the retried storage and the index around it.
LOCK_MARGIN = 30.0


def lock_timeout(ctx: AppContext) -> float:
    from ..oauth.endpoint import request_deadline

    return request_deadline(ctx.environ) + LOCK_MARGIN


@contextmanager
def tokens_lock(ctx: AppContext, authorization):
    """Serialise every change to one authorization's stored tokens: refreshes
    (rotation), authorize and remove, so none overwrites or resurrects
    another's tokens. Other authorizations have locks of their own (locks.py)."""
    with locks.tokens_lock(ctx.paths.data_dir, authorization.id, authorization.name, lock_timeout(ctx)):
        yield


def grant_of(ctx: AppContext, authorization):
    """The grant that obtained the tokens, which knows how to renew them.

    Entries written before the index recorded it got theirs from the
    provider's only grant at the time, its default now."""
    from .. import grants
    from ..errors import RegistryError
    from ..lean.printable import quoted

    provider = None if authorization.grant else provider_lookup.require_provider(ctx, authorization.provider)
    name = authorization.grant or provider.default_grant
    if name not in grants.GRANTS:
        raise IndexError_(
            f"authorization '{authorization.name}' was obtained with the {quoted(name)} grant, "
            "which this integray-auth does not know",
            hint=f"Upgrade integray-auth, or run: {hints.command_hint('authorize', authorization)}",
        )
    if name not in (provider or provider_lookup.require_provider(ctx, authorization.provider)).grants:
        # What the authorization says (the index, or Vault's copy) never widens what the
        # registry allows: a grant the provider does not list is not run with its client.
        raise RegistryError(
            f"authorization {quoted(authorization.name)} names the {quoted(name)} grant, which the provider "
            f"{quoted(authorization.provider)} does not allow; it is not used",
            hint=f"Authorize it again: {hints.command_hint('authorize', authorization)}",
        )
    return grants.get(name)


def _renew(ctx: AppContext, authorization, grant, tokens: TokenSet, scopes: list[str] | None = None,
           hold_limit: float | None = None) -> TokenSet:
    from ..grants.base import RenewRequest
    from ..oauth import endpoint as http
    from .clients import resolve_credentials

    def request_deadline(environ) -> float:
        # Under a lease (Vault), the renewal must end before the lease does.
        deadline = http.request_deadline(environ)
        return deadline if hold_limit is None else min(deadline, hold_limit)

    provider = provider_lookup.provider_for(ctx, authorization)  # the token URL of its tenant / shop
    # Here, where the refresh token and the client secret would leave, not on every
    # `token`: a stored access token goes only where the caller sends it, and that
    # path must not even read the registry (it stays as fast as before).
    from .binding import check_binding  # only where tokens would leave: the fast path never loads it

    check_binding(ctx, authorization, provider)
    return grant.renew(
        RenewRequest(
            provider=provider,
            tokens=tokens,
            requested_scopes=authorization.requested_scopes,
            scopes=scopes,
            credentials=lambda: resolve_credentials(ctx, provider, client_id=authorization.client_id, grant=grant.name),
            clock=ctx.clock,
            http_deadline=request_deadline(ctx.environ),
        )
    )


def load_tokens(store: ChunkedTokens, authorization) -> TokenSet:
    try:
        tokens = store.load(authorization.id)
    except UnusableTokens as unusable:
        raise StorageError(
            f"the tokens of {quoted(authorization.name)} in {store.store.label()} hold {unusable.problem}; "
            "they are not used",
            hint=hints.authorize_hint(authorization),
        ) from None
    if tokens is None:
        raise NotAuthorizedError(
            f"the tokens of '{authorization.name}' are missing from {store.store.label()}",
            hint=hints.authorize_hint(authorization),
        )
    return tokens


def _mark_rejected(ctx: AppContext, store: ChunkedTokens, authorization) -> None:
    """The provider rejected the refresh (invalid_grant): Not authorized, and
    recorded as rejected, so health says it needs re-authorization."""
    def update(entry) -> None:
        entry.status = NOT_AUTHORIZED
        entry.updated_at = entry.refresh_rejected_at = to_iso(ctx.clock())

    _update_entry(ctx, store, authorization, update)


def record_rejection(ctx: AppContext, authorization, access_token: str) -> None:
    """The provider no longer accepts `access_token` (`status --check` asked it):
    recorded in the index entry (and a shared store's copy), so health says it needs
    re-authorization until an authorize or a refresh succeeds. Not when the stored
    tokens are no longer that one: an authorize or a refresh got new ones meanwhile."""
    def update(entry) -> None:
        entry.updated_at = entry.rejected_at = to_iso(ctx.clock())

    store = ChunkedTokens(store_of(ctx, authorization))
    with tokens_lock(ctx, authorization):
        current = store.load(authorization.id)
        if current is not None and current.access_token == access_token:
            _update_entry(ctx, store, authorization, update)


def revoke_at_provider(ctx: AppContext, authorization, store: ChunkedTokens, rescued: RescuedTokens) -> str:
    """Best-effort RFC 7009 revocation before `remove` deletes the tokens.

    The caller holds tokens_lock, so the token revoked is the latest: a
    refresh cannot rotate it between this read and the deletion. A rescued
    set is newer than the stored one. Returns what happened, for the user. A
    failure never stops the removal: the user asked to forget the
    authorization, and is told to revoke it in the provider's settings instead.
    """
    from ..errors import IntegrayAuthError

    if not authorization.storage or ctx.registry.get(authorization.provider) is None:
        return ""
    try:
        provider = provider_lookup.provider_for(ctx, authorization)
    except IntegrayAuthError as failed:
        return f"Warning: could not revoke the grant ({failed.message}); revoke it in the provider's settings."
    by_hand = _revoke_by_hand(provider)
    if not provider.revocation_url:
        return f"{provider.name} has no revocation endpoint; {by_hand} if needed."
    # Not best effort: a retargeted endpoint would receive the refresh token; stop before
    # anything is sent or removed.
    from .binding import check_binding

    check_binding(ctx, authorization, provider, removing=True)
    try:
        tokens = rescued.load()[0] if rescued.exists() else store.load(authorization.id)
        if tokens is None:
            return ""
        from ..oauth.endpoint import TokenEndpoint, request_deadline
        from .clients import resolve_credentials

        credentials = resolve_credentials(
            ctx, provider, client_id=authorization.client_id, want_secret=provider.revocation_needs_secret,
            grant=authorization.grant if authorization.grant in provider.grants else None,
        )
        if provider.revocation_needs_secret and not credentials.client_secret:
            # e.g. Zoom: its revoke endpoint takes HTTP Basic client_id:client_secret,
            # which a public (secret-less) PKCE client does not have.
            return (
                f"Not revoked: {provider.name}'s revocation endpoint needs the client secret, and this client has none; "
                f"{by_hand}."
            )
        endpoint = TokenEndpoint(provider, credentials, request_deadline(ctx.environ))
        # Revoking the refresh token ends the whole grant (RFC 7009 §2.1).
        if tokens.refresh_token:
            endpoint.revoke(tokens.refresh_token, "refresh_token")
        else:
            endpoint.revoke(tokens.access_token, "access_token")
    except IntegrayAuthError as failed:
        return f"Warning: could not revoke the grant at {provider.name} ({failed.message}); {by_hand}."
    return f"Revoked the grant at {provider.name}."


def _revoke_by_hand(provider) -> str:
    """Where the user revokes the access themselves: the registry's page for it, if it names one."""
    if provider.revoke_page_url:
        return f"revoke the access by hand at {provider.revoke_page_url}"
    return f"revoke the access in {provider.name}'s settings"
