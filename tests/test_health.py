"""health(): one pure function from an index entry, its provider and the clock."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integray_auth import health as h
from integray_auth.childenv import child_environment
from integray_auth.models import Authorization, now_from, utc_now
from integray_auth.registry.loading import load_registry

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
        (AUTHORIZED | {"renewable": True, "rejected_at": "2029-12-31T00:00:00Z"}, h.NEEDS_REAUTHORIZATION),  # status --check
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


# --- `now` in whole seconds: the real clock without datetime -------------------------------

moments = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)).map(
        lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ").rjust(20, "0")
    ),
    st.sampled_from(["2030-01-01T11:00:00+00:00", "2030-01-01T11:00:00.5Z", "2030-01-01", "2030-02-30T00:00:00Z",
                     "0000-01-01T00:00:00Z", "soon", "", "2030-01-01T11:00:00z", "２０３０-01-01T11:00:00Z"]),
)


@settings(max_examples=300, deadline=None)
@given(moments, st.integers(min_value=-62135596800 + 86400, max_value=253402300799 - 86400))
def test_a_time_passed_in_whole_seconds_as_with_a_datetime(moment, seconds):
    assert h.passed(moment, seconds) == h.passed(moment, datetime.fromtimestamp(seconds, timezone.utc))


def test_the_real_clock_is_read_in_whole_seconds_an_injected_one_as_it_is():
    before = int(time.time())
    now = now_from(utc_now)
    assert type(now) is int and before <= now <= time.time()
    assert now_from(lambda: NOW) is NOW

    for fields in (AUTHORIZED | {"renewable": False}, AUTHORIZED | {"renewable": False, "expires_at": "2999-01-01T00:00:00Z"}):
        a = entry(**fields)
        assert h.health(a, RESERVANTO, now_from(utc_now)) == h.health(a, RESERVANTO, utc_now())
