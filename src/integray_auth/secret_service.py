"""Read a secret from the freedesktop Secret Service without importing keyring.

`token` runs in loops, and on Linux keyring's own path costs about 11x
`python -c pass` before the first byte is read: `import keyring` (~40 ms:
jaraco.context pulls in urllib.request, http, email, ssl), its SecretService
backend, secretstorage + cryptography, a pure-Python Diffie-Hellman session
and about 11 D-Bus round trips. This module is the read side only, in the
stdlib's C modules (`_socket`, `struct`): the D-Bus wire format for the five
calls it makes, two round trips for a token that fits one entry.

It reads exactly what keyring's SecretService backend would return: the
default collection (keyring's `get_preferred_collection()`), the item whose
attributes are keyring's `service` and `username` (`set_password` adds
`application`, which keyring's own lookups do not match on either). Anything
else - no session bus, a bus that is not a local socket, a locked collection
or item (keyring unlocks, which may prompt), no item or two of them, a reply
we do not understand - raises `Unavailable`, and the caller takes keyring's
path, which succeeds, prompts or fails with its own error. So this can only
make a read faster, never answer differently.

The transfer session is `plain`, as gh's go-keyring uses: the secret crosses
the user's own session-bus socket unencrypted. The DH session would protect
it only from processes that can read that bus, which run as the same user and
can ask the Secret Service for the secret themselves; it costs `cryptography`
(~5 ms to import) plus the exchange. A bus address that is not a local unix
socket is never used in plain (keyring's DH path is taken). docs/performance.md
has the measurements.
"""

from __future__ import annotations

import os
import struct

# keyring's records, and who answers for them.
SECRET_SERVICE_BACKEND = "keyring.backends.SecretService.Keyring"
_BUS = "org.freedesktop.secrets"
_SERVICE_PATH = "/org/freedesktop/secrets"
_SERVICE_IFACE = "org.freedesktop.Secret.Service"
_TIMEOUT = 5.0  # seconds for the whole exchange; a wedged daemon sends us to keyring's path


class Unavailable(Exception):
    """This path cannot answer; keyring's can (or will explain why not)."""


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

    def __init__(self, environ=os.environ) -> None:
        self._environ = environ
        self._socket = None
        self._serial = 0
        self._buffer = b""
        self._prefix = b""
        self._session = self._collection = None

    def get(self, service: str, username: str) -> str:
        return self.get_many(service, [username])[0]

    def get_many(self, service: str, usernames: list[str]) -> list[str]:
        """The secrets of these entries, in two round trips whatever their number."""
        try:
            return self._get_many(service, usernames)
        except Unavailable:
            self.close()
            raise
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
                ("/org/freedesktop/DBus", "org.freedesktop.DBus", "Hello", "", (), "org.freedesktop.DBus"),
                (_SERVICE_PATH, _SERVICE_IFACE, "OpenSession", "sv", ("plain", ("s", ""))),
                (_SERVICE_PATH, _SERVICE_IFACE, "ReadAlias", "s", ("default",)),
            ]
        first = len(calls)
        calls += [
            (_SERVICE_PATH, _SERVICE_IFACE, "SearchItems", "a{ss}", ({"service": service, "username": name},))
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
        ((secrets,),) = self._call([(_SERVICE_PATH, _SERVICE_IFACE, "GetSecrets", "aoo", (items, self._session))])
        values = []
        for item in items:
            session, _parameters, value, _content_type = secrets[item]
            if session != self._session:
                raise Unavailable("a secret of another session")
            values.append(bytes(value).decode("utf-8"))
        return values

    def _connect(self) -> None:
        import _socket

        path = _socket_address(self._environ.get("DBUS_SESSION_BUS_ADDRESS", ""))
        if path is None:
            raise Unavailable("no local session bus")
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        self._socket = sock
        sock.settimeout(_TIMEOUT)
        sock.connect(path)
        # SASL EXTERNAL (the bus checks our uid with SO_PEERCRED) and BEGIN go out
        # with the first calls in one write, as sd-bus does: the bus answers them
        # in order, and a refusal only means keyring's path.
        uid = str(os.getuid()).encode().hex().encode()
        self._prefix = b"\0AUTH EXTERNAL " + uid + b"\r\nBEGIN\r\n"

    def _read_line(self) -> bytes:
        while b"\r\n" not in self._buffer:
            chunk = self._socket.recv(4096)
            if not chunk:
                raise Unavailable("the bus closed the connection")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\r\n")
        return line

    def _call(self, calls) -> list[tuple]:
        """Send every call in one write, then read until each has its reply."""
        serials = {}
        data = []
        for index, (path, interface, member, signature, args, *destination) in enumerate(calls):
            self._serial += 1
            serials[self._serial] = index
            data.append(_method_call(self._serial, path, interface, member, signature, args,
                                     destination[0] if destination else _BUS))
        self._socket.sendall(self._prefix + b"".join(data))
        if self._prefix:
            self._prefix = b""
            if not self._read_line().startswith(b"OK "):
                raise Unavailable("the bus refused EXTERNAL authentication")
        replies: list = [None] * len(calls)
        pending = len(calls)
        while pending:
            kind, fields, body = self._read_message()
            index = serials.pop(fields.get(5), None)  # REPLY_SERIAL
            if index is None:
                continue  # a signal (NameAcquired), or not ours
            if kind == 3:  # ERROR
                raise Unavailable(f"the Secret Service answered {fields.get(4, 'an error')}")
            if kind != 2:
                raise Unavailable("an unexpected message type")
            replies[index] = body
            pending -= 1
        return replies

    def _read_message(self) -> tuple[int, dict, tuple]:
        head = self._read_exactly(16)
        endian = {b"l"[0]: "<", b"B"[0]: ">"}.get(head[0])
        if endian is None or head[3] != 1:
            raise Unavailable("not a D-Bus message")
        kind = head[1]
        body_length, _serial, fields_length = struct.unpack(endian + "III", head[4:16])
        if body_length > 1 << 24 or fields_length > 1 << 16:
            raise Unavailable("a D-Bus message too large for a secret")
        header_end = 16 + fields_length
        rest = self._read_exactly(_pad(header_end, 8) - 16 + body_length)
        message = head + rest
        fields = {code: value for code, (_type, value) in _Reader(message, endian, 12).read("a(yv)")}
        body = _Reader(message[_pad(header_end, 8):], endian, 0)
        values = tuple(body.read(t) for t in _split(fields.get(8, "")))
        return kind, fields, values

    def _read_exactly(self, count: int) -> bytes:
        while len(self._buffer) < count:
            chunk = self._socket.recv(max(65536, count - len(self._buffer)))
            if not chunk:
                raise Unavailable("the bus closed the connection")
            self._buffer += chunk
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data


# --- The D-Bus wire format (the parts used here), little-endian on the way out.

_ALIGN = {"y": 1, "b": 4, "u": 4, "i": 4, "s": 4, "o": 4, "g": 1, "v": 1, "a": 4, "(": 8, "{": 8, "x": 8, "t": 8, "d": 8,
          "n": 2, "q": 2, "h": 4}
_FIXED = {"y": "B", "b": "I", "u": "I", "i": "i", "x": "q", "t": "Q", "d": "d", "n": "h", "q": "H", "h": "I"}


def _pad(offset: int, alignment: int) -> int:
    return (offset + alignment - 1) // alignment * alignment


def _split(signature: str) -> list[str]:
    """Complete types of a signature: 'aoo' -> ['ao', 'o']."""
    types, i = [], 0
    while i < len(signature):
        end = _type_end(signature, i)
        types.append(signature[i:end])
        i = end
    return types


def _type_end(signature: str, i: int) -> int:
    char = signature[i]
    if char == "a":
        return _type_end(signature, i + 1)
    if char in "({":
        close = ")" if char == "(" else "}"
        i += 1
        while signature[i] != close:
            i = _type_end(signature, i)
        return i + 1
    if char not in _ALIGN:
        raise ValueError(f"unknown D-Bus type {char!r}")
    return i + 1


class _Writer:
    def __init__(self, start: int = 0) -> None:
        self.data = bytearray()
        self.start = start  # alignment is relative to the message's first byte

    def align(self, alignment: int) -> None:
        self.data += b"\0" * (_pad(self.start + len(self.data), alignment) - self.start - len(self.data))

    def write(self, signature: str, value) -> None:
        char = signature[0]
        self.align(_ALIGN[char])
        if char in _FIXED:
            self.data += struct.pack("<" + _FIXED[char], value)
        elif char in "so":
            encoded = value.encode()
            self.data += struct.pack("<I", len(encoded)) + encoded + b"\0"
        elif char == "g":
            self.data += bytes((len(value),)) + value.encode() + b"\0"
        elif char == "v":
            self.write("g", value[0])
            self.write(value[0], value[1])
        elif char == "a":
            element = signature[1:]
            self.data += b"\0\0\0\0"
            length_at = len(self.data) - 4
            self.align(_ALIGN[element[0]])
            begin = len(self.data)
            items = value.items() if element[0] == "{" else value
            for item in items:
                self.write(element, item)
            struct.pack_into("<I", self.data, length_at, len(self.data) - begin)
        elif char in "({":
            for part, item in zip(_split(signature[1:-1]), value):
                self.write(part, item)
        else:
            raise ValueError(f"cannot write D-Bus type {char!r}")


def _method_call(serial: int, path: str, interface: str, member: str, signature: str, args, destination: str) -> bytes:
    body = _Writer()
    for part, arg in zip(_split(signature), args):
        body.write(part, arg)
    fields = [(1, ("o", path)), (2, ("s", interface)), (3, ("s", member)), (6, ("s", destination))]
    if signature:
        fields.append((8, ("g", signature)))
    header = _Writer()
    header.data += struct.pack("<cBBBII", b"l", 1, 0, 1, len(body.data), serial)
    header.write("a(yv)", fields)
    header.align(8)
    return bytes(header.data) + bytes(body.data)


class _Reader:
    def __init__(self, data: bytes, endian: str, offset: int) -> None:
        self.data = data
        self.endian = endian
        self.offset = offset

    def _take(self, count: int) -> bytes:
        end = self.offset + count
        if end > len(self.data):
            raise ValueError("a truncated D-Bus message")
        chunk = self.data[self.offset:end]
        self.offset = end
        return chunk

    def read(self, signature: str, depth: int = 0):
        if depth > 32:  # the spec's own limit is 64 levels in all
            raise ValueError("a D-Bus value nested too deeply")
        char = signature[0]
        self.offset = _pad(self.offset, _ALIGN.get(char, 1))
        if char in _FIXED:
            code = _FIXED[char]
            (value,) = struct.unpack(self.endian + code, self._take(struct.calcsize(code)))
            return value
        if char in "so":
            (length,) = struct.unpack(self.endian + "I", self._take(4))
            text = self._take(length + 1)[:-1]
            return text.decode("utf-8")
        if char == "g":
            length = self._take(1)[0]
            return self._take(length + 1)[:-1].decode("ascii")
        if char == "v":
            inner = self.read("g", depth)
            if len(_split(inner)) != 1:
                raise ValueError("a D-Bus variant of more than one type")
            return inner, self.read(inner, depth + 1)
        if char == "a":
            (length,) = struct.unpack(self.endian + "I", self._take(4))
            element = signature[1:]
            self.offset = _pad(self.offset, _ALIGN[element[0]])
            end = self.offset + length
            if end > len(self.data):
                raise ValueError("a truncated D-Bus array")
            if element == "y":
                return self._take(length)
            items = []
            while self.offset < end:
                items.append(self.read(element, depth + 1))
            if element[0] == "{":
                return dict(items)
            return items
        if char in "({":
            return tuple(self.read(part, depth + 1) for part in _split(signature[1:-1]))
        raise ValueError(f"cannot read D-Bus type {char!r}")
