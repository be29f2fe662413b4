"""Change what an authorization is for: `connectors add`, `connectors remove`, `rename`.

The connectors and the scopes they request are saved together, in one index
transaction, or not at all. Adding a connector changes no grant: until
`authorize` asks the provider for the new scopes, the grant lacks them
(health: missing_scopes, `show`: NOT covered). Removing one narrows what the
next consent asks for; the grant itself narrows only where the provider can
do that with a refresh (the registry's refresh_narrows_scope), and the user
is told when it cannot.
"""

from __future__ import annotations

from .. import hints
from ..context import AppContext
from ..errors import ConflictError, IntegrayAuthError, NotFoundError, UsageError
from ..lean.printable import quoted
from ..lean.record import Record
from ..models import Authorization, to_iso
from ..stores import lookup
from ..stores.secrets import ChunkedTokens, RescuedTokens, store_of
from . import manage, provider_lookup
from .access_token import load_tokens, renew_held, take_back, tokens_lock


class ConnectorChange(Record):
    __slots__ = ("authorization", "provider_name", "changed", "unchanged", "missing_scopes", "given_up", "narrowing")

    def __init__(
        self,
        authorization: Authorization,  # as saved
        provider_name: str,
        changed: list[str],  # display names of the connectors added or removed
        unchanged: list[str],  # asked for, but already there (add)
        missing_scopes: list[str],  # requested now, not granted (add: what `authorize` will ask for)
        given_up: list[str],  # scopes no connector requests any more, still in the grant (remove)
        narrowing: str,  # what became of the grant: "", "narrowed", "cannot", "not authorized", or why it failed
    ) -> None:
        self.authorization = authorization
        self.provider_name = provider_name
        self.changed = changed
        self.unchanged = unchanged
        self.missing_scopes = missing_scopes
        self.given_up = given_up
        self.narrowing = narrowing


def add_connectors(ctx: AppContext, name: str, given: list[str]) -> ConnectorChange:
    """Add connectors (ids or display names); their scopes join the requested ones."""
    authorization = lookup.find_here(ctx, name, "connectors add")
    provider = provider_lookup.require_provider(ctx, authorization.provider)
    wanted = _resolved(provider, given)
    with ctx.index.transaction() as authorizations:
        entry = lookup.find_in(authorizations, authorization.id)
        new = [cid for cid in wanted if cid not in entry.connectors]
        if not new:
            raise ConflictError(
                f"{quoted(entry.name)} already has {_names(provider, wanted)}",
                hint=f"See its connectors with: {hints.command_hint('show', entry)}",
            )
        entry.connectors = entry.connectors + new
        entry.requested_scopes = _requested(provider, entry)
        entry.updated_at = to_iso(ctx.clock())
        lookup.publish(ctx, entry)
        saved = entry.copy()
    granted = saved.granted_scopes or []
    missing = [s for s in saved.requested_scopes if s not in granted] if saved.is_authorized else []
    return ConnectorChange(
        authorization=saved,
        provider_name=provider.name,
        changed=[provider_lookup.connector_name(provider, cid) for cid in new],
        unchanged=[provider_lookup.connector_name(provider, cid) for cid in wanted if cid not in new],
        missing_scopes=missing,
        given_up=[],
        narrowing="",
    )


def remove_connectors(ctx: AppContext, name: str, given: list[str]) -> ConnectorChange:
    """Remove connectors; the scopes no other connector needs leave the
    request, and the grant where the provider can narrow it."""
    authorization = lookup.find_here(ctx, name, "connectors remove")
    provider = provider_lookup.require_provider(ctx, authorization.provider)
    # A connector the registry has dropped is named by its id, as `show` lists it.
    wanted = list(dict.fromkeys(cid if cid in authorization.connectors else provider_lookup.connector_id(provider, cid) for cid in given))
    with ctx.index.transaction() as authorizations:
        entry = lookup.find_in(authorizations, authorization.id)
        absent = [cid for cid in wanted if cid not in entry.connectors]
        if absent:
            raise NotFoundError(
                f"{quoted(entry.name)} has no connector {quoted(absent[0])}",
                hint=f"See its connectors with: {hints.command_hint('show', entry)}",
            )
        kept = [cid for cid in entry.connectors if cid not in wanted]
        if not kept:
            raise UsageError(
                f"{quoted(entry.name)} would have no connector left",
                hint=f"Keep at least one, or remove the authorization: {hints.command_hint('remove', entry)}",
            )
        entry.connectors = kept
        entry.requested_scopes = _requested(provider, entry)
        entry.updated_at = to_iso(ctx.clock())
        lookup.publish(ctx, entry)
        saved = entry.copy()
    granted = saved.granted_scopes or []
    given_up = [s for s in granted if s not in saved.requested_scopes] if saved.is_authorized else []
    narrowing = ""
    if given_up:
        narrowing = _narrow(ctx, saved, provider) if provider.refresh_narrows_scope else "cannot"
        if narrowing == "narrowed":
            saved = lookup.find_in(ctx.index.load(), saved.id)
            given_up = [s for s in given_up if s in (saved.granted_scopes or [])]
    return ConnectorChange(
        authorization=saved,
        provider_name=provider.name,
        changed=[provider_lookup.connector_name(provider, cid) for cid in wanted],
        unchanged=[],
        missing_scopes=[],
        given_up=given_up,
        narrowing=narrowing,
    )


def rename(ctx: AppContext, name: str, new_name: str) -> tuple[str, Authorization]:
    """Give an authorization another name (same rules as `add`); returns the old name and the entry.
    Its id, tokens and lock stay as they are: all are keyed by the id."""
    cleaned = manage.clean_name(new_name)
    found = lookup.find_here(ctx, name, "rename")
    if not found.is_shared:  # a shared one claims its new name in Vault (publish)
        manage.check_team_name(ctx, cleaned, found.id)
    with ctx.index.transaction() as authorizations:
        entry = lookup.find_in(authorizations, found.id)
        if entry.name == cleaned:
            raise ConflictError(f"the authorization is already named {quoted(cleaned)}")
        # A change of case only ("gmail" -> "Gmail") is the same name to everything else.
        lookup.check_unique([a for a in authorizations if a is not entry], cleaned)
        old = entry.name
        entry.name = cleaned
        entry.updated_at = to_iso(ctx.clock())
        lookup.publish(ctx, entry)
        saved = entry.copy()
    return old, saved


def _resolved(provider, given: list[str]) -> list[str]:
    return list(dict.fromkeys(provider_lookup.require_connector(provider, word) for word in given))


def _requested(provider, entry: Authorization) -> list[str]:
    """The union of the connectors' scopes, as `add` computes it; a connector
    the registry no longer has keeps nothing (as `authorize` does)."""
    return provider.scopes_for([cid for cid in entry.connectors if cid in provider.connectors])


def _names(provider, connector_ids: list[str]) -> str:
    names = [quoted(provider_lookup.connector_name(provider, cid)) for cid in connector_ids]
    return ("connector " if len(names) == 1 else "connectors ") + ", ".join(names)


def _narrow(ctx: AppContext, authorization: Authorization, provider) -> str:
    """Refresh with the scopes still requested, so the grant gives up the rest
    (RFC 6749 §6). Under the authorization's lock, like every token change.
    Returns "narrowed", or what went wrong (the connectors stay removed)."""
    if not authorization.storage:
        return "not authorized"
    store = ChunkedTokens(store_of(ctx, authorization))
    rescued = RescuedTokens(ctx.paths.data_dir, authorization.id)
    try:
        with tokens_lock(ctx, authorization), store.store.lock(authorization.id):
            current = lookup.find_in(ctx.index.load(), authorization.id)
            if rescued.exists():
                take_back(ctx, store, rescued, current)
            tokens = load_tokens(store, current)
            scopes = [s for s in current.requested_scopes if s in (current.granted_scopes or [])]
            renew_held(ctx, current, store, rescued, tokens, scopes=scopes)
    except IntegrayAuthError as failed:
        return failed.message
    return "narrowed"
