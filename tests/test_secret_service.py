"""`token` reads the Secret Service itself (secret_service.py): the same
answer as keyring, none of keyring's imports, and keyring's path whenever
anything is unusual.

Through the installed command against the private GNOME Keyring the suite
starts, with the tokens stored by the code `add` uses (ChunkedTokens over
KeyringStore, i.e. keyring's SecretService backend)."""

from __future__ import annotations

import re
import struct
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integray_auth import secret_service
from integray_auth.errors import ExitCode
from integray_auth.index import Index
from integray_auth.usecases import manage

from .conftest import SCRIPT, assert_error_line, assert_no_crash
from .support.keyring_session import KeyringSession
from .support.plugin import require

# keyring's path, and what it drags in; none of it may load on the direct one.
KEYRING_PATH = ("keyring", "secretstorage", "cryptography", "urllib.request", "jaraco")
SECRET_SERVICE = "keyring.backends.SecretService.Keyring"

STORE = """
import sys
from integray_auth.secret_store import ChunkedTokens, KeyringStore
from integray_auth.tokens import TokenSet
store = KeyringStore()
ChunkedTokens(store).save(sys.argv[1], TokenSet(access_token=sys.argv[2], expires_at="2099-01-01T00:00:00Z"))
print(store.describe())
"""


def _env(session: KeyringSession, **extra) -> dict:
    env = session.subprocess_env()
    env.update(extra)
    return env


@pytest.fixture
def authorized(make_ctx, home, secret_service):
    """authorize(name, access_token): an authorization whose tokens the real Secret Service holds."""
    ctx = make_ctx()

    def authorize(name: str, access_token: str, session: KeyringSession = secret_service) -> str:
        authorization = manage.new_authorization(ctx, name, "reservanto", ["list-locations"])
        manage.save_new(ctx, authorization)
        backend = subprocess.run(
            [sys.executable, "-c", STORE, authorization.id, access_token],
            env=_env(session), capture_output=True, text=True, timeout=60, check=True,
        ).stdout.strip()
        assert backend == SECRET_SERVICE  # what `add` records, found by keyring's own discovery
        with Index(home / "index.json", home / "index.lock").transaction() as authorizations:
            entry = manage.find_in(authorizations, authorization.id)
            entry.status, entry.storage, entry.keyring_backend = "authorized", "keyring", backend
            entry.expires_at = "2099-01-01T00:00:00Z"
        return authorization.id

    return authorize


def token_with_imports(name: str, env: dict) -> tuple[subprocess.CompletedProcess, set[str]]:
    """The installed command under -X importtime: its result and every module it imported."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", str(SCRIPT), "token", name],
        env=env, capture_output=True, text=True, timeout=60,
    )
    modules = set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)$", done.stderr, re.M))
    assert "integray_auth.main" in modules  # the probe sees the command's imports
    done.stderr = "\n".join(line for line in done.stderr.splitlines() if not line.startswith("import time:"))
    return done, modules


def test_token_from_the_secret_service_imports_no_part_of_keyrings_path(authorized, secret_service):
    authorized("Direct", "direct-token")

    done, modules = token_with_imports("Direct", _env(secret_service))

    assert (done.returncode, done.stdout) == (0, "direct-token\n"), done.stderr
    assert_no_crash(done.stderr)
    assert sorted(m for m in modules if m.split(".")[0] in KEYRING_PATH or m in KEYRING_PATH) == []


def test_chunked_tokens_come_back_whole_without_keyring(authorized, secret_service):
    # Three chunks and a manifest, with characters JSON escapes (a token is printable ASCII: RFC 6749).
    big = "j" * 2600 + '"\\' + "w" * 1400
    authorized("Chunked", big)

    done, modules = token_with_imports("Chunked", _env(secret_service))

    assert (done.returncode, done.stdout) == (0, big + "\n"), done.stderr
    assert "keyring" not in modules and "cryptography" not in modules


def test_a_keyring_choice_of_the_user_sends_the_read_through_keyring(authorized, secret_service, tmp_path):
    authorized("Chosen", "chosen-token")
    config = tmp_path / "config"
    (config / "python_keyring").mkdir(parents=True)
    (config / "python_keyring" / "keyringrc.cfg").write_text(f"[backend]\ndefault-keyring={SECRET_SERVICE}\n")

    for env in (_env(secret_service, PYTHON_KEYRING_BACKEND=SECRET_SERVICE), _env(secret_service, XDG_CONFIG_HOME=str(config))):
        done, modules = token_with_imports("Chosen", env)

        assert (done.returncode, done.stdout) == (0, "chosen-token\n"), done.stderr
        assert "keyring" in modules  # keyring honours it; we do not second-guess


def test_a_missing_item_is_keyrings_answer(authorized, secret_service, cli):
    authorization_id = authorized("Gone", "gone-token")
    subprocess.run(
        [sys.executable, "-c", "import keyring, sys; keyring.delete_password('integray-auth', sys.argv[1])",
         f"authorization:{authorization_id}"],
        env=_env(secret_service), check=True, timeout=60,
    )
    env = {**secret_service.env, **{name: None for name in secret_service.unset}}

    result = cli("token", "Gone", env=env)

    assert_error_line(result, ExitCode.NOT_AUTHORIZED, "missing from the keyring (keyring.backends.SecretService.Keyring)")


@pytest.fixture
def own_secret_service():
    for tool, package in (("dbus-daemon", "dbus"), ("dbus-send", "dbus"), ("gnome-keyring-daemon", "gnome-keyring")):
        require(tool, f"{tool} is not installed (apt-get install {package})")
    with KeyringSession() as session:
        yield session


def test_a_locked_collection_is_left_to_keyring_which_says_so(authorized, own_secret_service, cli):
    authorized("Locked", "locked-token", session=own_secret_service)
    own_secret_service.lock_collection()
    env = {**own_secret_service.env, **{name: None for name in own_secret_service.unset}}

    result = cli("token", "Locked", env=env)

    # keyring tried to unlock (a prompt nobody can answer headless) and said why.
    assert_error_line(result, ExitCode.STORAGE, "KeyringLocked")

    own_secret_service.unlock_collection()
    again = cli("token", "Locked", env=env)
    assert (again.code, again.stdout) == (0, "locked-token\n"), again.stderr


def test_no_session_bus_is_keyrings_error_too(authorized, secret_service, cli):
    authorized("NoBus", "nobus-token")
    env = {**secret_service.env, **{name: None for name in secret_service.unset}}
    env["DBUS_SESSION_BUS_ADDRESS"] = "unix:path=/nonexistent/bus"

    result = cli("token", "NoBus", env=env)

    assert_error_line(result, ExitCode.STORAGE, "keyring")


@pytest.mark.parametrize(
    ("address", "socket"),
    [
        ("unix:path=/run/user/1000/bus", "/run/user/1000/bus"),
        ("unix:path=/tmp/a%2cb,guid=0123", "/tmp/a,b"),
        ("unix:abstract=/tmp/dbus-x,guid=1", "\0/tmp/dbus-x"),
        ("tcp:host=example.org,port=1;unix:path=/b", "/b"),
        ("tcp:host=127.0.0.1,port=4000", None),  # plain only over a local socket
        ("", None),
        ("unix:tmpdir=/tmp", None),
    ],
)
def test_only_a_local_socket_carries_a_plain_session(address, socket):
    assert secret_service._socket_address(address) == socket


def test_the_shortcut_applies_only_where_keyring_would_read_the_secret_service(tmp_path):
    env = {"DBUS_SESSION_BUS_ADDRESS": "unix:path=/x", "XDG_CONFIG_HOME": str(tmp_path)}
    import keyring.core

    saved, keyring.core._keyring_backend = keyring.core._keyring_backend, None
    try:
        assert secret_service.applicable(SECRET_SERVICE, env)
        assert not secret_service.applicable("keyring.backends.kwallet.DBusKeyring", env)
        assert not secret_service.applicable(None, env)
        assert not secret_service.applicable(SECRET_SERVICE, {**env, "PYTHON_KEYRING_BACKEND": SECRET_SERVICE})
        assert not secret_service.applicable(SECRET_SERVICE, {**env, "DBUS_SESSION_BUS_ADDRESS": "tcp:host=h,port=1"})
    finally:
        keyring.core._keyring_backend = saved
    assert not secret_service.applicable(SECRET_SERVICE, env)  # a backend set in this process (the tests' memory one)


class _Replay:
    """A socket that answers with canned bytes."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def recv(self, size: int) -> bytes:
        chunk, self.data = self.data[:size], self.data[size:]
        return chunk

    def sendall(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


def _reader_on(data: bytes) -> secret_service.SecretServiceReader:
    reader = secret_service.SecretServiceReader(environ={})
    reader._socket = _Replay(data)
    reader._session, reader._collection = "/org/freedesktop/secrets/session/s1", "/org/freedesktop/secrets/collection/login/"
    return reader


def _reply(serial: int, signature: str, *args) -> bytes:
    """A method return as the bus sends it."""
    body = secret_service._Writer()
    for part, arg in zip(secret_service._split(signature), args):
        body.write(part, arg)
    header = secret_service._Writer()
    header.data += struct.pack("<cBBBII", b"l", 2, 1, 1, len(body.data), 1000 + serial)
    header.write("a(yv)", [(5, ("u", serial)), (8, ("g", signature))])
    header.align(8)
    return bytes(header.data + body.data)


ITEM = "/org/freedesktop/secrets/collection/login/1"
SESSION = "/org/freedesktop/secrets/session/s1"
ANSWERS = _reply(1, "aoao", [ITEM], []) + _reply(2, "a{o(oayays)}", {ITEM: (SESSION, b"", "the-sécret".encode(), "text/plain")})


def test_a_canned_conversation_gives_the_secret():
    assert _reader_on(ANSWERS).get("integray-auth", "authorization:x") == "the-sécret"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(ANSWERS) - 1), st.integers(0, 255)), min_size=1, max_size=6),
       st.integers(0, len(ANSWERS)))
def test_any_answer_from_the_bus_is_a_secret_or_unavailable(flips, cut):
    """Bytes changed or cut anywhere: a string or Unavailable (then keyring reads), never another exception."""
    data = bytearray(ANSWERS)
    for position, value in flips:
        data[position] = value
    try:
        value = _reader_on(bytes(data[:cut])).get("integray-auth", "authorization:x")
    except secret_service.Unavailable:
        return
    assert isinstance(value, str)


def test_a_message_round_trips_through_the_wire_format():
    message = secret_service._method_call(
        7, "/org/freedesktop/secrets", "org.freedesktop.Secret.Service", "SearchItems", "a{ss}",
        ({"service": "integray-auth", "username": "authorization:é"},), "org.freedesktop.secrets",
    )
    kind, fields, body = _reader_on(message)._read_message()

    assert kind == 1
    assert (fields[1], fields[3], fields[6], fields[8]) == (
        "/org/freedesktop/secrets", "SearchItems", "org.freedesktop.secrets", "a{ss}")
    assert body == ({"service": "integray-auth", "username": "authorization:é"},)
