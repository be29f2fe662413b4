"""TokenSet: what the secret store keeps for one authorization."""

from __future__ import annotations

from . import jsonio
from datetime import datetime, timedelta, timezone
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

from .record import Record


# `token` renews an access token this long before it expires, so the one it
# prints does not expire on the way; `refresh --all` uses it as its default window.
REFRESH_MARGIN = timedelta(seconds=60)


class TokenSet(Record):
    __slots__ = ("access_token", "token_type", "refresh_token", "expires_at", "scope", "id_token")

    def __init__(
        self,
        access_token: str,
        token_type: str = "Bearer",
        refresh_token: str | None = None,
        expires_at: str | None = None,  # absolute UTC time, ISO 8601
        scope: list[str] | None = None,  # as granted
        id_token: str | None = None,
    ) -> None:
        self.access_token = access_token
        self.token_type = token_type
        self.refresh_token = refresh_token
        self.expires_at = expires_at
        self.scope = scope
        self.id_token = id_token

    def __repr__(self) -> str:  # never let a token reach a log or traceback
        return f"TokenSet(token_type={self.token_type!r}, expires_at={self.expires_at!r}, scope={self.scope!r})"

    __str__ = __repr__

    def to_secret(self) -> str:
        # ensure_ascii keeps one character per UTF-16 unit, so len() is the
        # size Windows Credential Manager counts.
        return jsonio.dumps({"v": 1, **{k: v for k, v in self.as_dict().items() if v is not None}},
                          separators=(",", ":"), ensure_ascii=True)

    @classmethod
    def from_secret(cls, text: str) -> "TokenSet":
        data = jsonio.loads(text)
        data.pop("v", None)
        return cls(**data)

    @classmethod
    def from_response(cls, token: dict[str, Any], now: datetime, requested_scope: list[str], separator: str = " ") -> "TokenSet":
        """Build from a token endpoint response (RFC 6749 §5.1)."""
        expires_at = None
        expires_in = token.get("expires_in")
        if expires_in not in (None, ""):
            try:
                expires_at = (now + timedelta(seconds=int(float(expires_in)))).astimezone(timezone.utc)
            except (TypeError, ValueError, OverflowError):  # OverflowError: beyond year 9999
                expires_at = None
        scope = token.get("scope")
        if isinstance(scope, str):
            granted = [s for s in scope.replace(",", " ").split() if s] if separator == "," else scope.split()
        elif isinstance(scope, list):
            granted = [str(s) for s in scope]
        else:
            granted = list(requested_scope)  # §5.1: omitted means "as requested"
        return cls(
            access_token=str(token["access_token"]),
            token_type=str(token.get("token_type") or "Bearer"),
            refresh_token=token.get("refresh_token") or None,
            expires_at=None if expires_at is None else expires_at.replace(microsecond=0).isoformat().replace("+00:00", "Z"),
            scope=granted,
            id_token=token.get("id_token") or None,
        )

    def expired(self, now: datetime, leeway: timedelta = REFRESH_MARGIN) -> bool:
        if self.expires_at is None:
            return False
        try:
            moment = datetime.fromisoformat(self.expires_at.replace("Z", "+00:00"))
            return now + leeway >= moment
        except (ValueError, TypeError, AttributeError):
            return True  # a hand-edited, unreadable expiry: refresh rather than trust it
