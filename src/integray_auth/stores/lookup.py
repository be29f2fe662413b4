"""Where is authorization X, and what is it: the one lookup layer over the
local index and, when `VAULT_ADDR` is set, the team's shared entries in
Vault (whose metadata is the truth for a shared authorization).

Every use case that needs a stored authorization by name comes here; the
use cases above decide what to do with it. Vault's client is imported only
when an entry is shared or a name is unknown locally, so `token` and `list`
without `VAULT_ADDR` read the index alone.
"""

from __future__ import annotations

from ..errors import ConflictError, IndexError_, NotFoundError, UsageError
from ..hints import command_hint, did_you_mean
from ..lean.printable import quoted
from ..models import Authorization

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..context import AppContext


def list_authorizations(ctx: AppContext, view: str = "active") -> list[Authorization]:
    return sorted(in_view(with_shared(ctx), view), key=lambda a: (a.name.casefold(), a.id))


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
    from ..stores.shared_index import SharedIndex

    try:
        store = SharedIndex.open(ctx)
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
        from ..stores.shared_index import SharedIndex

        shared = SharedIndex.open(ctx).find(name)
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
    current = store.index.load(entry.id, absent=absent)
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
    from ..stores.shared_index import SharedIndex

    return SharedIndex.open(ctx, authorization.locator).load(authorization.id) or authorization


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
        from ..stores.shared_index import SharedIndex

        try:
            shared = SharedIndex.open(ctx).find(name)
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


def find(ctx: AppContext, name: str) -> Authorization:
    """The authorization the user means by `name` (a name or an id)."""
    # Only the entries it may be, when the index's snapshot can tell (Index.matching).
    return find_in(ctx.index.matching(name), name)


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
        f"no authorization named {quoted(name)}{did_you_mean(name, names)}",
        hint="Run 'integray-auth list --all' to see every authorization.",
    )


def by_id_first(authorizations: list[Authorization], name: str) -> Authorization:
    # Callers that already resolved the user's word pass its id: that id must
    # reach the same entry even if an old entry is named like it.
    for authorization in authorizations:
        if authorization.id == name:
            return authorization
    return find_in(authorizations, name)




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


def in_view(authorizations: list[Authorization], view: str) -> list[Authorization]:
    if view == "all":
        return list(authorizations)
    return [a for a in authorizations if a.active == (view == "active")]
