"""Text from outside, made safe to print.

Provider error descriptions, id_token labels, registry and index strings
and the user's own arguments may carry control characters: an ESC sequence
can retitle a terminal window or clear the screen, a bidi override can make
a name read backwards, a line break can split one piped row into two. Every
field we print goes through `escape` (or `tsv_cell`, or `json_text` for
serialized JSON) once, at the output boundary.

Stdlib-only, `re` imported and its patterns compiled on first need (text
that is not printable): `list` and `token` use this module, and `re` alone
costs more than half of `python -c pass` to import.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re

# Every character of Unicode's categories Cc (C0, DEL, C1), Cf (format:
# zero-width, bidi embeddings/overrides/isolates, BOM, tags), Zl and Zp
# (U+2028/2029), and lone surrogates (a non-UTF-8 argv byte, surrogateescape).
_C0 = "\x00-\x1f"
_ABOVE_C0 = (
    "\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    "\u200b-\u200f\u2028-\u202e\u2060-\u206f\ud800-\udfff\ufeff\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0000-\U000e007f"
)
UNSAFE_CLASS = f"[{_C0}{_ABOVE_C0}]"
# json.dumps already escapes C0 (and so every newline inside a string); the
# newlines outside strings are its own indentation and must stay.
_JSON_UNSAFE_CLASS = f"[{_ABOVE_C0}]"
# Line breaks as str.splitlines() and most readers see them, plus the tab.
_TSV_BREAKS_CLASS = "[\t\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]"
_compiled: dict[str, re.Pattern] = {}


def _pattern(character_class: str) -> re.Pattern:
    """Compiled on first use: most runs print only printable text (see
    isprintable below), and compiling these classes costs ~1 ms a start."""
    pattern = _compiled.get(character_class)
    if pattern is None:
        import re

        pattern = _compiled[character_class] = re.compile(character_class)
    return pattern

_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}

ECHO_LIMIT = 80  # characters of user input repeated in a message


def _visible(match: re.Match) -> str:
    ch = match.group()
    if ch in _NAMED:
        return _NAMED[ch]
    cp = ord(ch)
    if cp < 0x100:
        return f"\\x{cp:02x}"
    if cp < 0x10000:
        return f"\\u{cp:04x}"
    return f"\\U{cp:08x}"


def _json_escape(match: re.Match) -> str:
    cp = ord(match.group())
    if cp < 0x10000:
        return f"\\u{cp:04x}"
    cp -= 0x10000  # JSON spells astral characters as a UTF-16 surrogate pair
    return f"\\u{0xD800 + (cp >> 10):04x}\\u{0xDC00 + (cp & 0x3FF):04x}"


# str.isprintable() is False for every character of Cc, Cf, Zl, Zp and Cs (and
# for more), so a printable string needs no regex: the common case, at C speed
# (`list` passes every cell of 100,000 rows through here).


def has_unsafe(text: str) -> bool:
    if text.isprintable():
        return False
    return _pattern(UNSAFE_CLASS).search(text) is not None


def escape(text: str) -> str:
    """Control, format and line-separator characters as Python-style escapes
    (`\\x1b`, `\\u202e`, `\\n`): visible, never acted on by a terminal."""
    if text.isprintable():
        return text
    return _pattern(UNSAFE_CLASS).sub(_visible, text)


def shorten(text: str, limit: int = ECHO_LIMIT) -> str:
    """`escape`d, and cut to `limit` characters with an ellipsis."""
    text = escape(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quoted(text: str, limit: int = ECHO_LIMIT) -> str:
    """User input echoed in a message: 'shortened and escaped'."""
    return f"'{shorten(text, limit)}'"


def tsv_cell(text: str) -> str:
    """One field of a piped row: tabs and every kind of line break become a
    space, so a row stays one line; other control characters are escaped."""
    if text.isprintable():
        return text
    return escape(_pattern(_TSV_BREAKS_CLASS).sub(" ", text))


def json_text(serialized: str) -> str:
    """Serialized JSON with the characters json.dumps leaves raw under
    ensure_ascii=False (C1, bidi, U+2028/2029, lone surrogates) as \\u escapes:
    the same document for a JSON reader, inert for a terminal or a line reader."""
    if serialized.isascii() and "\x7f" not in serialized:
        return serialized  # the only unsafe ASCII characters are C0, which json escaped, and DEL (O(1) and a memchr)
    if serialized.isprintable() or ("\n" in serialized and all(map(str.isprintable, serialized.split("\n")))):
        return serialized  # indented JSON: its own line breaks are no reason for a regex
    return _pattern(_JSON_UNSAFE_CLASS).sub(_json_escape, serialized)


# What shlex.quote leaves bare (its `[^\w@%+=:,./-]` with re.ASCII): the rest is single-quoted.
_SHELL_SAFE = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-"


def shell_quote(text: str) -> str:
    """shlex.quote(text), without importing shlex (and `re`): `status` prints
    a hint with a quoted name on every row that needs the user."""
    if not text:
        return "''"
    if not text.strip(_SHELL_SAFE):
        return text
    return "'" + text.replace("'", "'\"'\"'") + "'"
