"""The data integray-auth keeps about an authorization (never its tokens)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

AUTHORIZED = "authorized"
NOT_AUTHORIZED = "not_authorized"
STATUS_LABELS = {AUTHORIZED: "Authorized", NOT_AUTHORIZED: "Not authorized"}

STORAGE_KEYRING = "keyring"
STORAGE_FILE = "file"  # the explicit --insecure-storage opt-in


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def to_iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


@dataclass
class Authorization:
    """One entry of the index: metadata only; tokens live in the secret store."""

    id: str
    name: str
    provider: str
    connectors: list[str]
    requested_scopes: list[str]
    created_at: str
    updated_at: str
    status: str = NOT_AUTHORIZED
    active: bool = True
    granted_scopes: list[str] | None = None
    authorized_at: str | None = None
    expires_at: str | None = None  # of the access token, as an absolute UTC time
    deactivated_at: str | None = None
    account: str | None = None
    storage: str | None = None  # where its tokens are: "keyring" or "file"
    client_id: str | None = None  # the client the tokens were issued to (refresh needs it)
    extra: dict[str, Any] = field(default_factory=dict)  # fields of newer versions, kept as is

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    @property
    def is_authorized(self) -> bool:
        return self.status == AUTHORIZED

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        extra = data.pop("extra")
        return {**extra, **data}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Authorization":
        values = {k: v for k, v in data.items() if k in _KNOWN_FIELDS}
        if len(values) < len(data):
            values["extra"] = {k: v for k, v in data.items() if k not in _KNOWN_FIELDS}
        return cls(**values)


_KNOWN_FIELDS = frozenset(f.name for f in fields(Authorization)) - {"extra"}
