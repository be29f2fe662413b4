"""`token` reads the Secret Service itself (secret_service.py): the same
answer as keyring, none of keyring's imports, and keyring's path whenever
anything is unusual.

Through the installed command against the private GNOME Keyring the suite
starts, with the tokens stored by the code `add` uses (ChunkedTokens over
KeyringStore, i.e. keyring's SecretService backend)."""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integray_auth.errors import ExitCode
from integray_auth.lean import dbus_wire, secret_service
from integray_auth.lean import secret_service as secret_service_module  # where a fixture takes the name
from integray_auth.stores import lookup
from integray_auth.stores.index import Index
from integray_auth.usecases import manage

from .conftest import SCRIPT, Result, assert_error_line, assert_no_crash
from .support.fake_bus import FakeBus
from .support.keyring_session import KeyringSession
from .support.plugin import require

# keyring's path, and what it drags in; none of it may load on the direct one.
KEYRING_PATH = ("keyring", "secretstorage", "cryptography", "urllib.request", "jaraco")
SECRET_SERVICE = "keyring.backends.SecretService.Keyring"

STORE = """
import sys
from integray_auth.stores.secrets import ChunkedTokens, KeyringStore
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
            entry = lookup.find_in(authorizations, authorization.id)
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


def test_without_the_private_socket_module_the_public_one_reads_the_secret(authorized, secret_service, monkeypatch):
    import socket

    authorization_id = authorized("Public socket", "public-socket-token")
    expected = secret_service_module.SecretServiceReader(environ=_env(secret_service)).get(
        "integray-auth", f"authorization:{authorization_id}")
    monkeypatch.setitem(sys.modules, "_socket", None)  # `import _socket` fails, as where it is missing

    assert secret_service_module._sockets() is socket
    reader = secret_service_module.SecretServiceReader(environ=_env(secret_service))
    assert reader.get("integray-auth", f"authorization:{authorization_id}") == expected
    assert "public-socket-token" in expected


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

    def settimeout(self, seconds: float) -> None:
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
    body = dbus_wire._Writer()
    for part, arg in zip(dbus_wire._split(signature), args):
        body.write(part, arg)
    header = dbus_wire._Writer()
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
    message = dbus_wire.method_call(
        7, "/org/freedesktop/secrets", "org.freedesktop.Secret.Service", "SearchItems", "a{ss}",
        ({"service": "integray-auth", "username": "authorization:é"},), "org.freedesktop.secrets",
    )
    kind, fields, body = _reader_on(message)._read_message()

    assert kind == 1
    assert (fields[1], fields[3], fields[6], fields[8]) == (
        "/org/freedesktop/secrets", "SearchItems", "org.freedesktop.secrets", "a{ss}")
    assert body == ({"service": "integray-auth", "username": "authorization:é"},)


# --- A hostile or broken bus (issue 17, item 3): keyring's answer or a storage error, in bounded time.


def token_on_bus(name: str, env: dict, timeout: float = 60) -> tuple[subprocess.CompletedProcess, set[str]]:
    """token_with_imports under a 1 GiB address-space limit: a decoder that loops while it
    allocates ends in MemoryError instead of taking the machine; a hang fails the test."""
    import resource

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    try:
        done = subprocess.run(
            [sys.executable, "-X", "importtime", str(SCRIPT), "token", name],
            env=env, capture_output=True, text=True, timeout=timeout, preexec_fn=limit,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"`token {name}` did not end within {timeout:g} s", pytrace=False)
    modules = set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)$", done.stderr, re.M))
    done.stderr = "\n".join(line for line in done.stderr.splitlines() if not line.startswith("import time:"))
    return done, modules


def _storage_error(done: subprocess.CompletedProcess, *fragments: str) -> None:
    assert_error_line(Result(done.returncode, done.stdout, done.stderr), ExitCode.STORAGE, *fragments)


def test_a_bus_answering_an_array_of_empty_structs_is_a_storage_error_not_a_loop(authorized, secret_service, tmp_path):
    authorized("Structs", "structs-token")

    with FakeBus(tmp_path / "bus", "empty-structs") as bus:
        done, modules = token_on_bus("Structs", _env(secret_service, DBUS_SESSION_BUS_ADDRESS=bus.address))

    # Not keyring's path either: jeepney loops on `a()` exactly as the old decoder did.
    _storage_error(done, "cannot read from the keyring", "malformed message", "empty D-Bus struct")
    assert "keyring" not in modules


def test_a_bus_that_trickles_its_answer_is_given_up_at_the_deadline(authorized, secret_service, tmp_path):
    authorized("Trickle", "trickle-token")

    with FakeBus(tmp_path / "bus", "trickle") as bus:  # a byte a second: each recv alone would be in time
        done, modules = token_on_bus("Trickle", _env(secret_service, DBUS_SESSION_BUS_ADDRESS=bus.address))

    _storage_error(done, "cannot read from the keyring", f"no complete answer within {secret_service_module._TIMEOUT:g} s")
    assert "keyring" not in modules  # which would wait on the same bus with no deadline at all


def test_a_malformed_bus_address_is_left_to_keyring(authorized, secret_service):
    authorized("BadAddress", "bad-address-token")

    done, modules = token_on_bus("BadAddress", _env(secret_service, DBUS_SESSION_BUS_ADDRESS="unix:path=/tmp/x%zz"))

    _storage_error(done, "keyring")
    assert "keyring" in modules


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="listening as another user needs root")
def test_a_bus_run_by_another_user_gets_keyrings_path(authorized, secret_service, tmp_path):
    authorized("Foreign", "foreign-token")
    upstream = secret_service.env["DBUS_SESSION_BUS_ADDRESS"].removeprefix("unix:path=")

    # The real bus behind a socket that SO_PEERCRED says is nobody's (uid 65534).
    with FakeBus(tmp_path / "bus", "proxy", upstream=upstream, as_uid=65534) as bus:
        done, modules = token_on_bus("Foreign", _env(secret_service, DBUS_SESSION_BUS_ADDRESS=bus.address))

    assert (done.returncode, done.stdout) == (0, "foreign-token\n"), done.stderr
    assert "keyring" in modules  # the plain session is only for a bus of our own


def test_the_shortcut_reads_only_from_a_bus_run_by_this_user(tmp_path):
    """SO_PEERCRED, with the uid we expect injected: a bus of another user gets not one byte."""
    import socket
    import threading

    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(tmp_path / "bus"))
    server.listen(1)
    received = []

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.settimeout(10)
            received.append(conn.recv(65536))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    reader = secret_service_module.SecretServiceReader(
        environ={"DBUS_SESSION_BUS_ADDRESS": f"unix:path={tmp_path / 'bus'}"}, uid=os.getuid() + 1)

    with pytest.raises(secret_service_module.Unavailable, match="run by uid") as raised:
        reader.get("integray-auth", "authorization:x")

    thread.join(10)
    server.close()
    assert not isinstance(raised.value, secret_service_module.BrokenBus)  # keyring's path, as for any other bus
    assert received == [b""]


@pytest.mark.parametrize(
    ("address", "socket"),
    [
        ("unix:path=/tmp/x%zz", None),
        ("unix:path=/tmp/x%4", None),
        ("unix:path=/tmp/x%+1", None),
        ("unix:abstract=x% 1", None),
        ("unix:path=/tmp/x%zz;unix:path=/b", None),  # the first unix entry decides, as for keyring
        ("unix:path=/tmp/%c3%a9", "/tmp/é"),  # escapes are bytes
    ],
)
def test_a_malformed_address_means_no_shortcut(address, socket):
    assert secret_service._socket_address(address) == socket


def _header(body_length: int, fields_length: int = 0) -> bytes:
    return struct.pack("<cBBBIII", b"l", 2, 1, 1, body_length, 1, fields_length)


@pytest.mark.parametrize(
    ("data", "broken"),
    [
        (_header(200 << 20), True),  # past the specification's 128 MiB
        (_header(0, 65 << 20), True),  # a header-field array past its 64 MiB
        (_header(32 << 20), False),  # valid, but no secret is that large: keyring may read it
        (b"x" + _header(0)[1:], True),
    ],
)
def test_the_size_of_a_message_is_checked_before_it_is_read(data, broken):
    with pytest.raises(secret_service.Unavailable) as raised:
        _reader_on(data).get("integray-auth", "authorization:x")
    assert isinstance(raised.value, secret_service.BrokenBus) == broken


def _nest(value, depth: int):
    for _ in range(depth):
        value = (value,)
    return value


@pytest.mark.parametrize(
    ("signature", "data", "value"),
    [
        ("a" * 32 + "y", struct.pack("<I", 0), ([],)),
        ("a" * 33 + "y", struct.pack("<I", 0), None),
        ("(" * 32 + "y" + ")" * 32, b"\x07", (_nest(7, 32),)),
        ("(" * 33 + "y" + ")" * 33, b"\x07", None),
        ("a()", struct.pack("<I", 8) + bytes(12), None),
        ("a{vs}", struct.pack("<I", 0), None),  # a key must be a basic type
        ("a{sss}", struct.pack("<I", 0), None),
        ("ay", struct.pack("<I", (64 << 20) + 1), None),
        ("ay", struct.pack("<I", 5) + b"abc", None),  # longer than what was received
        ("ai", struct.pack("<II", 2, 7), None),  # an element past the array's end
        ("s", struct.pack("<I", 1) + b"ab", None),  # no NUL where the length says
        ("s", struct.pack("<I", 1) + b"\xff\0", None),
        ("b", struct.pack("<I", 2), None),
        ("y", b"\x01\x02", None),  # bytes after the values
        ("(y", b"\x01", None),
        ("", b"", ()),
        ("ss", struct.pack("<I", 1) + b"a\0" + b"\0\0" + struct.pack("<I", 0) + b"\0", ("a", "")),
    ],
)
def test_the_decoder_keeps_the_specifications_limits(signature, data, value):
    if value is None:
        with pytest.raises(secret_service.MalformedMessage):
            secret_service.decode(data, "<", 0, signature)
    else:
        assert secret_service.decode(data, "<", 0, signature) == value


def test_variants_nest_no_deeper_than_the_specification_allows():
    def nested(depth: int) -> bytes:
        # v holding v holding ... a byte; each variant's signature is written at its own offset.
        out = b""
        for _ in range(depth):
            out += b"\x01v\0"
        return out + b"\x01y\0\x2a"

    assert secret_service.decode(nested(31), "<", 0, "v")[0][0] == "v"
    with pytest.raises(secret_service.MalformedMessage, match="nested too deeply"):
        secret_service.decode(nested(40), "<", 0, "v")


_SIGNATURE_CHARS = "ybnqiuxtdhsogva(){}"
_basic = st.sampled_from("ybnqiuxtdhsog")  # the basic types
_types = st.recursive(
    _basic | st.just("v"),
    lambda inner: (
        inner.map(lambda t: "a" + t)
        | st.lists(inner, min_size=1, max_size=4).map(lambda ts: "(" + "".join(ts) + ")")
        | st.tuples(_basic, inner).map(lambda kv: "a{" + kv[0] + kv[1] + "}")
    ),
    max_leaves=12,
)


_FIXED_VALUES = {
    "y": st.integers(0, 255), "b": st.integers(0, 1), "n": st.integers(-(1 << 15), (1 << 15) - 1),
    "q": st.integers(0, (1 << 16) - 1), "i": st.integers(-(1 << 31), (1 << 31) - 1), "u": st.integers(0, (1 << 32) - 1),
    "h": st.integers(0, (1 << 32) - 1), "x": st.integers(-(1 << 63), (1 << 63) - 1), "t": st.integers(0, (1 << 64) - 1),
    "d": st.floats(allow_nan=False),
}
_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=8)


def _value_of(signature: str):
    """Values of one complete type, as the decoder gives them back."""
    char = signature[0]
    if char in _FIXED_VALUES:
        return _FIXED_VALUES[char]
    if char in "so":
        return _TEXT
    if char == "g":
        return st.sampled_from(["", "s", "a{sv}", "(iay)"])
    if char == "v":
        return st.sampled_from(["s", "u", "ai", "(yd)", "v"]).flatmap(lambda inner: st.tuples(st.just(inner), _value_of(inner)))
    if signature == "ay":
        return st.binary(max_size=8)
    if char == "a":
        element = signature[1:]
        if element[0] == "{":
            key, value = dbus_wire._split(element[1:-1])
            return st.dictionaries(_value_of(key), _value_of(value), max_size=3)
        return st.lists(_value_of(element), max_size=3)
    return st.tuples(*(_value_of(part) for part in dbus_wire._split(signature[1:-1])))


class _Hang(Exception):
    pass


def _bounded(call):
    """call() under an alarm: a decoder that loops fails the example instead of hanging the run."""
    import signal

    def alarm(*_args):
        raise _Hang("the decoder did not return within 10 s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(10)
    try:
        return call()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@settings(max_examples=400, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(_SIGNATURE_CHARS, max_size=40), st.lists(_types, max_size=3).map("".join)),
       st.binary(max_size=600), st.sampled_from("<>"))
def test_the_decoder_gives_a_value_or_its_documented_error_for_any_bytes_and_signature(signature, data, endian):
    try:
        values = _bounded(lambda: secret_service.decode(data, endian, 0, signature))
    except secret_service.MalformedMessage:
        return
    assert isinstance(values, tuple)
    assert len(values) == len(dbus_wire._split(signature))


@settings(max_examples=200, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_types, min_size=1, max_size=3).map("".join), st.data())
def test_values_the_encoder_writes_come_back_from_the_decoder(signature, data):
    """The other half of the property: the decoder is strict, not wrong - valid bytes decode."""
    values = tuple(data.draw(_value_of(t)) for t in dbus_wire._split(signature))
    writer = dbus_wire._Writer()
    for part, value in zip(dbus_wire._split(signature), values):
        writer.write(part, value)

    assert _bounded(lambda: secret_service.decode(bytes(writer.data), "<", 0, signature)) == values
