"""`share` and `unshare`: move an authorization between this machine's store
and the team's Vault (vault_store.py).

Copy, read back and compare, switch the index entry, and only then delete
the source: a failure at any step (Vault stopped, a policy that refuses one
path) leaves the authorization usable from where it was.
"""

from __future__ import annotations

import contextlib

from .. import hints
from ..context import AppContext
from ..errors import (
    ConflictError,
    IntegrayAuthError,
    NotAuthorizedError,
    NotFoundError,
    StorageError,
    UsageError,
)
from ..lean.printable import quoted
from ..models import STORAGE_VAULT, Authorization, to_iso
from ..stores import BACKENDS, STORAGE_KEYRING, lookup
from ..stores.secrets import (
    ChunkedTokens,
    RescuedTokens,
    digest,
    store_of,
    token_key,
)
from ..stores.vault_store import VaultStore
from .access_token import tokens_lock


def share(ctx: AppContext, name: str) -> Authorization:
    authorization = lookup.find(ctx, name)
    if authorization.is_shared:
        raise ConflictError(f"authorization {quoted(authorization.name)} is already shared")
    _check_authorized(authorization, "share")
    vault = VaultStore.open(ctx)
    vault.check_usable()
    local = ChunkedTokens(store_of(ctx, authorization))
    with tokens_lock(ctx, authorization):
        _no_rescued(ctx, authorization)
        tokens = local.load(authorization.id)
        if tokens is None:
            raise NotAuthorizedError(f"the tokens of {quoted(authorization.name)} are missing from {local.store.label()}",
                                     hint=hints.authorize_hint(authorization))
        if vault.index.load(authorization.id) is not None:
            raise ConflictError(f"{vault.label()} already holds {quoted(authorization.name)} ({authorization.id})",
                                hint="Remove it from this machine, or run 'integray-auth unshare' on it first.")
        vault.index.check_name(authorization.name, authorization.id)  # names are unique across the team's
        shared = authorization.copy(storage=STORAGE_VAULT, locator=vault.locator(), keyring_backend=None,
                                    updated_at=to_iso(ctx.clock()))
        try:
            with vault.lock(authorization.id):
                ChunkedTokens(vault).save(authorization.id, tokens)
                vault.record(shared)  # metadata last: a listing only sees complete ones
                _verify(VaultStore.open(ctx), authorization, tokens)
        except IntegrayAuthError as failed:
            with contextlib.suppress(IntegrayAuthError):  # half a copy in Vault helps nobody
                vault.remove(token_key(authorization.id))
            raise type(failed)(f"{failed.message}; {quoted(authorization.name)} stays in {local.store.label()}",
                               hint=failed.hint) from None
        with ctx.index.transaction() as authorizations:
            entry = lookup.find_in(authorizations, authorization.id)
            entry.storage, entry.locator, entry.keyring_backend = STORAGE_VAULT, shared.locator, None
            entry.updated_at = shared.updated_at
        local.delete(authorization.id)
    return shared


def unshare(ctx: AppContext, name: str, to: str) -> tuple[Authorization, str]:
    """Back to this machine's `to` store; returns the entry and a warning, if any."""
    if to not in BACKENDS or to == STORAGE_VAULT:
        raise UsageError(f"--to {quoted(to)} is not one of keyring, file")
    authorization = lookup.locate(ctx, name)
    if not authorization.is_shared:
        raise ConflictError(f"authorization {quoted(authorization.name)} is not shared")
    vault = store_of(ctx, authorization)
    target = ctx.secret_store(to)
    target.check_usable()
    with tokens_lock(ctx, authorization), vault.lock(authorization.id):
        tokens = ChunkedTokens(vault).load(authorization.id)
        if tokens is None:
            raise NotAuthorizedError(f"the tokens of {quoted(authorization.name)} are missing from {vault.label()}",
                                     hint=hints.authorize_hint(authorization))
        current = vault.index.load(authorization.id) or authorization
        ChunkedTokens(target).save(authorization.id, tokens)
        if digest(ChunkedTokens(target).load(authorization.id)) != digest(tokens):
            raise StorageError(f"{target.label()} did not keep the tokens of {quoted(authorization.name)}; they stay in {vault.label()}")
        locator = target.locator()
        backend = locator if to == STORAGE_KEYRING else None
        with ctx.index.transaction() as authorizations:
            try:
                entry = lookup.find_in(authorizations, authorization.id)
            except NotFoundError:
                lookup.check_unique(authorizations, current.name)
                entry = current.copy()
                authorizations.append(entry)
            entry.storage, entry.locator, entry.keyring_backend = to, locator, backend
            entry.updated_at = to_iso(ctx.clock())
            saved = entry.copy()
        try:
            vault.remove(token_key(authorization.id))
        except IntegrayAuthError as failed:
            return saved, (f"Warning: {quoted(saved.name)} is now kept here, but its copy in {vault.label()} "
                           f"could not be deleted ({failed.message}); delete it there.")
    return saved, ""


def _verify(vault, authorization: Authorization, tokens) -> None:
    """Read back what was written, through a fresh client, before the source goes."""
    back = ChunkedTokens(vault).load(authorization.id)
    meta = vault.index.load(authorization.id)
    if digest(back) != digest(tokens) or meta is None or meta.name != authorization.name:
        raise StorageError(f"{vault.label()} did not give back what was written for {quoted(authorization.name)}",
                           hint="Check Vault's health and the token's policy, then run the command again.")


def _check_authorized(authorization: Authorization, command: str) -> None:
    if not authorization.is_authorized or not authorization.storage:
        raise NotAuthorizedError(f"authorization {quoted(authorization.name)} is not authorized, so there is nothing to {command}",
                                 hint=hints.authorize_hint(authorization))


def _no_rescued(ctx: AppContext, authorization: Authorization) -> None:
    rescued = RescuedTokens(ctx.paths.data_dir, authorization.id)
    if rescued.exists():
        raise StorageError(
            f"the newest tokens of {quoted(authorization.name)} wait in {rescued.path}",
            hint=f"Move them back first: {hints.command_hint('token', authorization)}",
        )
