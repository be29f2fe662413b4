"""Read a secret from the freedesktop Secret Service without importing keyring.

`token` runs in loops, and on Linux keyring's own path costs about 11x
`python -c pass` before the first byte is read: `import keyring` (~40 ms:
jaraco.context pulls in urllib.request, http, email, ssl), its SecretService
backend, secretstorage + cryptography, a pure-Python Diffie-Hellman session
and about 11 D-Bus round trips. This module is the read side only, in the
stdlib's C modules (`_socket` behind `_sockets()`, `struct`): the D-Bus wire format for the five
calls it makes (dbus_wire.py), two round trips for a token that fits one entry.

It reads exactly what keyring's SecretService backend would return: the
default collection (keyring's `get_preferred_collection()`), the item whose
attributes are keyring's `service` and `username` (`set_password` adds
`application`, which keyring's own lookups do not match on either). Anything
else - no session bus, a bus that is not a local socket, a locked collection
or item (keyring unlocks, which may prompt), no item or two of them, a reply
we do not understand, a bus run by another user - raises `Unavailable`, and
the caller takes keyring's path, which succeeds, prompts or fails with its own
error. So this can only make a read faster, never answer differently.

A bus that breaks the wire format or gives no complete answer within
`_TIMEOUT` raises `BrokenBus` instead, which the caller reports as a storage
error: keyring's path (jeepney) would parse the same bytes without these
checks - an array of empty structs loops there as it did here - and waits for
an answer with no deadline at all.

The transfer session is `plain`, as gh's go-keyring uses: the secret crosses
the user's own session-bus socket unencrypted. The DH session would protect
it only from processes that can read that bus, which run as the same user and
can ask the Secret Service for the secret themselves; it costs `cryptography`
(~5 ms to import) plus the exchange. That holds only for a socket the user's
own bus daemon listens on, so SO_PEERCRED must name this uid; a bus address
that is not a local unix socket, or a socket of another user (or a platform
that cannot tell), is never used in plain: keyring's DH path is taken.
docs/performance.md has the measurements.
"""

from __future__ import annotations

import os
import struct
import time  # built in: nothing to load

# The wire format is dbus_wire.py's; its errors are this reader's too.
from .dbus_wire import (
    FIELD_TYPES,
    MAX_ARRAY,
    MAX_MESSAGE,
    BrokenBus,
    MalformedMessage,
    Unavailable,
    decode,
    method_call,
    pad,
)

# keyring's records, and who answers for them.
SECRET_SERVICE_BACKEND = "keyring.backends.SecretService.Keyring"
_BUS = "org.freedesktop.secrets"
_SERVICE_PATH = "/org/freedesktop/secrets"
_SERVICE_IFACE = "org.freedesktop.Secret.Service"
_TIMEOUT = 5.0  # seconds for one exchange (connect, calls, replies), whatever the bus trickles
# A reply carrying secrets is far below these; a larger one is left to keyring.
_MAX_BODY, _MAX_FIELDS = 1 << 24, 1 << 16


def applicable(backend: str | None, environ=os.environ) -> bool:
    """Whether keyring itself would read this backend's entry from the session bus.

    keyring honours PYTHON_KEYRING_BACKEND and keyringrc.cfg over the backend
    recorded in the index (secret_store._choose_backend), and a backend set in
    this process (tests, embedders) over both: any of them, and keyring reads.
    """
    if backend != SECRET_SERVICE_BACKEND or "PYTHON_KEYRING_BACKEND" in environ:
        return False
    import sys

    core = sys.modules.get("keyring.core")
    if core is not None and getattr(core, "_keyring_backend", None) is not None:
        return False
    config_home = environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    if os.path.exists(os.path.join(config_home, "python_keyring", "keyringrc.cfg")):
        return False
    return _socket_address(environ.get("DBUS_SESSION_BUS_ADDRESS", "")) is not None


def _sockets():
    """CPython's `_socket`, the C half of `socket`: undocumented, so only a first try.

    `import socket` costs about 11 ms (it builds its enums), `_socket` about 0.5 ms, out of
    `token`'s ~20 ms. Where `_socket` is missing or lacks a name used here, the public module
    answers (tests/test_secret_service.py forces that)."""
    try:
        import _socket as module

        module.socket, module.AF_UNIX, module.SOCK_STREAM, module.SOL_SOCKET  # noqa: B018 - what we use
    except Exception:  # noqa: BLE001 - any failure: the public module
        import socket as module
    return module


def _socket_address(address: str) -> str | None:
    """The first local unix socket of a D-Bus address list (abstract ones start with NUL),
    or None, also when that entry is not a valid address: keyring's path then decides."""
    for entry in address.split(";"):
        transport, _, options = entry.partition(":")
        if transport != "unix":
            continue
        values = dict(part.partition("=")[::2] for part in options.split(",") if part)
        for key, prefix in (("path", ""), ("abstract", "\0")):
            if values.get(key):
                value = _unescape(values[key])
                return None if value is None else prefix + value
    return None


_HEX = frozenset("0123456789abcdefABCDEF")


def _unescape(value: str) -> str | None:
    """A D-Bus address value with its %XX escapes (bytes) decoded, or None if one is broken."""
    if "%" not in value:
        return value
    parts = value.split("%")
    out = bytearray(parts[0].encode())
    for part in parts[1:]:
        if len(part) < 2 or not _HEX.issuperset(part[:2]):
            return None
        out.append(int(part[:2], 16))
        out += part[2:].encode()
    return os.fsdecode(bytes(out))


class SecretServiceReader:
    """One connection and one plain session, for the reads of one command."""

    def __init__(self, environ=os.environ, uid: int | None = None) -> None:
        self._environ = environ
        self._uid = os.getuid() if uid is None else uid  # who the bus must be run by
        self._socket = None
        self._serial = 0
        self._buffer = b""
        self._prefix = b""
        self._deadline = time.monotonic() + _TIMEOUT  # and again at each get_many
        self._session = self._collection = None

    def get(self, service: str, username: str) -> str:
        return self.get_many(service, [username])[0]

    def get_many(self, service: str, usernames: list[str]) -> list[str]:
        """The secrets of these entries, in two round trips whatever their number."""
        # One deadline for the whole exchange: a timeout per recv would let a bus
        # that sends a byte every few seconds hold the command for ever.
        self._deadline = time.monotonic() + _TIMEOUT
        try:
            return self._get_many(service, usernames)
        except MalformedMessage as exc:
            self.close()
            raise BrokenBus(f"the session bus (DBUS_SESSION_BUS_ADDRESS) sent a malformed message: {exc}") from None
        except Unavailable:
            self.close()
            raise
        except TimeoutError:
            self.close()
            raise BrokenBus(
                f"the session bus (DBUS_SESSION_BUS_ADDRESS) gave no complete answer within {_TIMEOUT:g} s"
            ) from None
        except (OSError, ValueError, IndexError, KeyError, TypeError, struct.error, UnicodeDecodeError) as exc:
            self.close()
            raise Unavailable(f"{type(exc).__name__}: {exc}") from None

    def close(self) -> None:
        if self._socket is not None:
            try:
                self._socket.close()
            except OSError:
                pass
            self._socket = None

    def _get_many(self, service: str, usernames: list[str]) -> list[str]:
        calls = []
        if self._socket is None:
            self._connect()
            calls += [
                ("/org/freedesktop/DBus", "org.freedesktop.DBus", "Hello", "", (), "s", "org.freedesktop.DBus"),
                (_SERVICE_PATH, _SERVICE_IFACE, "OpenSession", "sv", ("plain", ("s", "")), "vo"),
                (_SERVICE_PATH, _SERVICE_IFACE, "ReadAlias", "s", ("default",), "o"),
            ]
        first = len(calls)
        calls += [
            (_SERVICE_PATH, _SERVICE_IFACE, "SearchItems", "a{ss}", ({"service": service, "username": name},), "aoao")
            for name in usernames
        ]
        replies = self._call(calls)
        if first:
            (_algorithm, _output), self._session = replies[1]
            (collection,) = replies[2]
            if collection == "/":
                raise Unavailable("no default collection")
            self._collection = collection + "/"
        items = []
        for unlocked, locked in replies[first:]:
            mine = [path for path in unlocked if path.startswith(self._collection)]
            if len(mine) != 1 or any(path.startswith(self._collection) for path in locked):
                raise Unavailable("not exactly one unlocked item in the default collection")
            items.append(mine[0])
        get_secrets = (_SERVICE_PATH, _SERVICE_IFACE, "GetSecrets", "aoo", (items, self._session), "a{o(oayays)}")
        ((secrets,),) = self._call([get_secrets])
        values = []
        for item in items:
            session, _parameters, value, _content_type = secrets[item]
            if session != self._session:
                raise Unavailable("a secret of another session")
            values.append(value.decode("utf-8"))
        return values

    def _connect(self) -> None:
        _socket = _sockets()
        path = _socket_address(self._environ.get("DBUS_SESSION_BUS_ADDRESS", ""))
        if path is None:
            raise Unavailable("no local session bus")
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        self._socket = sock
        self._wait()
        sock.connect(path)
        self._check_peer(sock)
        # SASL EXTERNAL (the bus checks our uid with SO_PEERCRED) and BEGIN go out
        # with the first calls in one write, as sd-bus does: the bus answers them
        # in order, and a refusal only means keyring's path.
        uid = str(self._uid).encode().hex().encode()
        self._prefix = b"\0AUTH EXTERNAL " + uid + b"\r\nBEGIN\r\n"

    def _check_peer(self, sock) -> None:
        """The plain session is sound only on a bus run by this user (see the module
        docstring): another user's socket, or one we cannot ask, gets keyring's DH path."""
        _socket = _sockets()
        option = getattr(_socket, "SO_PEERCRED", None)  # Linux; the BSDs and macOS lack it
        if option is None:
            raise Unavailable("no SO_PEERCRED to tell who runs the session bus")
        _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(_socket.SOL_SOCKET, option, struct.calcsize("3i")))
        if uid != self._uid:
            raise Unavailable(f"the session bus is run by uid {uid}, not by this user ({self._uid})")

    def _wait(self) -> None:
        """Let the next socket operation take only what is left of the deadline."""
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        self._socket.settimeout(left)

    def _read_line(self) -> bytes:
        while b"\r\n" not in self._buffer:
            if len(self._buffer) > 16384:  # "OK <guid>" is 35 bytes
                raise MalformedMessage("an endless authentication line")
            self._receive(4096)
        line, _, self._buffer = self._buffer.partition(b"\r\n")
        return line

    def _receive(self, size: int) -> None:
        self._wait()
        chunk = self._socket.recv(size)
        if not chunk:
            raise Unavailable("the bus closed the connection")
        self._buffer += chunk

    def _call(self, calls) -> list[tuple]:
        """Send every call in one write, then read until each has its reply."""
        serials = {}
        data = []
        for index, (path, interface, member, signature, args, reply, *destination) in enumerate(calls):
            self._serial += 1
            serials[self._serial] = index, reply
            data.append(method_call(self._serial, path, interface, member, signature, args,
                                     destination[0] if destination else _BUS))
        self._wait()
        self._socket.sendall(self._prefix + b"".join(data))
        if self._prefix:
            self._prefix = b""
            if not self._read_line().startswith(b"OK "):
                raise Unavailable("the bus refused EXTERNAL authentication")
        replies: list = [None] * len(calls)
        pending = len(calls)
        while pending:
            kind, fields, body = self._read_message()
            index, reply = serials.pop(fields.get(5), (None, None))  # REPLY_SERIAL
            if index is None:
                continue  # a signal (NameAcquired), or not ours
            if kind == 3:  # ERROR
                raise Unavailable(f"the Secret Service answered {fields.get(4, 'an error')}")
            if kind != 2:
                raise Unavailable("an unexpected message type")
            if fields.get(8, "") != reply:
                raise Unavailable(f"a reply of signature {fields.get(8, '')!r}, not {reply!r}")
            replies[index] = body
            pending -= 1
        return replies

    def _read_message(self) -> tuple[int, dict, tuple]:
        head = self._read_exactly(16)
        endian = {b"l"[0]: "<", b"B"[0]: ">"}.get(head[0])
        if endian is None or head[3] != 1:
            raise MalformedMessage("not a D-Bus message")
        kind = head[1]
        body_length, _serial, fields_length = struct.unpack(endian + "III", head[4:16])
        body_start = pad(16 + fields_length, 8)
        if fields_length > MAX_ARRAY or body_start + body_length > MAX_MESSAGE:
            raise MalformedMessage("a D-Bus message larger than the specification allows")
        if body_length > _MAX_BODY or fields_length > _MAX_FIELDS:
            raise Unavailable("a D-Bus message too large for a secret")
        message = head + self._read_exactly(body_start - 16 + body_length)
        fields = {}
        for code, (signature, value) in decode(message[:16 + fields_length], endian, 12, "a(yv)")[0]:
            if FIELD_TYPES.get(code, signature) != signature:
                raise MalformedMessage(f"header field {code} of type {signature!r}")
            fields[code] = value
        return kind, fields, decode(message[body_start:], endian, 0, fields.get(8, ""))

    def _read_exactly(self, count: int) -> bytes:
        while len(self._buffer) < count:
            self._receive(max(65536, count - len(self._buffer)))
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data
