"""health(): one pure function from an index entry, its provider and the clock."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from integray_auth import health as h
from integray_auth.childenv import child_environment
from integray_auth.models import Authorization
from integray_auth.registry import load_registry

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)
REGISTRY = load_registry()
RESERVANTO = REGISTRY.get("reservanto")


def entry(**fields) -> Authorization:
    values = dict(
        id="0123456789ab", name="A", provider="reservanto", connectors=["list-locations"],
        requested_scopes=["Location_r"], created_at="t", updated_at="t",
    )
    values.update(fields)
    return Authorization(**values)


AUTHORIZED = dict(status="authorized", granted_scopes=["Location_r"], expires_at="2030-01-01T11:00:00Z", storage="keyring")


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, h.NOT_AUTHORIZED),
        ({"refresh_rejected_at": "2029-12-31T00:00:00Z"}, h.NEEDS_REAUTHORIZATION),
        (AUTHORIZED | {"renewable": True}, h.AUTHORIZED),  # expired, but a refresh renews it
        (AUTHORIZED | {"renewable": None}, h.AUTHORIZED),  # unknown: not claimed
        (AUTHORIZED | {"renewable": False}, h.EXPIRED),
        (AUTHORIZED | {"renewable": False, "expires_at": "2030-01-01T13:00:00Z"}, h.AUTHORIZED),
        (AUTHORIZED | {"renewable": False, "expires_at": None}, h.AUTHORIZED),  # no expiry given
        (AUTHORIZED | {"granted_scopes": []}, h.MISSING_SCOPES),
        (AUTHORIZED | {"granted_scopes": None}, h.AUTHORIZED),
        (AUTHORIZED | {"renewable": False, "granted_scopes": []}, h.EXPIRED),  # the worse one
        (AUTHORIZED | {"expires_at": "garbage", "renewable": False}, h.AUTHORIZED),
    ],
)
def test_health_values(fields, expected):
    assert h.health(entry(**fields), RESERVANTO, NOW) == expected


def test_missing_scopes_follows_the_registry_connectors_not_only_the_index():
    # The connector needs Location_r; an index that forgot to request it still lacks it.
    authorization = entry(**(AUTHORIZED | {"requested_scopes": [], "granted_scopes": []}))
    assert h.health(authorization, RESERVANTO, NOW) == h.MISSING_SCOPES
    assert h.health(authorization, None, NOW) == h.AUTHORIZED  # unknown provider: the index alone


def test_usable_only_when_active_and_authorized():
    assert h.usable(h.AUTHORIZED, True)
    assert not h.usable(h.AUTHORIZED, False)
    assert not any(h.usable(value, True) for value in h.VALUES if value != h.AUTHORIZED)
    assert set(h.LABELS.values()) == {"Authorized", "Not authorized", "Expired", "Needs re-authorization", "Missing scopes"}


def test_child_environment_keeps_settings_only_when_asked_and_never_secrets():
    environ = {
        "PATH": "/bin", "INTEGRAY_AUTH_HOME": "/h", "INTEGRAY_AUTH_GOOGLE_CLIENT_SECRET": "s",
        "integray_auth_x_client_secret": "s2", "INTEGRAY_AUTH_TOKEN": "old", "INTEGRAY_AUTH_VAULT_PASSWORD": "p",
    }
    assert child_environment(environ) == {"PATH": "/bin"}
    assert child_environment(environ, keep_settings=True) == {"PATH": "/bin", "INTEGRAY_AUTH_HOME": "/h"}
