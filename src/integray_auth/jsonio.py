"""JSON in and out through CPython's C scanner and encoder (`_json`), the same
ones `json.loads` and `json.dumps` use, without importing `json` itself.

Why: `json.decoder` imports `re` (for its whitespace pattern), and `json` with
`re` (and `re`'s `enum`) costs more than half of `python -c pass` to import;
`list` and `token` would pay it on every call. The bytes written and the
objects read are the same as json's: tests/test_jsonio.py compares them. Where
`_json` is missing (another interpreter), json itself does the work. A document
json rejects is rejected with json's own JSONDecodeError (imported then).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

try:
    from _json import encode_basestring, encode_basestring_ascii, make_encoder, make_scanner
except ImportError:  # not CPython: json's pure-Python code, imported when used
    make_scanner = None

_WHITESPACE = " \t\n\r"  # json.decoder.WHITESPACE: what may surround a document


class _Context:
    """What the C scanner reads from a JSONDecoder: json.loads' defaults."""

    def __init__(self, object_hook: Callable | None) -> None:
        self.strict = True
        self.object_hook = object_hook
        self.object_pairs_hook = None
        self.parse_float = float
        self.parse_int = int
        self.parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}.__getitem__
        self.memo = {}


_plain_scan = None if make_scanner is None else make_scanner(_Context(None))


def detect_encoding(b: bytes) -> str:
    """json.detect_encoding: the encoding of a JSON text given as bytes (RFC 8259, 4627)."""
    if b.startswith((b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00")):
        return "utf-32"
    if b.startswith((b"\xfe\xff", b"\xff\xfe")):
        return "utf-16"
    if b.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if len(b) >= 4:
        if not b[0]:
            return "utf-16-be" if b[1] else "utf-32-be"
        if not b[1]:
            return "utf-16-le" if b[2] or b[3] else "utf-32-le"
    elif len(b) == 2:
        if not b[0]:
            return "utf-16-be"
        if not b[1]:
            return "utf-16-le"
    return "utf-8"


def loads(s: str | bytes | bytearray, object_hook: Callable | None = None) -> Any:
    """json.loads(s, object_hook=object_hook): the same objects, or the same error."""
    if isinstance(s, (bytes, bytearray)) and make_scanner is not None:
        s = s.decode(detect_encoding(s), "surrogatepass")  # as json.loads decodes bytes
    if make_scanner is None or not isinstance(s, str) or s.startswith("\ufeff"):
        import json  # a BOM in a str (or not text at all) is json's error to word

        return json.loads(s, object_hook=object_hook)
    scan = _plain_scan if object_hook is None else make_scanner(_Context(object_hook))
    start = 0
    if s[:1] in _WHITESPACE and s:
        start = len(s) - len(s.lstrip(_WHITESPACE))
    try:
        document, end = scan(s, start)
    except StopIteration as stop:
        from json import JSONDecodeError

        raise JSONDecodeError("Expecting value", s, stop.value) from None
    if end != len(s):
        tail = s[end:]
        rest = tail.lstrip(_WHITESPACE)
        if rest:
            from json import JSONDecodeError

            raise JSONDecodeError("Extra data", s, end + len(tail) - len(rest))
    return document


def _default(o: Any) -> Any:
    raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


def encoder(ensure_ascii: bool = True, separators: tuple[str, str] = (", ", ": "),
            check_circular: bool = True) -> Callable[[Any], str]:
    """json.JSONEncoder(ensure_ascii=..., separators=..., check_circular=...).encode, for
    repeated calls (json.dumps without indent, sort_keys or default)."""
    if make_scanner is None:
        import json

        return json.JSONEncoder(ensure_ascii=ensure_ascii, separators=separators, check_circular=check_circular).encode
    strings = encode_basestring_ascii if ensure_ascii else encode_basestring
    item_separator, key_separator = separators

    def encode(o: Any) -> str:
        if isinstance(o, str):
            return strings(o)
        # A fresh C encoder per call, as JSONEncoder.encode makes one: its cycle markers start empty.
        chunks = make_encoder({} if check_circular else None, _default, strings, None,
                              key_separator, item_separator, False, False, True)(o, 0)
        if not isinstance(chunks, (list, tuple)):
            chunks = list(chunks)
        return "".join(chunks)

    return encode


def string_encoder() -> Callable[[str], str]:
    """What encoder(ensure_ascii=False) makes of a str, as a function of its own."""
    if make_scanner is None:
        from json.encoder import py_encode_basestring

        return py_encode_basestring
    return encode_basestring


def dumps(o: Any, ensure_ascii: bool = True, separators: tuple[str, str] = (", ", ": ")) -> str:
    """json.dumps(o, ensure_ascii=..., separators=...)."""
    return encoder(ensure_ascii, separators)(o)
