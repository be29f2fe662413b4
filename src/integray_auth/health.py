"""An authorization's health, computed in one place from its index entry,
its provider and the clock: what `list`, `search`, `show`, `status` and
every `--json` report.

Pure and stdlib-only: it runs on the fast path for every row of `list`,
and asks nobody (no keyring, no provider). `status --check` asks the
provider, then reports through the same values.
"""

from __future__ import annotations

from .tokens import utc_seconds

TYPE_CHECKING = False
if TYPE_CHECKING:
    from datetime import datetime

    from .models import Authorization
    from .registry.model import Provider

AUTHORIZED = "authorized"
NOT_AUTHORIZED = "not_authorized"
EXPIRED = "expired"  # the access token has expired, and nothing can renew it without the user
# The provider rejected the refresh, or (status --check) its access token; or the endpoints changed.
NEEDS_REAUTHORIZATION = "needs_reauthorization"
MISSING_SCOPES = "missing_scopes"  # the grant lacks scopes its connectors now need

LABELS = {
    AUTHORIZED: "Authorized",
    NOT_AUTHORIZED: "Not authorized",
    EXPIRED: "Expired",
    NEEDS_REAUTHORIZATION: "Needs re-authorization",
    MISSING_SCOPES: "Missing scopes",
}
VALUES = tuple(LABELS)


def health(authorization: Authorization, provider: Provider | None, now: datetime | int) -> str:
    """One of VALUES. The worst first: a grant that is gone outranks an expiry,
    which outranks missing scopes (some connectors still work then).
    `now`: a datetime, or whole UTC seconds since 1970 (models.now_from)."""
    if not authorization.is_authorized:
        return NEEDS_REAUTHORIZATION if authorization.refresh_rejected_at else NOT_AUTHORIZED
    if authorization.rejected_at:  # what `status --check` learned, until an authorize or a refresh succeeds
        return NEEDS_REAUTHORIZATION
    if provider is not None and endpoints_changed(authorization, provider):
        return NEEDS_REAUTHORIZATION
    if authorization.renewable is False and passed(authorization.expires_at, now):
        return EXPIRED
    if missing_scopes(authorization, provider):
        return MISSING_SCOPES
    return AUTHORIZED


def usable(value: str, active: bool) -> bool:
    """Whether `token` would hand out a token every connector can use."""
    return active and value == AUTHORIZED


def missing_scopes(authorization: Authorization, provider: Provider | None) -> list[str]:
    """The scopes its connectors need that the grant lacks ([] while unknown)."""
    granted = authorization.granted_scopes
    if not authorization.is_authorized or not isinstance(granted, list):
        return []
    needed = authorization.requested_scopes
    if provider is not None:
        # As the next `authorize` would ask: the registry may have given a connector a scope.
        known = [cid for cid in authorization.connectors if cid in provider.connectors]
        if known:
            needed = list(dict.fromkeys([*needed, *provider.scopes_for(known)]))
    have = set(granted)
    return [scope for scope in needed if scope not in have]


def endpoints_changed(authorization: Authorization, provider: Provider) -> bool:
    """Whether the registry names other endpoints than it was authorized against,
    in a way `token` would refuse (usecases/binding.py): a bundled entry's own
    values are always accepted, so only an overlay's change, or any change of a
    provider only an overlay defines, counts. Without a record, nothing to compare."""
    from .usecases.binding import BOUND, endpoints_of

    recorded = authorization.endpoints
    if not isinstance(recorded, dict):
        return False
    if provider.parameters:
        saved = authorization.parameters if isinstance(authorization.parameters, dict) else {}
        try:
            provider = provider.with_parameters({k: v for k, v in saved.items() if k in provider.parameters})
        except ValueError:
            return False  # `token` says what is wrong with them
    current = endpoints_of(provider)
    if current == recorded:
        return False
    bundled = not provider.source or _is_bundled(provider)
    for key, (field, _) in BOUND.items():
        if key not in recorded:
            # Recorded before this endpoint was bound: `token` compares an overlay's
            # change with the bundled value, and records anything else as it is.
            if bundled and field in provider.overrides:
                return True
        elif recorded[key] != current[key] and (not bundled or field in provider.overrides):
            return True
    return False


def _is_bundled(provider: Provider) -> bool:
    # An overlay's provider has no overrides and names its own file; the bundled
    # file is the only one named providers.toml inside the package.
    if provider.overrides:
        return True
    from .registry.loading import bundled_registry_path

    return provider.source == str(bundled_registry_path())


def passed(moment: str | None, now: datetime | int) -> bool:
    if not isinstance(moment, str):
        return False
    if type(now) is int:
        seconds = utc_seconds(moment)  # the spelling this tool writes, 'YYYY-MM-DDTHH:MM:SSZ'
        if seconds is not None:
            return now >= seconds
    from datetime import datetime, timezone

    if type(now) is int:  # another spelling: datetime reads it, as before
        now = datetime.fromtimestamp(now, timezone.utc)

    try:
        return now >= datetime.fromisoformat(moment.replace("Z", "+00:00"))
    except (ValueError, TypeError):
        return False
