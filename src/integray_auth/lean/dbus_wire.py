"""The D-Bus wire format, the parts the Secret Service reader (secret_service.py)
uses: marshalling a method call, little-endian, and decoding any reply
within the specification's bounds. Stdlib only (`struct`), like the reader:
it replaces jeepney's marshalling on `token`'s path, and
tests/test_secret_service.py holds it to the specification byte for byte.
"""

from __future__ import annotations

import struct

# The D-Bus specification's own bounds ("Valid Signatures", "Message Format"):
# https://dbus.freedesktop.org/doc/dbus-specification.html
MAX_ARRAY = 64 << 20
MAX_MESSAGE = 128 << 20
_MAX_DEPTH = 32  # arrays, structs (dict entries among them) and variants, each


class Unavailable(Exception):
    """This path cannot answer; keyring's can (or will explain why not)."""


class BrokenBus(Unavailable):
    """The bus broke the protocol or the deadline: not to be handed to keyring's path."""


class MalformedMessage(BrokenBus):
    """Bytes or a signature that are not the D-Bus wire format (the decoder's only error)."""


_ALIGN = {"y": 1, "b": 4, "u": 4, "i": 4, "s": 4, "o": 4, "g": 1, "v": 1, "a": 4, "(": 8, "{": 8, "x": 8, "t": 8, "d": 8,
          "n": 2, "q": 2, "h": 4}
_FIXED = {"y": "B", "b": "I", "u": "I", "i": "i", "x": "q", "t": "Q", "d": "d", "n": "h", "q": "H", "h": "I"}


def pad(offset: int, alignment: int) -> int:
    return (offset + alignment - 1) // alignment * alignment


_BASIC = frozenset("ybnqiuxtdhsog")
FIELD_TYPES = {1: "o", 2: "s", 3: "s", 4: "s", 5: "u", 6: "s", 7: "s", 8: "g", 9: "u"}  # the spec's header fields


def _split(signature: str) -> list[str]:
    """Complete types of a signature: 'aoo' -> ['ao', 'o']; MalformedMessage if it is not valid."""
    if len(signature) > 255:
        raise MalformedMessage("a D-Bus signature longer than 255")
    types, i = [], 0
    while i < len(signature):
        end = _type_end(signature, i, 0, 0)
        types.append(signature[i:end])
        i = end
    return types


def _type_end(signature: str, i: int, arrays: int, structs: int) -> int:
    """Where the complete type at signature[i] ends (arrays and structs open around it)."""
    char = signature[i:i + 1]
    if char == "a":
        if arrays == _MAX_DEPTH:
            raise MalformedMessage("D-Bus arrays nested too deeply")
        if signature[i + 1:i + 2] != "{":
            return _type_end(signature, i + 1, arrays + 1, structs)
        if structs == _MAX_DEPTH:
            raise MalformedMessage("D-Bus structs nested too deeply")
        if signature[i + 2:i + 3] not in _BASIC:
            raise MalformedMessage("a D-Bus dict entry whose key is not a basic type")
        end = _type_end(signature, i + 3, arrays + 1, structs + 1)
        if signature[end:end + 1] != "}":
            raise MalformedMessage("a D-Bus dict entry of other than two types")
        return end + 1
    if char == "(":
        if structs == _MAX_DEPTH:
            raise MalformedMessage("D-Bus structs nested too deeply")
        i += 1
        if signature[i:i + 1] == ")":
            raise MalformedMessage("an empty D-Bus struct")
        while signature[i:i + 1] != ")":
            if i >= len(signature):
                raise MalformedMessage("an unclosed D-Bus struct")
            i = _type_end(signature, i, arrays, structs + 1)
        return i + 1
    if char and (char in _BASIC or char == "v"):
        return i + 1
    raise MalformedMessage(f"not a D-Bus type: {char!r}" if char else "an incomplete D-Bus signature")


class _Writer:
    def __init__(self, start: int = 0) -> None:
        self.data = bytearray()
        self.start = start  # alignment is relative to the message's first byte

    def align(self, alignment: int) -> None:
        self.data += b"\0" * (pad(self.start + len(self.data), alignment) - self.start - len(self.data))

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


def method_call(serial: int, path: str, interface: str, member: str, signature: str, args, destination: str) -> bytes:
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


def decode(data: bytes, endian: str, offset: int, signature: str) -> tuple:
    """The values of `signature` in data[offset:], which they must fill exactly.

    Raises only MalformedMessage: every element takes at least a byte and every
    length stays inside `data`, so the work is bounded by its size and the spec's
    nesting limits - whatever the bytes and the signature."""
    reader = _Reader(data, endian, offset)
    values = tuple(reader.read(part) for part in _split(signature))
    if reader.offset != len(data):
        raise MalformedMessage("bytes after the D-Bus values")
    return values


class _Reader:
    def __init__(self, data: bytes, endian: str, offset: int) -> None:
        self.data = data
        self.endian = endian
        self.offset = offset
        # Open containers, variants included: a variant's own signature starts
        # again from 0, so its nesting is counted here.
        self.depth = {"a": 0, "(": 0, "v": 0}

    def _take(self, count: int) -> bytes:
        end = self.offset + count
        if end > len(self.data):
            raise MalformedMessage("a truncated D-Bus message")
        chunk = self.data[self.offset:end]
        self.offset = end
        return chunk

    def _enter(self, kind: str) -> None:
        self.depth[kind] += 1
        if self.depth[kind] > _MAX_DEPTH:
            raise MalformedMessage("a D-Bus value nested too deeply")

    def read(self, signature: str):
        """One value of a complete type that _split has checked."""
        char = signature[0]
        self.offset = pad(self.offset, _ALIGN[char])
        if char in _FIXED:
            code = _FIXED[char]
            (value,) = struct.unpack(self.endian + code, self._take(struct.calcsize(code)))
            if char == "b" and value > 1:
                raise MalformedMessage("a D-Bus boolean other than 0 or 1")
            return value
        if char in "sog":
            length = self._take(1)[0] if char == "g" else struct.unpack(self.endian + "I", self._take(4))[0]
            text = self._take(length + 1)
            if text[-1] != 0 or 0 in text[:-1]:
                raise MalformedMessage("a D-Bus string not ended by its one NUL")
            try:
                return text[:-1].decode("ascii" if char == "g" else "utf-8")
            except UnicodeDecodeError:
                raise MalformedMessage("a D-Bus string that is not UTF-8") from None
        if char == "v":
            inner = self.read("g")
            if len(_split(inner)) != 1:
                raise MalformedMessage("a D-Bus variant of other than one type")
            self._enter("v")
            value = self.read(inner)
            self.depth["v"] -= 1
            return inner, value
        if char == "a":
            (length,) = struct.unpack(self.endian + "I", self._take(4))
            element = signature[1:]
            self.offset = pad(self.offset, _ALIGN[element[0]])
            end = self.offset + length
            if length > MAX_ARRAY or end > len(self.data):
                raise MalformedMessage("a D-Bus array longer than its message")
            if element == "y":
                return self._take(length)
            self._enter("a")
            items = []
            while self.offset < end:
                start = self.offset
                items.append(self.read(element))
                if self.offset == start:
                    raise MalformedMessage("a D-Bus array element of no size")
                if self.offset > end:
                    raise MalformedMessage("a D-Bus array element past the array's end")
            self.depth["a"] -= 1
            return dict(items) if element[0] == "{" else items
        # a struct or a dict entry
        self._enter("(")
        value = tuple(self.read(part) for part in _split(signature[1:-1]))
        self.depth["("] -= 1
        return value
