"""The data integray-auth keeps about an authorization (never its tokens)."""

from __future__ import annotations

from .lean.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from datetime import datetime
    from typing import Any

AUTHORIZED = "authorized"
NOT_AUTHORIZED = "not_authorized"
STATUS_LABELS = {AUTHORIZED: "Authorized", NOT_AUTHORIZED: "Not authorized"}

from .stores import STORAGE_FILE, STORAGE_KEYRING, STORAGE_VAULT  # noqa: F401 - the backends' names, kept here too


def utc_now() -> datetime:
    # datetime is imported here, not at the top: `list` never needs it.
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).replace(microsecond=0)


def now_from(clock) -> datetime | int:
    """What `clock` says, or, for the real clock (utc_now), the same instant as
    whole seconds since 1970 (UTC), as utc_now() truncates them: `token`, `list`
    and `status` compare expiries with it and never import datetime
    (tokens.utc_seconds reads the stored ones)."""
    if clock is utc_now:
        import time  # a built-in module: nothing to load

        return int(time.time())
    return clock()


def to_iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    from datetime import timezone

    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


class Authorization(Record):
    """One entry of the index: metadata only; tokens live in the secret store."""

    __slots__ = (
        "id",
        "name",
        "provider",
        "connectors",
        "requested_scopes",
        "created_at",
        "updated_at",
        "status",
        "active",
        "granted_scopes",
        "authorized_at",
        "expires_at",
        "deactivated_at",
        "account",
        "storage",
        "client_id",
        "grant",
        "keyring_backend",
        "locator",
        "parameters",
        "endpoints",
        "renewable",
        "refreshed_at",
        "refresh_rejected_at",
        "rejected_at",
        "extra",
    )

    def __init__(
        self,
        id: str,
        name: str,
        provider: str,
        connectors: list[str],
        requested_scopes: list[str],
        created_at: str,
        updated_at: str,
        status: str = NOT_AUTHORIZED,
        active: bool = True,
        granted_scopes: list[str] | None = None,
        authorized_at: str | None = None,
        expires_at: str | None = None,  # of the access token, as an absolute UTC time
        deactivated_at: str | None = None,
        account: str | None = None,
        storage: str | None = None,  # where its tokens are: "keyring", "file" or "vault"
        client_id: str | None = None,  # the client the tokens were issued to (refresh needs it)
        grant: str | None = None,  # the grant that obtained them (grants.GRANTS), so `token` renews them alike
        keyring_backend: str | None = None,  # the keyring class that stored them, read back directly
        # Where the backend finds the tokens again (secret_store.py): the keyring class, or
        # Vault's address, mount and prefix; recorded at authorize, so a changed environment
        # cannot retarget the authorization.
        locator: str | dict[str, str] | None = None,
        # Non-secret values that pick the customer's endpoints ({tenant}, {shop}) and
        # the ones the provider's redirect named (QuickBooks' realmId).
        parameters: dict[str, str] | None = None,
        # What it was authorized against (usecases/binding.py): the origins of the token,
        # revocation and userinfo endpoints and the issuer; None if authorized before they were recorded.
        endpoints: dict[str, str | None] | None = None,
        # Whether its tokens can be renewed without the user (a refresh token, or a
        # re-mint): the boolean only, recorded at authorize and refresh, never the token.
        # None: recorded before this was kept (health then does not claim `expired`).
        renewable: bool | None = None,
        refreshed_at: str | None = None,  # the last renewal of its access token
        # When the provider rejected the refresh (invalid_grant): the grant is gone
        # and only a new consent helps (health: needs_reauthorization).
        refresh_rejected_at: str | None = None,
        # When `status --check` found that the provider no longer accepts its access token
        # (the userinfo endpoint answered 401: the grant was revoked at the provider). Still
        # Authorized, but health says needs_reauthorization until an authorize or a refresh succeeds.
        rejected_at: str | None = None,
        extra: dict[str, Any] | None = None,  # fields of newer versions, kept as is
    ) -> None:
        self.id = id
        self.name = name
        self.provider = provider
        self.connectors = connectors
        self.requested_scopes = requested_scopes
        self.created_at = created_at
        self.updated_at = updated_at
        self.status = status
        self.active = active
        self.granted_scopes = granted_scopes
        self.authorized_at = authorized_at
        self.expires_at = expires_at
        self.deactivated_at = deactivated_at
        self.account = account
        self.storage = storage
        self.client_id = client_id
        self.grant = grant
        self.keyring_backend = keyring_backend
        self.locator = locator
        self.parameters = parameters
        self.endpoints = endpoints
        self.renewable = renewable
        self.refreshed_at = refreshed_at
        self.refresh_rejected_at = refresh_rejected_at
        self.rejected_at = rejected_at
        self.extra = {} if extra is None else extra

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    @property
    def is_shared(self) -> bool:
        return self.storage == STORAGE_VAULT

    @property
    def is_authorized(self) -> bool:
        return self.status == AUTHORIZED

    def to_json(self) -> dict[str, Any]:
        """The index entry, sharing no list or dict with this object."""
        data = {name: _copied(getattr(self, name)) for name in _FIELDS}
        return {**_copied(self.extra), **data}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Authorization":
        if KNOWN_FIELDS.issuperset(data):  # the common case, taken fast: `list` reads every entry
            return cls(**data)
        values = {k: v for k, v in data.items() if k in KNOWN_FIELDS}
        if len(values) < len(data):
            values["extra"] = {k: v for k, v in data.items() if k not in KNOWN_FIELDS}
        return cls(**values)


_FIELDS = tuple(name for name in Authorization.__slots__ if name != "extra")  # in the order they are written
KNOWN_FIELDS = frozenset(_FIELDS)


def _copied(value: Any) -> Any:
    """A deep copy of JSON data (lists, dicts, scalars)."""
    if isinstance(value, list):
        return [_copied(item) for item in value]
    if isinstance(value, dict):
        return {key: _copied(item) for key, item in value.items()}
    return value
