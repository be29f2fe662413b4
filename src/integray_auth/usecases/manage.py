"""Use cases that read or change the index: add, list, search, show,
deactivate, activate, remove."""

from __future__ import annotations

import os

from ..context import AppContext
from ..errors import ConflictError, IndexError_, IntegrayAuthError, NoMatchError, NotFoundError, UsageError
from ..models import Authorization, to_iso
from ..lean.printable import has_unsafe, quoted
from ..lean.record import Record
from ..lean.scoped import contextmanager

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..registry.model import Provider  # only in annotations: `token` never loads the registry module

MAX_NAME_LENGTH = 100
ECHO_NAME_LIMIT = 80  # longer names are named by id in the commands we print
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
                f"provider '{provider.id}' has no connector {quoted(cid)}{_suggest(cid, provider.connectors)}",
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
    from ..stores.vault import VaultStore

    try:
        store = VaultStore.open(ctx)
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


def connector_id(provider: Provider, given: str) -> str:
    """A connector's id from its id or its display name (as the prompt accepts);
    unknown ones come back unchanged for the caller to report."""
    if given in provider.connectors:
        return given
    folded = given.strip().casefold()
    for connector in provider.connectors.values():
        if folded in (connector.id.casefold(), connector.name.casefold()):
            return connector.id
    return given


def require_connector(provider: Provider, given: str) -> str:
    """The id of the connector `given` names (id or display name); NotFoundError if none."""
    cid = connector_id(provider, given)
    if provider.connector(cid) is None:
        names = {**{c: c for c in provider.connectors}, **{c.name: c for c in provider.connectors.values()}}
        raise NotFoundError(
            f"provider '{provider.id}' has no connector {quoted(given)}{_suggest(given, names)}",
            hint=f"Run 'integray-auth providers show {provider.id}' to list its connectors.",
        )
    return cid


def checked_parameters(provider: Provider, given: dict[str, str]) -> dict[str, str]:
    """The provider's template values for a new authorization (a usage error if one is wrong)."""
    from ..registry.model import ParameterError

    try:
        return provider.parameter_values(given)
    except ParameterError as error:
        hint = f"Pass --param {error.name}=VALUE; 'integray-auth providers show {provider.id}' describes it."
        raise UsageError(error.message, hint=hint) from None


def missing_parameters(provider: Provider, given: dict[str, str]) -> list:
    """Declared parameters with neither a value given nor a default (to ask for)."""
    return [p for p in provider.parameters.values() if p.name not in given and p.default is None]


def provider_for(ctx: AppContext, authorization: Authorization) -> Provider:
    """The authorization's provider with its URLs filled in from the saved values."""
    from ..registry.model import ParameterError

    provider = require_provider(ctx, authorization.provider)
    if not provider.parameters:
        return provider
    saved = authorization.parameters or {}
    if not isinstance(saved, dict) or not all(isinstance(v, str) for v in saved.values()):
        raise IndexError_(f"the saved parameters of '{authorization.name}' are not a table of strings",
                          hint="Run 'integray-auth remove' on it and add it again.")
    # Values the redirect named (realmId) are kept alongside; they are no template's.
    given = {k: v for k, v in saved.items() if k in provider.parameters}
    try:
        return provider.with_parameters(given)
    except ParameterError as error:
        raise UsageError(
            f"authorization '{authorization.name}': {error.message}",
            hint=f"Remove it and add it again with --param {error.name}=VALUE.",
        ) from None


def save_new(ctx: AppContext, authorization: Authorization) -> Authorization:
    """Append a new entry; the name is checked again under the index lock."""
    with ctx.index.transaction() as authorizations:
        check_unique(authorizations, authorization.name)
        authorizations.append(authorization)
    return authorization


def list_authorizations(ctx: AppContext, view: str = "active") -> list[Authorization]:
    return sorted(_in_view(with_shared(ctx), view), key=lambda a: (a.name.casefold(), a.id))


def with_shared(ctx: AppContext) -> list[Authorization]:
    """The index, and when VAULT_ADDR is set the shared authorizations of the
    configured prefix, each once, as Vault has it: other machines refresh,
    rename, deactivate and remove them. This machine's entries for them are
    brought in step (or dropped, when Vault no longer holds them). A Vault
    that cannot be read is one warning line, not a failed listing."""
    local = ctx.index.load()
    if not ctx.environ.get("VAULT_ADDR"):
        return local  # the fast path: nothing of Vault's is imported
    from ..errors import IntegrayAuthError
    from ..stores.vault import VaultStore

    try:
        store = VaultStore.open(ctx)
        listed, folders = store.listing()
    except IntegrayAuthError as failed:
        from ..lean.printable import escape

        ctx.stderr.write(f"integray-auth: warning: shared authorizations not listed: {escape(failed.message)}\n")
        return local
    shared = {a.id: a for a in listed}
    here = store.locator()
    merged, gone = [], []
    for entry in local:
        if entry.is_shared and entry.id in shared:
            merged.append(shared.pop(entry.id))
        elif entry.is_shared and entry.is_authorized and entry.locator == here and entry.id not in folders:
            # Removed or unshared on another machine. (Not authorized: maybe an `add` still
            # writing its first tokens, or a `remove` here midway; they settle it themselves.)
            gone.append(entry)
        else:
            merged.append(entry)
    _keep_in_step(ctx, [a for a in merged if a.is_shared], gone)
    names = {a.name.casefold() for a in merged}
    return merged + [a for a in shared.values() if a.name.casefold() not in names]


def locate(ctx: AppContext, name: str) -> Authorization:
    """`find`, with Vault's copy of a shared authorization (its metadata is the
    truth); on a machine that has never seen `name`, the shared one of that
    name or id in the configured Vault (only then is Vault's client imported)."""
    try:
        found = find(ctx, name)
    except NotFoundError:
        if not ctx.environ.get("VAULT_ADDR"):
            raise
        from ..stores.vault import VaultStore

        shared = VaultStore.open(ctx).find(name)
        if shared is None:
            raise
        return shared
    if not found.is_shared:
        return found
    current = vault_copy(ctx, found)
    if current.name.casefold() != found.name.casefold() and name != found.id:
        raise NotFoundError(
            f"no authorization named {quoted(name)}: another machine renamed it to {quoted(current.name)}",
            hint=f"Use the new name: {command_hint('token', current)}",
        )
    return current


def vault_copy(ctx: AppContext, entry: Authorization) -> Authorization:
    """Vault's copy of the shared authorization this machine has the index
    entry `entry` for; the entry is brought in step with it, or dropped when
    Vault holds neither its metadata nor its tokens any more (NotFoundError).
    Metadata that is there but unreadable, or an entry not (yet) authorized
    here, leaves the entry as it is."""
    from ..stores.secrets import store_of, token_key

    store = store_of(ctx, entry)
    absent = object()
    current = store.load(entry.id, absent=absent)
    if current is absent and entry.is_authorized and store.get(token_key(entry.id)) is None:
        _keep_in_step(ctx, [], [entry])
        raise NotFoundError(
            f"authorization {quoted(entry.name)} is no longer shared through {store.label()}: "
            "another machine removed or unshared it",
            hint="Run 'integray-auth list --all' to see every authorization.",
        )
    if current is absent or current is None:
        return entry
    _keep_in_step(ctx, [current], [])
    return current


def _keep_in_step(ctx: AppContext, current: list[Authorization], gone: list[Authorization]) -> None:
    """This machine's index entries for shared authorizations, as Vault has them:
    a cache, rewritten only when it differs. Where it is kept (storage,
    locator) stays this machine's; a new name another entry here already
    has is not copied (the index keeps names unique)."""
    from ..stores.vault import LOCAL_FIELDS

    theirs = {a.id: {k: v for k, v in a.to_json().items() if k not in LOCAL_FIELDS} for a in current}
    dropped = {a.id for a in gone}

    def stale(entry: Authorization) -> bool:
        if not entry.is_shared:
            return False
        if entry.id in dropped:
            return True
        wanted = theirs.get(entry.id)
        return wanted is not None and wanted != {k: v for k, v in entry.to_json().items() if k not in LOCAL_FIELDS}

    if not any(stale(entry) for entry in ctx.index.load()):
        return
    try:  # a cache: when the index cannot be written now, the next command tries again
        with ctx.index.transaction() as authorizations:
            for position in reversed(range(len(authorizations))):
                entry = authorizations[position]
                if not stale(entry):
                    continue
                if entry.id in dropped:
                    del authorizations[position]
                    continue
                wanted = theirs[entry.id]
                others = {a.name.casefold() for a in authorizations if a is not entry}
                if str(wanted.get("name", "")).casefold() in others:
                    continue
                located = {k: getattr(entry, k) for k in LOCAL_FIELDS}
                authorizations[position] = Authorization.from_json({**wanted, **located})
    except IndexError_:
        pass


def shared_copy(ctx: AppContext, authorization: Authorization) -> Authorization:
    """Vault's copy of a shared authorization (other machines change it), or
    the one given when Vault holds none."""
    from ..stores.vault import VaultStore

    return VaultStore.open(ctx, authorization.locator).load(authorization.id) or authorization


def reread(ctx: AppContext, authorization: Authorization) -> Authorization:
    """The entry as it is now: for a shared one Vault's copy (other machines
    change it), else the index's."""
    if authorization.is_shared:
        return shared_copy(ctx, authorization)
    return find_in(ctx.index.load(), authorization.id)


def find_here(ctx: AppContext, name: str, command: str) -> Authorization:
    """`find`, for a command that changes what this machine keeps: a shared
    authorization it knows only from Vault is refused in one line (exit 6),
    not reported unknown, and never changed here alone. A shared one it keeps
    is first brought in step with Vault's copy, so the change is made to
    what other machines see, not to a stale copy."""
    authorizations = ctx.index.load()
    try:
        found = find_in(authorizations, name)
    except NotFoundError as unknown:
        if not ctx.environ.get("VAULT_ADDR"):
            raise
        from ..errors import IntegrayAuthError
        from ..stores.secrets import store_of
        from ..stores.vault import VaultStore

        try:
            shared = VaultStore.open(ctx).find(name)
        except IntegrayAuthError:
            raise unknown from None  # Vault cannot tell: unknown, as without Vault
        if shared is None:
            raise unknown from None

        raise ConflictError(
            f"authorization {quoted(shared.name)} is shared through {store_of(ctx, shared).label()} and not kept on "
            f"this machine, so '{command}' cannot change it here",
            hint="Run it on the machine that shared it (or added it with --storage vault); "
            f"here, use it: {command_hint('token', shared)}",
        ) from None
    if found.is_shared:
        current = vault_copy(ctx, found)
        if current.name.casefold() != found.name.casefold() and name != found.id:
            raise NotFoundError(
                f"no authorization named {quoted(name)}: another machine renamed it to {quoted(current.name)}",
                hint=f"Use the new name: {command_hint(command, current)}",
            )
        return next((a for a in ctx.index.load() if a.id == found.id), found)  # as it is now in step
    return found


def publish(ctx: AppContext, entry: Authorization) -> None:
    """Keep Vault's copy of a shared authorization in step with a change to its
    index entry. Called inside the index transaction, so when Vault refuses,
    the index is left as it was: never a change on this machine alone."""
    if entry.is_shared:
        from ..stores.secrets import store_of

        store_of(ctx, entry).record(entry)


def search_authorizations(ctx: AppContext, query: str, view: str = "active") -> list[Authorization]:
    """Case-insensitive match over name, provider, connectors and scopes:
    exact matches first, then prefix, then substring."""
    needle = query.strip().casefold()
    if not needle:
        raise UsageError("the search query is empty", hint="Give a word to look for, e.g. 'integray-auth search gmail'.")
    ranked = []
    registry_texts: dict[tuple, list[str]] = {}  # most share a provider and connectors: looked up once
    for authorization in _in_view(with_shared(ctx), view):
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
                current = _by_id_first(authorizations, authorization.id)
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
        current = _by_id_first(ctx.index.load(), authorization.id)  # as it is now that nobody else changes it
        store = ChunkedTokens(store_of(ctx, current))
        with store.store.lock(current.id):
            yield current, store, RescuedTokens(ctx.paths.data_dir, current.id)


def _set_inactive(ctx: AppContext, authorization_id: str, status: str | None = None) -> Authorization:
    with ctx.index.transaction() as authorizations:
        current = _by_id_first(authorizations, authorization_id)
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
    authorization = _by_id_first(ctx.index.load(), name)
    said = ""
    if authorization.storage:
        from ..models import NOT_AUTHORIZED
        from .access_token import revoke_at_provider

        with _holding_tokens(ctx, authorization) as (authorization, store, rescued):
            if revoke and authorization.is_authorized:
                said = revoke_at_provider(ctx, authorization, store, rescued)
            if authorization.is_authorized:
                with ctx.index.transaction() as authorizations:
                    current = _by_id_first(authorizations, authorization.id)
                    current.status = NOT_AUTHORIZED
                    current.updated_at = to_iso(ctx.clock())
            store.delete(authorization.id)
            rescued.discard()
    with ctx.index.transaction() as authorizations:
        current = _by_id_first(authorizations, authorization.id)
        authorizations.remove(current)
    return authorization, said


def shell_quoted(name: str) -> str:
    """A name as it must be typed in a shell, for the hints we print: quoted,
    and after `--` when it starts with a dash, so it is not read as an option."""
    from ..lean.printable import shell_quote  # shlex.quote, without `re`: `status` hints on every row

    if name.startswith("-"):
        # shlex leaves `-x` bare; quoting it anyway shows it is one argument.
        quoted_name = shell_quote(name)
        return "-- " + (quoted_name if quoted_name != name else f"'{name}'")
    return shell_quote(name)


def command_hint(command: str, authorization: Authorization | str) -> str:
    """`integray-auth <command> NAME`, ready to paste. An authorization whose
    name is too long to echo, or holds characters a terminal would not show
    as typed (an old or edited index), is named by its id instead."""
    name = authorization if isinstance(authorization, str) else authorization.name
    if not isinstance(authorization, str) and (len(name) > ECHO_NAME_LIMIT or has_unsafe(name)):
        name = authorization.id
    return f"integray-auth {command} {shell_quoted(name)}"


def authorize_hint(authorization: Authorization | str) -> str:
    # The command comes last, with no stop after it: the line pastes as it is.
    return f"Run: {command_hint('authorize', authorization)}"


def find(ctx: AppContext, name: str) -> Authorization:
    """The authorization the user means by `name` (a name or an id)."""
    # Only the entries it may be, when the index's snapshot can tell (Index.matching).
    return find_in(ctx.index.matching(name), name)


def require_provider(ctx: AppContext, provider_id: str) -> Provider:
    provider = ctx.registry.get(provider_id)
    if provider is None:
        raise NotFoundError(
            f"unknown provider {quoted(provider_id)}{_suggest(provider_id, ctx.registry.providers)}",
            hint="Run 'integray-auth providers' to list them.",
        )
    return provider


def connector_name(provider: Provider | None, connector_id: str) -> str:
    if provider is not None and connector_id in provider.connectors:
        return provider.connectors[connector_id].name
    return connector_id


def find_in(authorizations: list[Authorization], name: str) -> Authorization:
    """By id or by name (case-insensitive). A word that is one authorization's
    id and another's name (possible only in an index older than the rule
    against id-shaped names) is refused, never guessed."""
    by_id = next((a for a in authorizations if a.id == name), None)
    wanted = name.strip().casefold()
    by_name = next((a for a in authorizations if a.name.casefold() == wanted), None)
    if by_id is not None and by_name is not None and by_id is not by_name:
        raise UsageError(
            f"{quoted(name)} is the id of {quoted(by_id.name)} and the name of another authorization",
            hint=f"Name the one you mean by the other handle: {quoted(by_id.name)} or {by_name.id}.",
        )
    found = by_id or by_name
    if found is not None:
        return found
    names = {a.name: a for a in authorizations}
    raise NotFoundError(
        f"no authorization named {quoted(name)}{_suggest(name, names)}",
        hint="Run 'integray-auth list --all' to see every authorization.",
    )


def _by_id_first(authorizations: list[Authorization], name: str) -> Authorization:
    # Callers that already resolved the user's word pass its id: that id must
    # reach the same entry even if an old entry is named like it.
    for authorization in authorizations:
        if authorization.id == name:
            return authorization
    return find_in(authorizations, name)


def _suggest(word: str, choices) -> str:
    import difflib

    by_fold = {c.casefold(): c for c in choices}
    close = difflib.get_close_matches(word.casefold(), list(by_fold), n=3, cutoff=0.6)
    if not close:
        return ""
    return "; did you mean " + " or ".join(quoted(by_fold[c]) for c in close) + "?"


def check_unique(authorizations: list[Authorization], name: str) -> None:
    for existing in authorizations:
        if existing.name.casefold() == name.casefold():
            state = "" if existing.active else " (inactive)"
            raise ConflictError(
                f"an authorization named {quoted(existing.name)} already exists{state}",
                hint="Choose another name, or run 'integray-auth remove' on the old one first.",
            )
        if existing.id.casefold() == name.casefold():
            raise ConflictError(
                f"{quoted(name)} is the id of the authorization {quoted(existing.name)}",
                hint="Choose another name.",
            )


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


def _in_view(authorizations: list[Authorization], view: str) -> list[Authorization]:
    if view == "all":
        return list(authorizations)
    return [a for a in authorizations if a.active == (view == "active")]


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
