"""A session bus that is not one, for the failure paths of secret_service.py.

    with FakeBus(tmp_path / "bus", "empty-structs") as bus:
        env["DBUS_SESSION_BUS_ADDRESS"] = bus.address

Modes (every connection gets the same treatment):
  empty-structs  AUTH EXTERNAL accepted, then a method return whose body is an array of
                 empty structs (signature `a()`): elements of no size, 8 bytes of them.
  trickle        AUTH EXTERNAL accepted, then a method return one byte a second, never whole.
  proxy          every connection passed through to the real bus at `upstream`; with
                 `as_uid`, the socket listens as that user (SO_PEERCRED shows it) while the
                 proxy itself connects upstream as the user it runs as (needs root).

It runs as its own process (`python fake_bus.py SOCKET MODE [UPSTREAM [UID]]`, "ready" on
stdout once listening) so that changing the effective uid touches no test process, and it
speaks just enough of the wire format (https://dbus.freedesktop.org/doc/dbus-specification.html)
written out by hand here, not with the encoder under test.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import subprocess
import sys
import threading
import time


def _pad(data: bytes, alignment: int) -> bytes:
    return data + b"\0" * (-len(data) % alignment)


def method_return(reply_serial: int, signature: str, body: bytes) -> bytes:
    """A little-endian METHOD_RETURN with REPLY_SERIAL and SIGNATURE header fields."""
    fields = bytes((5,)) + b"\x01u\0" + struct.pack("<I", reply_serial)  # (y v): 5, <u>
    fields = _pad(fields, 8) + bytes((8,)) + b"\x01g\0" + bytes((len(signature),)) + signature.encode() + b"\0"
    head = struct.pack("<cBBBIII", b"l", 2, 1, 1, len(body), 1000 + reply_serial, len(fields))
    return _pad(head + fields, 8) + body


# a(): an array 8 bytes long (the length, then padding to the struct alignment of 8)
EMPTY_STRUCTS = method_return(1, "a()", struct.pack("<I", 8) + b"\0" * 4 + b"\0" * 8)
# A header that promises 4 KiB of body: at a byte a second it is never complete.
TRICKLED = method_return(1, "ay", struct.pack("<I", 4092) + b"\0" * 4092)


def _authenticate(conn: socket.socket) -> None:
    """Accept the client's AUTH line, whatever it says (what follows it is left unread)."""
    seen = b""
    while b"\r\n" not in seen:
        chunk = conn.recv(65536)
        if not chunk:
            return
        seen += chunk
    conn.sendall(b"OK 0123456789abcdef0123456789abcdef\r\n")


def _hostile(conn: socket.socket, mode: str) -> None:
    with conn, contextlib.suppress(OSError):  # the client hanging up is the point here
        _authenticate(conn)
        if mode == "empty-structs":
            conn.sendall(EMPTY_STRUCTS)
            while conn.recv(65536):
                pass
        else:
            for byte in TRICKLED:
                conn.sendall(bytes((byte,)))
                time.sleep(1)


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _proxy(conn: socket.socket, upstream: str) -> None:
    bus = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    bus.connect(upstream)
    threading.Thread(target=_pump, args=(bus, conn), daemon=True).start()
    _pump(conn, bus)


def serve(path: str, mode: str, upstream: str | None = None, as_uid: int | None = None) -> None:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    if as_uid is not None:
        os.seteuid(as_uid)  # the listening socket's credentials are taken at listen()
    server.listen(16)
    if as_uid is not None:
        os.seteuid(0)
    print("ready", flush=True)
    while True:
        conn, _ = server.accept()
        if mode == "proxy":
            target, args = _proxy, (conn, upstream)
        else:
            target, args = _hostile, (conn, mode)
        threading.Thread(target=target, args=args, daemon=True).start()


class FakeBus:
    """The fake bus as a child process, listening on `path` until the block ends."""

    def __init__(self, path, mode: str, upstream: str | None = None, as_uid: int | None = None) -> None:
        self.path = str(path)
        self.address = f"unix:path={self.path}"
        self.args = [sys.executable, __file__, self.path, mode]
        if upstream is not None or as_uid is not None:
            self.args += [upstream or "", "" if as_uid is None else str(as_uid)]
        self._process: subprocess.Popen | None = None

    def __enter__(self) -> FakeBus:
        self._process = subprocess.Popen(self.args, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        if self._process.stdout.readline() != b"ready\n":
            self.__exit__()
            raise RuntimeError(f"the fake bus did not start: {self.args}")
        return self

    def __exit__(self, *exc_info) -> None:
        self._process.kill()
        self._process.wait()
        self._process.stdout.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


if __name__ == "__main__":
    socket_path, bus_mode, *rest = sys.argv[1:]
    serve(socket_path, bus_mode, rest[0] if rest and rest[0] else None, int(rest[1]) if len(rest) > 1 and rest[1] else None)
