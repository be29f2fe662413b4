"""JSON in and out through CPython's C scanner and encoder (`_json`), the same
ones `json.loads` and `json.dumps` use, without importing `json` itself.

Why: `json.decoder` imports `re` (for its whitespace pattern), and `json` with
`re` (and `re`'s `enum`) costs more than half of `python -c pass` to import;
`list` and `token` would pay it on every call. The bytes written and the
objects read are the same as json's: tests/test_jsonio.py compares them.

`_json` is an undocumented CPython internal, so it is only ever a first try:
anything unexpected from it (any exception, an absent name, a result not of
the shape json's own code expects) hands the same input to the public `json`
module, whose answer (a value or its own JSONDecodeError) is then the answer.
That is not hypothetical: on CPython 3.11 the C scanner reports some errors
through `json.decoder`, and when that module was never imported it returns
NULL without an exception, a SystemError (a truncated index did this).
tests/test_jsonio.py forces every fallback.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

try:
    from _json import encode_basestring, encode_basestring_ascii, make_encoder, make_scanner
except Exception:  # not CPython, or a CPython without one of them: json does all the work
    encode_basestring = encode_basestring_ascii = make_encoder = make_scanner = None

_WHITESPACE = " \t\n\r"  # json.decoder.WHITESPACE: what may surround a document
_FAILED = object()  # the private scanner gave no usable answer


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


try:
    _plain_scan = make_scanner(_Context(None))
except Exception:  # absent (None is not callable) or broken
    _plain_scan = None


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
    """json.loads(s, object_hook=object_hook): the same objects, or the same error.

    When the private scanner fails, json decodes `s` again from the start, so an
    `object_hook` may be called a second time for objects it has seen."""
    if _plain_scan is not None:
        document = _scanned(s, object_hook)
        if document is not _FAILED:
            return document
    import json  # the public module: its answer, or its error, is the answer

    return json.loads(s, object_hook=object_hook)


def _scanned(s: str | bytes | bytearray, object_hook: Callable | None) -> Any:
    """The document the private scanner reads from all of `s`, or _FAILED (then json decides)."""
    try:
        if isinstance(s, (bytes, bytearray)):
            s = s.decode(detect_encoding(s), "surrogatepass")  # as json.loads decodes bytes
        if type(s) is not str or s.startswith("\ufeff"):
            return _FAILED  # a BOM in a str (or not text at all) is json's error to word
        scan = _plain_scan if object_hook is None else make_scanner(_Context(object_hook))
        start = 0
        if s[:1] in _WHITESPACE and s:
            start = len(s) - len(s.lstrip(_WHITESPACE))
        result = scan(s, start)
        if type(result) is not tuple or len(result) != 2 or type(result[1]) is not int:
            return _FAILED
        document, end = result
        if not start < end <= len(s) or end != len(s) and s[end:].strip(_WHITESPACE):
            return _FAILED  # extra data: json words it
    except Exception:  # noqa: BLE001 - a JSON error, or the scanner's own failure: json decides either way
        return _FAILED
    return document


def _default(o: Any) -> Any:
    raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


def encoder(ensure_ascii: bool = True, separators: tuple[str, str] = (", ", ": "),
            check_circular: bool = True) -> Callable[[Any], str]:
    """json.JSONEncoder(ensure_ascii=..., separators=..., check_circular=...).encode, for
    repeated calls (json.dumps without indent, sort_keys or default)."""
    public = None

    def public_encode(o: Any) -> str:
        nonlocal public
        if public is None:
            import json

            public = json.JSONEncoder(ensure_ascii=ensure_ascii, separators=separators,
                                      check_circular=check_circular).encode
        return public(o)

    if make_encoder is None:
        return public_encode
    strings = encode_basestring_ascii if ensure_ascii else encode_basestring
    item_separator, key_separator = separators

    def encode(o: Any) -> str:
        try:
            if isinstance(o, str):
                text = strings(o)
            else:
                # A fresh C encoder per call, as JSONEncoder.encode makes one: its cycle markers start empty.
                text = "".join(make_encoder({} if check_circular else None, _default, strings, None,
                                            key_separator, item_separator, False, False, True)(o, 0))
        except Exception:  # noqa: BLE001 - not serializable, or the encoder's own failure: json decides
            return public_encode(o)
        return text if type(text) is str else public_encode(o)

    return encode


def string_encoder() -> Callable[[str], str]:
    """What encoder(ensure_ascii=False) makes of a str, as a function of its own.

    The C function is checked once, not per call: `list --json` calls it about a dozen
    times per entry, and a wrapper round each call cost 85 ns (10 ms at 10,000 entries,
    an eighth of the command). Unlike the scanner it is a pure function of one str that
    touches no module state, so one probe holding every kind of escape stands for all
    calls; absent, raising, or answering other than json does, json's own is used."""
    try:
        probe = encode_basestring(_PROBE)
    except Exception:  # noqa: BLE001 - absent (None is not callable) or broken
        probe = None
    if type(probe) is str and probe == _PROBE_JSON:
        return encode_basestring
    return _public_string


_PROBE = '\x00\x1f"\\\u00e9\u2028\ud800\n\t/'  # C0, quote, backslash, non-ASCII, a lone surrogate
_PROBE_JSON = '"\\u0000\\u001f\\"\\\\\u00e9\u2028\ud800\\n\\t/"'  # json.dumps(_PROBE, ensure_ascii=False)


def _public_string(s: str) -> str:
    import json

    return json.dumps(s, ensure_ascii=False)


def dumps(o: Any, ensure_ascii: bool = True, separators: tuple[str, str] = (", ", ": ")) -> str:
    """json.dumps(o, ensure_ascii=..., separators=...)."""
    return encoder(ensure_ascii, separators)(o)
