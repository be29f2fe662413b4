"""Use cases that read or change the index: add, list, search, show,
deactivate, activate, remove."""

from __future__ import annotations

import os

from ..context import AppContext
from ..errors import ConflictError, IntegrayAuthError, NoMatchError, NotFoundError, UsageError
from ..hints import command_hint, did_you_mean
from ..lean.printable import has_unsafe, quoted
from ..lean.record import Record
from ..lean.scoped import contextmanager
from ..models import Authorization, to_iso
from ..stores.lookup import by_id_first, check_unique, find, find_here, find_in, in_view, locate, publish, with_shared
from .provider_lookup import checked_parameters, connector_id, connector_name, require_provider

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..registry.model import Provider

MAX_NAME_LENGTH = 100
# The shape of the ids we create (os.urandom(6).hex()): no name may take it,
# or `remove <id>` could reach a different authorization than the one meant.
_HEX_DIGITS = "0123456789abcdefABCDEF"  # an id: 12 of them (str.strip, not a regex: `re` is slow to import)


def new_authorization(
    ctx: AppContext, name: str, provider_id: str, connector_ids: list[str], parameters: dict[str, str] | None = None,
    existing: list[Authorization] | None = None,
) -> Authorization:
    """Check the inputs against the registry and the index; build (not save) the entry.

    `parameters` are the template values given (--param); defaults fill the
    rest, and all are saved, so a later change of a default cannot move an
    existing authorization to another tenant. `existing`: the index as the
    caller just read it (reading 1,000 entries again costs more than the rest).
    """
    name = _clean_name(name)
    provider = require_provider(ctx, provider_id)
    values = checked_parameters(provider, parameters or {})
    connector_ids = list(dict.fromkeys(connector_id(provider, c) for c in connector_ids))  # keep order, drop repeats
    if not connector_ids:
        raise UsageError(
            f"pick at least one connector of {provider.name}",
            hint=f"Add --connector; 'integray-auth providers show {provider.id}' lists them.",
        )
    for cid in connector_ids:
        if provider.connector(cid) is None:
            raise NotFoundError(
                f"provider '{provider.id}' has no connector {quoted(cid)}{did_you_mean(cid, provider.connectors)}",
                hint=f"Run 'integray-auth providers show {provider.id}' to list its connectors.",
            )
    if existing is None:
        existing = ctx.index.load()
    check_unique(existing, name)
    taken = {a.id for a in existing} | {a.name.casefold() for a in existing}
    new_id = os.urandom(6).hex()
    while new_id in taken:  # 2**-48 a draw, but an id must never be a name or id in use
        new_id = os.urandom(6).hex()
    now = to_iso(ctx.clock())
    return Authorization(
        id=new_id,
        name=name,
        provider=provider.id,
        connectors=connector_ids,
        requested_scopes=provider.scopes_for(connector_ids),
        created_at=now,
        updated_at=now,
        parameters=values or None,
    )


def check_new_name(ctx: AppContext, name: str, team: bool = True) -> str:
    """The cleaned name, if no authorization has it yet: checked before any prompt.
    `team`: also among the configured Vault's shared ones (check_team_name);
    False when the authorization goes to Vault, whose store checks it itself."""
    name = _clean_name(name)
    check_unique(ctx.index.load(), name)
    if team:
        check_team_name(ctx, name)
    return name


def check_team_name(ctx: AppContext, name: str, authorization_id: str | None = None) -> None:
    """For a name this machine keeps locally: when VAULT_ADDR is set, a shared
    authorization of that name (case-insensitive) in the configured Vault is a
    ConflictError, or `token NAME` here could mean either one.

    A Vault that cannot be asked (stopped, offline, refused) is one warning
    line and the name is taken: a local authorization must stay possible
    offline, and the warning says the team's names were not checked. Nothing
    of Vault's is imported without VAULT_ADDR (the fast `add --no-authorize`)."""
    if not (ctx.environ.get("VAULT_ADDR") or "").strip():  # vault_store.configured(), not imported yet
        return
    from ..stores.shared_index import SharedIndex

    try:
        store = SharedIndex.open(ctx)
        shared = store.find(name)
    except IntegrayAuthError as failed:
        from ..lean.printable import escape

        ctx.stderr.write(f"integray-auth: warning: names of shared authorizations not checked: {escape(failed.message)}\n")
        return
    if shared is not None and shared.id != authorization_id:
        raise ConflictError(
            f"a shared authorization named {quoted(shared.name)} already exists in {store.label()}",
            hint=f"Choose another name, or use the shared one: {command_hint('token', shared)}",
        )












def save_new(ctx: AppContext, authorization: Authorization) -> Authorization:
    """Append a new entry; the name is checked again under the index lock."""
    with ctx.index.transaction() as authorizations:
        check_unique(authorizations, authorization.name)
        authorizations.append(authorization)
    return authorization




















def search_authorizations(ctx: AppContext, query: str, view: str = "active") -> list[Authorization]:
    """Case-insensitive match over name, provider, connectors and scopes:
    exact matches first, then prefix, then substring."""
    needle = query.strip().casefold()
    if not needle:
        raise UsageError("the search query is empty", hint="Give a word to look for, e.g. 'integray-auth search gmail'.")
    ranked = []
    registry_texts: dict[tuple, list[str]] = {}  # most share a provider and connectors: looked up once
    for authorization in in_view(with_shared(ctx), view):
        key = (authorization.provider, *authorization.connectors)
        names = registry_texts.get(key)
        if names is None:
            names = registry_texts[key] = _registry_texts(ctx, authorization)
        texts = [*_own_texts(authorization), *names]
        # casefold maps character by character: a needle in no text is in none of their
        # join either, and one C search tells most authorizations apart.
        if needle not in "\0".join(texts).casefold():
            continue
        rank = min((_rank(needle, text) for text in texts), default=3)
        if rank < 3:
            ranked.append((rank, authorization.name.casefold(), authorization.id, authorization))
    if not ranked:
        where = {"active": "active authorizations", "inactive": "inactive authorizations", "all": "authorizations"}[view]
        hint = "Try --all to include inactive ones." if view != "all" else "Run 'integray-auth list --all' to see them all."
        raise NoMatchError(f"no {where} match {quoted(query)}", hint=hint)
    ranked.sort(key=lambda item: item[:3])
    return [item[3] for item in ranked]


class ScopeLine(Record):
    __slots__ = ("scope", "description", "connectors", "granted")

    def __init__(
        self,
        scope: str,
        description: str | None,  # None when the registry does not know the scope
        connectors: list[str],  # names of the connectors that need it
        granted: bool | None,  # None until authorized
    ) -> None:
        self.scope = scope
        self.description = description
        self.connectors = connectors
        self.granted = granted


class ConnectorLine(Record):
    __slots__ = ("id", "name", "scopes", "missing")

    def __init__(
        self,
        id: str,
        name: str,
        scopes: list[str] | None,  # None when the registry no longer knows the connector
        missing: list[str] | None,  # its scopes the grant lacks; None until authorized (or unknown)
    ) -> None:
        self.id = id
        self.name = name
        self.scopes = scopes
        self.missing = missing

    @property
    def covered(self) -> bool | None:
        """Whether the grant covers every scope it needs (None: not known)."""
        return None if self.missing is None else not self.missing


class AuthorizationDetails(Record):
    __slots__ = ("authorization", "provider_name", "connector_names", "scopes", "extra_granted", "connectors")

    def __init__(
        self,
        authorization: Authorization,
        provider_name: str,
        connector_names: list[str],
        scopes: list[ScopeLine],
        extra_granted: list[str],  # granted although nobody asked for them
        connectors: list[ConnectorLine] | None = None,
    ) -> None:
        self.authorization = authorization
        self.provider_name = provider_name
        self.connector_names = connector_names
        self.scopes = scopes
        self.extra_granted = extra_granted
        self.connectors = [] if connectors is None else connectors


def connector_lines(provider: Provider | None, authorization: Authorization) -> list[ConnectorLine]:
    """Each connector of the authorization with the scopes it needs that the grant lacks."""
    granted = authorization.granted_scopes if authorization.is_authorized else None
    lines = []
    for cid in authorization.connectors:
        connector = provider.connectors.get(cid) if provider is not None else None
        scopes = list(connector.scopes) if connector is not None else None
        missing = None if granted is None or scopes is None else [s for s in scopes if s not in granted]
        lines.append(ConnectorLine(cid, connector_name(provider, cid), scopes, missing))
    return lines


def describe(ctx: AppContext, name: str) -> AuthorizationDetails:
    try:
        authorization = locate(ctx, name)  # Vault's copy of a shared one
    except (NotFoundError, UsageError):
        raise
    except IntegrayAuthError:
        authorization = find(ctx, name)  # Vault cannot be read: what this machine last saw
    provider = ctx.registry.get(authorization.provider)
    granted = authorization.granted_scopes
    lines = []
    for scope in authorization.requested_scopes:
        users = []
        if provider is not None:
            users = [
                provider.connectors[cid].name
                for cid in authorization.connectors
                if cid in provider.connectors and scope in provider.connectors[cid].scopes
            ]
        lines.append(
            ScopeLine(
                scope=scope,
                description=provider.scopes.get(scope) if provider else None,
                connectors=users,
                granted=None if granted is None else scope in granted,
            )
        )
    return AuthorizationDetails(
        authorization=authorization,
        provider_name=provider.name if provider else authorization.provider,
        connector_names=[connector_name(provider, cid) for cid in authorization.connectors],
        scopes=lines,
        extra_granted=[s for s in (granted or []) if s not in authorization.requested_scopes],
        connectors=connector_lines(provider, authorization),
    )


def set_active(ctx: AppContext, name: str, active: bool) -> Authorization:
    """Move an authorization between the active and inactive views."""
    found = find_here(ctx, name, "activate" if active else "deactivate")
    with ctx.index.transaction() as authorizations:
        authorization = find_in(authorizations, found.id)
        if authorization.active == active:
            state = "active" if active else "inactive"
            raise ConflictError(f"authorization {quoted(authorization.name)} is already {state}")
        now = to_iso(ctx.clock())
        authorization.active = active
        authorization.deactivated_at = None if active else now
        authorization.updated_at = now
        publish(ctx, authorization)
    return authorization


def deactivate_revoking(ctx: AppContext, name: str) -> tuple[Authorization, str]:
    """`deactivate --revoke`: revoke the grant at the provider (RFC 7009, the
    refresh token first), delete the tokens, and leave it Not authorized and
    inactive; returns the entry and what revoking did.

    A revocation that fails is reported, and the tokens go anyway: the user
    asked that they stop being used here, and is told where to revoke by hand.
    Under the token lock, as `remove`: marked Not authorized first, then the
    tokens go, so a crash never leaves an Authorized entry without tokens.
    An endpoint that no longer matches the binding stops everything first.
    """
    from ..models import NOT_AUTHORIZED

    authorization = find_here(ctx, name, "deactivate")
    if not authorization.active and not authorization.storage:
        raise ConflictError(f"authorization {quoted(authorization.name)} is already inactive and has no tokens")
    said = ""
    if authorization.storage:
        from .access_token import revoke_at_provider

        with _holding_tokens(ctx, authorization) as (authorization, store, rescued):
            if authorization.is_authorized:
                said = revoke_at_provider(ctx, authorization, store, rescued)
            _set_inactive(ctx, authorization.id, status=NOT_AUTHORIZED)
            store.delete(authorization.id)
            rescued.discard()
            with ctx.index.transaction() as authorizations:
                current = by_id_first(authorizations, authorization.id)
                current.storage = current.keyring_backend = current.locator = current.expires_at = None
                current.renewable = current.refreshed_at = None
                saved = current.copy()
        return saved, said
    return _set_inactive(ctx, authorization.id), said


@contextmanager
def _holding_tokens(ctx: AppContext, authorization: Authorization):
    """(the authorization as it is now, its token store, its rescued tokens) for
    `deactivate --revoke` and `remove`, under this machine's token lock and the
    store's own: for a shared one a Vault lease, so no other machine refreshes
    (rotates) it between the revocation and the deletion."""
    from ..stores.secrets import ChunkedTokens, RescuedTokens, store_of
    from .access_token import tokens_lock

    with tokens_lock(ctx, authorization):
        current = by_id_first(ctx.index.load(), authorization.id)  # as it is now that nobody else changes it
        store = ChunkedTokens(store_of(ctx, current))
        with store.store.lock(current.id):
            yield current, store, RescuedTokens(ctx.paths.data_dir, current.id)


def _set_inactive(ctx: AppContext, authorization_id: str, status: str | None = None) -> Authorization:
    with ctx.index.transaction() as authorizations:
        current = by_id_first(authorizations, authorization_id)
        now = to_iso(ctx.clock())
        if current.active:
            current.active, current.deactivated_at = False, now
        if status is not None:
            current.status = status
        current.updated_at = now
        publish(ctx, current)
        return current.copy()


def remove(ctx: AppContext, name: str, revoke: bool = False) -> tuple[Authorization, str]:
    """Delete an authorization (by the id `find` resolved, or a name) and its
    tokens, first revoking the grant at the provider when `revoke`; returns
    the entry and what revoking did.

    Under the token lock throughout: a refresh in flight can neither rotate
    the refresh token between revoking and deleting it (leaving a fresh one
    unrevoked) nor write the tokens back. It is marked Not authorized first,
    then its tokens go, then the entry: a failure or crash in between leaves
    a Not authorized entry (removed by running `remove` again), never an
    Authorized one without tokens, nor a token nobody can find.
    """
    authorization = by_id_first(ctx.index.load(), name)
    said = ""
    if authorization.storage:
        from ..models import NOT_AUTHORIZED
        from .access_token import revoke_at_provider

        with _holding_tokens(ctx, authorization) as (authorization, store, rescued):
            if revoke and authorization.is_authorized:
                said = revoke_at_provider(ctx, authorization, store, rescued)
            if authorization.is_authorized:
                with ctx.index.transaction() as authorizations:
                    current = by_id_first(authorizations, authorization.id)
                    current.status = NOT_AUTHORIZED
                    current.updated_at = to_iso(ctx.clock())
            store.delete(authorization.id)
            rescued.discard()
    with ctx.index.transaction() as authorizations:
        current = by_id_first(authorizations, authorization.id)
        authorizations.remove(current)
    return authorization, said






















def clean_name(name: str) -> str:
    """`name` stripped, if it may name an authorization (UsageError if not)."""
    return _clean_name(name)


def _clean_name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned:
        raise UsageError("the name is empty", hint="Give the authorization a name, e.g. 'Reservanto Prague'.")
    if has_unsafe(cleaned) or _invisible(cleaned):
        # Control, format (zero-width, bidi) and separator characters: a name
        # must read on a terminal exactly as it is stored.
        raise UsageError(
            f"the name {quoted(cleaned)} contains control, zero-width or bidi characters",
            hint="Use letters, digits, spaces and punctuation.",
        )
    if len(cleaned) > MAX_NAME_LENGTH:
        raise UsageError(f"the name {quoted(cleaned)} is longer than {MAX_NAME_LENGTH} characters")
    if len(cleaned) == 12 and not cleaned.strip(_HEX_DIGITS):
        raise UsageError(
            f"the name {quoted(cleaned)} looks like an authorization id (12 hex digits)",
            hint="Choose a name with another character in it.",
        )
    return cleaned


def _invisible(name: str) -> bool:
    # printable.UNSAFE_CLASS lists the categories as of Python 3.11; newer Unicode
    # versions add format characters, which unicodedata knows about.
    import unicodedata

    return any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp") for ch in name)




def _rank(needle: str, text: str) -> int:
    text = text.casefold()
    if text == needle:
        return 0
    if text.startswith(needle):
        return 1
    if needle in text:
        return 2
    return 3


def _own_texts(authorization: Authorization) -> list[str]:
    return [authorization.name, authorization.provider, *authorization.connectors, *authorization.requested_scopes]


def _registry_texts(ctx: AppContext, authorization: Authorization) -> list[str]:
    """The registry's names for its provider and connectors (none for an unknown provider)."""
    provider = ctx.registry.get(authorization.provider)
    if provider is None:
        return []
    return [provider.name, *(connector_name(provider, cid) for cid in authorization.connectors)]
