"""TokenSet: what the secret store keeps for one authorization."""

from __future__ import annotations

from .errors import NetworkError, StorageError
from .lean import jsonio
from .lean.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from datetime import datetime, timedelta
    from typing import Any

# `token` renews an access token this long before it expires, so the one it
# prints does not expire on the way; `refresh --all` uses it as its default window.
REFRESH_MARGIN_SECONDS = 60


def __getattr__(name: str):
    # REFRESH_MARGIN, a timedelta, made when asked for: `datetime` costs a third of
    # `python -c pass` to import, and `token` checks expiry without it (expires_within).
    if name == "REFRESH_MARGIN":
        from datetime import timedelta

        return timedelta(seconds=REFRESH_MARGIN_SECONDS)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_DAYS_BEFORE_MONTH = (0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334)


def utc_seconds(moment: str) -> int | None:
    """Seconds since 1970 of a time as this tool stores it, 'YYYY-MM-DDTHH:MM:SSZ'
    (UTC), by integer arithmetic; None for any other spelling or an impossible
    date (datetime.fromisoformat decides then). tests/test_oauth_units.py
    compares it with datetime."""
    if len(moment) != 20 or moment[4] != "-" or moment[7] != "-" or moment[10] != "T" or moment[13] != ":" \
            or moment[16] != ":" or moment[19] != "Z":
        return None
    digits = moment[:4] + moment[5:7] + moment[8:10] + moment[11:13] + moment[14:16] + moment[17:19]
    if not (digits.isascii() and digits.isdigit()):
        return None
    year, month, day = int(digits[:4]), int(digits[4:6]), int(digits[6:8])
    hour, minute, second = int(digits[8:10]), int(digits[10:12]), int(digits[12:14])
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if not (year >= 1 and 1 <= month <= 12 and hour < 24 and minute < 60 and second < 60):
        return None
    month_days = (31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[month - 1]
    if not 1 <= day <= month_days:
        return None
    before = year - 1  # whole years before this one, then days since 0001-01-01 (proleptic Gregorian)
    days = before * 365 + before // 4 - before // 100 + before // 400 + _DAYS_BEFORE_MONTH[month - 1] \
        + (month > 2 and leap) + day - 1 - 719162  # 719162: days from 0001-01-01 to 1970-01-01
    return days * 86400 + hour * 3600 + minute * 60 + second


def is_token_text(value: object) -> bool:
    """RFC 6749 Appendix A's access_token and refresh_token: 1*VSCHAR, printable
    ASCII (%x20-7E). Nothing else reaches a terminal, a header or a child's
    environment: ESC, CR LF and NUL are refused with the rest."""
    return type(value) is str and value != "" and value.isascii() and value.isprintable()


def is_type_name(value: object) -> bool:
    """RFC 6749 Appendix A's token_type: type-name = 1*name-char,
    name-char = "-" / "." / "_" / DIGIT / ALPHA."""
    if type(value) is not str or value == "" or not value.isascii():
        return False
    rest = value.replace("-", "").replace(".", "").replace("_", "")
    return rest == "" or rest.isalnum()


def bearer_header(access_token: str, whose: str, hint: str | None = None) -> str:
    """The Authorization header's value for `access_token` (RFC 6750 §2.1);
    NetworkError (exit 11: not a Bearer token) when it cannot be one.

    A space ends the credential (RFC 9110 §11.4): the server would read
    another one. The rest of RFC 6750's b64token is not required: bundled
    providers issue tokens outside it that their APIs take as Bearer
    (Salesforce's "00D...!AQ...", Pipedrive's "v1u:..."), and is_token_text,
    checked on receipt and on load, already keeps out every control
    character, CR LF included."""
    if not is_token_text(access_token) or " " in access_token:
        raise NetworkError(
            f"the access token of {whose} is not printable ASCII without spaces (RFC 6750 §2.1), "
            "so it cannot be sent as a Bearer token",
            hint=hint or "The provider issued a token its own API cannot take as Bearer; tell its support.",
        )
    return f"Bearer {access_token}"


class UnusableTokens(StorageError, ValueError):
    """A stored token set whose values break RFC 6749's character rules.

    A StorageError (exit 8) for the user; a ValueError for code that counts
    any unreadable stored set as none (vault_store.replaces), so a new set
    may still replace it. `problem` names the field, never its value."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"the stored tokens hold {problem}; they are not used",
                         hint="Run 'integray-auth authorize NAME' to replace them.")
        self.problem = problem


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

    def problem(self) -> str | None:
        """The first value that breaks RFC 6749's character rules (Appendix A),
        described without the value; None when every one holds."""
        if not is_token_text(self.access_token):
            return "an access_token that is not printable ASCII text (RFC 6749, Appendix A)"
        if self.refresh_token is not None and not is_token_text(self.refresh_token):
            return "a refresh_token that is not printable ASCII text (RFC 6749, Appendix A)"
        if not is_type_name(self.token_type):
            return "a token_type that is not a type name (RFC 6749, Appendix A)"
        return None

    @classmethod
    def from_secret(cls, text: str) -> "TokenSet":
        """The set a store kept; UnusableTokens when a value breaks the
        character rules (whoever can write to the store chose it)."""
        data = jsonio.loads(text)
        data.pop("v", None)
        tokens = cls(**data)
        problem = tokens.problem()
        if problem is not None:
            raise UnusableTokens(problem)
        return tokens

    @classmethod
    def from_response(cls, token: dict[str, Any], now: datetime, requested_scope: list[str], separator: str = " ") -> "TokenSet":
        """Build from a token endpoint response (RFC 6749 §5.1)."""
        from datetime import timedelta, timezone

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

    def expired(self, now: datetime, leeway: timedelta | None = None) -> bool:
        """Whether it expires by `now` + `leeway` (REFRESH_MARGIN when None)."""
        if self.expires_at is None:
            return False
        from datetime import datetime, timedelta

        if leeway is None:
            leeway = timedelta(seconds=REFRESH_MARGIN_SECONDS)
        try:
            moment = datetime.fromisoformat(self.expires_at.replace("Z", "+00:00"))
            return now + leeway >= moment
        except (ValueError, TypeError, AttributeError):
            return True  # a hand-edited, unreadable expiry: refresh rather than trust it

    def expires_within(self, now: int, leeway: int) -> bool:
        """expired() for `now` in whole seconds since 1970 (UTC) and `leeway` in
        seconds, without datetime for the expiry this tool writes."""
        if self.expires_at is None:
            return False
        moment = utc_seconds(self.expires_at) if type(self.expires_at) is str else None
        if moment is None:
            from datetime import datetime, timedelta, timezone

            return self.expired(datetime.fromtimestamp(now, timezone.utc), timedelta(seconds=leeway))
        return now + leeway >= moment
