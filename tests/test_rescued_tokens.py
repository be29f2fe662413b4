"""A token set the provider has issued is never dropped (issue 6, item 12).

After a rotation the stored refresh token is spent: if the store then refuses
the new set, dropping it would lose the grant. The write is retried; when the
store still refuses, the set waits in a 0600 rescue file named in the exit-8
message, and the next `token` moves it into the store.

Unit level: a fake keyring whose writes fail on demand. Real level: GNOME
Keyring in a private D-Bus session, its collection locked by the token
endpoint while it answers, i.e. between `token`'s read and its write.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest
from keyring.errors import KeyringLocked

from integray_auth.errors import ExitCode, StorageError
from integray_auth.stores.index import Index
from integray_auth.stores.secrets import ChunkedTokens, KeyringStore, RescuedTokens, token_key
from integray_auth.tokens import TokenSet
from integray_auth.usecases import access_token as token_usecase
from integray_auth.usecases import manage
from tests.support.cli import MemoryKeyring, assert_error_line
from tests.support.keyring_session import KeyringSession
from tests.support.plugin import require
from tests.support.refresh import EXPIRED, endpoint, overlay_text  # noqa: F401 - endpoint is a fixture

ROTATED = {"access_token": "new-access", "token_type": "Bearer", "expires_in": 3600, "refresh_token": "new-refresh"}
SECRETS = ("new-access", "new-refresh", "old-refresh")


class LockableKeyring(MemoryKeyring):
    """Reads always work; writes fail while `failing_writes` > 0 (a collection
    locked between the read and the write)."""

    def __init__(self) -> None:
        super().__init__()
        self.failing_writes = 0

    def set_password(self, service, username, password):
        if self.failing_writes > 0:
            self.failing_writes -= 1
            raise KeyringLocked("Failed to unlock the collection!")
        super().set_password(service, username, password)


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    monkeypatch.setattr(token_usecase, "SAVE_RETRY_DELAYS", (0.0, 0.0))


@pytest.fixture
def fake_keyring():
    return LockableKeyring()


@pytest.fixture
def stub(make_ctx, home, tmp_path, endpoint, fake_keyring):  # noqa: F811
    """An Authorized 'Stub' (expired access token) whose tokens are in the fake keyring;
    returns (ctx, authorization id)."""
    overlay = tmp_path / "stub.toml"
    overlay.write_text(overlay_text(endpoint.url + "/token", revocation_url=endpoint.url + "/revoke"))
    ctx = make_ctx(registry_path=overlay, secret_store_factory=lambda ctx, storage: KeyringStore(backend=fake_keyring))
    entry = manage.save_new(ctx, manage.new_authorization(ctx, "Stub", "stub", ["both"]))
    with ctx.index.transaction() as authorizations:
        [saved] = authorizations
        saved.status, saved.storage, saved.client_id, saved.granted_scopes = "authorized", "keyring", "stub-client", ["read"]
    ChunkedTokens(KeyringStore(backend=fake_keyring)).save(
        entry.id, TokenSet(access_token="old-access", refresh_token="old-refresh", expires_at=EXPIRED, scope=["read"])
    )
    return ctx, entry.id


def in_keyring(fake_keyring, authorization_id: str) -> dict:
    return json.loads(fake_keyring.entries[("integray-auth", token_key(authorization_id))])


def test_a_write_that_fails_once_is_retried(stub, endpoint, fake_keyring, home):  # noqa: F811
    ctx, authorization_id = stub
    endpoint.answer(200, ROTATED)
    fake_keyring.failing_writes = 1

    assert token_usecase.access_token(ctx, "Stub") == "new-access"

    assert in_keyring(fake_keyring, authorization_id)["refresh_token"] == "new-refresh"
    assert not list(home.glob("tokens-rescued-*"))


def test_a_store_that_keeps_failing_leaves_the_new_tokens_in_a_rescue_file_then_token_moves_them_back(
    stub, endpoint, fake_keyring, home
):  # noqa: F811
    ctx, authorization_id = stub
    endpoint.answer(200, ROTATED)
    fake_keyring.failing_writes = 99

    with pytest.raises(StorageError) as failed:
        token_usecase.access_token(ctx, "Stub")

    rescue = RescuedTokens(home, authorization_id).path
    message = f"{failed.value.message} {failed.value.hint}"
    assert failed.value.exit_code == ExitCode.STORAGE
    assert str(rescue) in message and "cannot write to the keyring" in message
    assert "integray-auth token Stub" in failed.value.hint
    assert not any(secret in message for secret in SECRETS)
    assert stat.S_IMODE(rescue.stat().st_mode) == 0o600
    assert stat.S_IMODE(rescue.parent.stat().st_mode) == 0o700
    assert json.loads(json.loads(rescue.read_text())["tokens"])["refresh_token"] == "new-refresh"
    assert in_keyring(fake_keyring, authorization_id)["refresh_token"] == "old-refresh"  # the spent one

    # While the keyring still refuses, the file stays and says so again.
    fake_keyring.failing_writes = 99
    with pytest.raises(StorageError) as again:
        token_usecase.access_token(ctx, "Stub")
    assert str(rescue) in again.value.message and rescue.exists()

    # The keyring works again: the next `token` moves them in, without asking the provider.
    fake_keyring.failing_writes = 0
    assert token_usecase.access_token(ctx, "Stub") == "new-access"
    assert len(endpoint.requests) == 1
    assert in_keyring(fake_keyring, authorization_id)["refresh_token"] == "new-refresh"
    assert not rescue.exists()
    [entry] = ctx.index.load()
    assert entry.expires_at is not None and entry.expires_at != EXPIRED


def test_a_rescued_set_older_than_the_stored_one_is_dropped(stub, fake_keyring, home):
    """Authorized again since (the store holds another set): the rescue file is stale."""
    ctx, authorization_id = stub
    RescuedTokens(home, authorization_id).keep(
        TokenSet(access_token="stale", refresh_token="stale-refresh"),
        replaces=TokenSet(access_token="something else"),
    )
    store = ChunkedTokens(KeyringStore(backend=fake_keyring))
    store.save(authorization_id, TokenSet(access_token="reauthorized", expires_at="2999-01-01T00:00:00Z"))

    assert token_usecase.access_token(ctx, "Stub") == "reauthorized"
    assert not RescuedTokens(home, authorization_id).exists()


def test_remove_revokes_the_rescued_refresh_token_and_deletes_the_file(stub, endpoint, fake_keyring, home):  # noqa: F811
    ctx, authorization_id = stub
    endpoint.answer(200, ROTATED)
    fake_keyring.failing_writes = 99
    with pytest.raises(StorageError):
        token_usecase.access_token(ctx, "Stub")
    fake_keyring.failing_writes = 0
    endpoint.answer(200, "")

    removed, said = manage.remove(ctx, "Stub", revoke=True)

    assert said == "Revoked the grant at Stub."
    assert "token=new-refresh" in endpoint.requests[-1]
    assert not RescuedTokens(home, authorization_id).exists()
    assert ctx.index.load() == []


def test_when_even_the_rescue_file_cannot_be_written_the_error_says_so(stub, endpoint, fake_keyring, monkeypatch):  # noqa: F811
    ctx, _ = stub
    endpoint.answer(200, ROTATED)
    fake_keyring.failing_writes = 99

    def full_disk(self, tokens, replaces):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(RescuedTokens, "keep", full_disk)
    with pytest.raises(StorageError) as failed:
        token_usecase.access_token(ctx, "Stub")

    assert "could not be kept anywhere" in failed.value.message and "No space left" in failed.value.message
    assert "integray-auth authorize Stub" in failed.value.hint


# --- the real path: GNOME Keyring whose collection is locked mid-refresh ------------------


@pytest.fixture
def lockable_secret_service():
    """A private Secret Service of this test's own: locking the shared one would
    break the tests after it."""
    for tool, package in (("dbus-daemon", "dbus"), ("dbus-send", "dbus"), ("gnome-keyring-daemon", "gnome-keyring")):
        require(tool, f"{tool} is not installed (apt-get install {package})")
    with KeyringSession() as session:
        yield session


def _keyring(session: KeyringSession, code: str, *args: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", f"import keyring, sys\n{code}", *args],
        env=session.subprocess_env(), capture_output=True, text=True, check=True, timeout=30,
    ).stdout.strip()


def test_a_keyring_locked_between_read_and_write_keeps_the_rotated_tokens_recoverable(
    cli, endpoint, home, tmp_path, lockable_secret_service  # noqa: F811
):
    session = lockable_secret_service
    overlay = tmp_path / "stub.toml"
    overlay.write_text(overlay_text(endpoint.url + "/token"))
    assert cli("--registry", str(overlay), "add", "Stub", "-p", "stub", "-c", "both", "--no-authorize").code == 0
    with Index(home / "index.json", home / "index.lock").transaction() as authorizations:
        [entry] = authorizations
        entry.status, entry.storage, entry.client_id = "authorized", "keyring", "stub-client"
        entry.keyring_backend = "keyring.backends.SecretService.Keyring"
    key = token_key(entry.id)
    old = TokenSet(access_token="old-access", refresh_token="old-refresh", expires_at=EXPIRED, scope=["read"])
    _keyring(session, "keyring.set_password('integray-auth', sys.argv[1], sys.argv[2])", key, old.to_secret())

    def lock_then_answer(handler):
        session.lock_collection()  # `token` has read the old tokens; its write comes after this answer
        handler.send_json(200, json.dumps(ROTATED))

    endpoint.answer_with(lock_then_answer)
    env = {**session.env, **{name: None for name in session.unset}}

    result = cli("--registry", str(overlay), "token", "Stub", env=env)

    rescue = RescuedTokens(home, entry.id).path
    line = assert_error_line(result, ExitCode.STORAGE, "KeyringLocked", str(rescue), "integray-auth token Stub")
    assert "unexpected error" not in result.stderr
    assert not any(secret in line for secret in SECRETS)
    assert stat.S_IMODE(os.stat(rescue).st_mode) == 0o600

    session.unlock_collection()
    stored_json = _keyring(session, "print(keyring.get_password('integray-auth', sys.argv[1]))", key)
    assert json.loads(stored_json)["refresh_token"] == "old-refresh"  # the write never happened

    again = cli("--registry", str(overlay), "token", "Stub", env=env)

    assert again.code == 0, again.stderr
    assert again.stdout == "new-access\n"
    assert len(endpoint.requests) == 1  # moved back, not refreshed again
    assert not rescue.exists()
    stored_json = _keyring(session, "print(keyring.get_password('integray-auth', sys.argv[1]))", key)
    assert json.loads(stored_json)["refresh_token"] == "new-refresh"
