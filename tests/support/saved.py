"""Authorizations saved in the isolated home, for the fast-path and Vault tests."""

from __future__ import annotations

import pytest

from integray_auth.stores import lookup
from integray_auth.stores.secrets import ChunkedTokens
from integray_auth.tokens import TokenSet
from integray_auth.usecases import manage


@pytest.fixture
def saved(make_ctx, home):
    """Four authorizations, one of them inactive, one with an unknown provider."""
    ctx = make_ctx()
    for name, provider, connectors in [
        ("Reservanto Prague", "reservanto", ["list-locations", "create-class-booking"]),
        ("Reservanto Brno", "reservanto", ["list-segments"]),
        ("Gmail", "google", ["gmail-send-message"]),
    ]:
        manage.save_new(ctx, manage.new_authorization(ctx, name, provider, connectors))
    manage.set_active(ctx, "Reservanto Brno", active=False)
    with ctx.index.transaction() as authorizations:
        orphan = authorizations[0].to_json() | {"id": "0123456789ab", "name": "Orphan", "provider": "gone"}
        authorizations.append(type(authorizations[0]).from_json(orphan))


@pytest.fixture
def file_stored(make_ctx, saved):
    """'Gmail' authorized with a valid token in the --insecure-storage file."""
    ctx = make_ctx()
    with ctx.index.transaction() as authorizations:
        gmail = lookup.find_in(authorizations, "Gmail")
        gmail.status, gmail.storage, gmail.expires_at = "authorized", "file", "2099-01-01T00:00:00Z"
    ChunkedTokens(ctx.secret_store("file")).save(gmail.id, TokenSet(access_token="file-token", expires_at="2099-01-01T00:00:00Z"))
