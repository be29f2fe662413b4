"""What ids, names, values and placeholders of the registry may be made of.

The small predicates the checks (checks.py), the loader and the fast path
share. `list` reads the registry from its JSON cache and checks it again on
every run, so these are str methods, not `re` (which, with enum, costs a
quarter of `python -c pass` to import); each one equals the regular
expression in _PATTERNS (tests/test_registry_checks.py), which other modules
get compiled when they ask for one.
"""

from __future__ import annotations

_LOWER = "abcdefghijklmnopqrstuvwxyz"
_LETTERS = _LOWER + _LOWER.upper()
_DIGITS = "0123456789"
# A template value lands in a host name or a path segment: only RFC 3986
# unreserved characters, so nothing (/ ? # @ : % whitespace, control
# characters, braces) can change which host or path the URL names.
PARAMETER_VALUE_CHARS = frozenset(_LETTERS + _DIGITS + "._~-")
_PATTERNS = {  # name -> (regular expression, used with fullmatch: "$" would let "id\n" through)
    "ID_PATTERN": r"[a-z0-9][a-z0-9-]*",
    "TOKEN_TYPE_PATTERN": r"[A-Za-z0-9._-]+",
    "PARAMETER_NAME_PATTERN": r"[a-z][a-z0-9_]*",
    "PARAMETER_VALUE_PATTERN": r"[A-Za-z0-9._~-]{1,253}",
    "PLACEHOLDER": r"\{([^{}]*)\}",  # with sub / findall
}


def __getattr__(name: str):
    # The compiled expressions, made when another module asks for one (discovery, the consent page).
    if name in _PATTERNS:
        import re

        compiled = globals()[name] = re.compile(_PATTERNS[name])
        return compiled
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _made_of(text: str, first: str, rest: str) -> bool:
    """Whether `text` is one character of `first`, then any of `rest` (ASCII sets)."""
    return text[:1] != "" and text[0] in first and not text[1:].strip(rest)


def is_id(text: str) -> bool:
    """A provider's or connector's id: ID_PATTERN.fullmatch."""
    return _made_of(text, _LOWER + _DIGITS, _LOWER + _DIGITS + "-")


def is_parameter_name(text: str) -> bool:
    return _made_of(text, _LOWER, _LOWER + _DIGITS + "_")


def is_token_type(text: str) -> bool:
    # RFC 6749 §A.13: type-name = 1*name-char (letters, digits, "-", ".", "_")
    return text != "" and not text.strip(_LETTERS + _DIGITS + "._-")


def is_callback_parameter(text: str) -> bool:
    return _made_of(text, _LETTERS, _LETTERS + _DIGITS + "_")


def is_git_host(text: str) -> bool:
    """A git host as git's credential protocol names it: a DNS name or IPv4
    address, lowercase, with an optional :port (no user, path or IPv6 brackets)."""
    host, colon, port = text.partition(":")
    if colon and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536 and port[0] != "0"):
        return False
    labels = host.split(".")
    return len(host) <= 253 and all(
        label and len(label) <= 63 and not label.startswith("-") and not label.endswith("-")
        and not label.strip(_LOWER + _DIGITS + "-")
        for label in labels
    )


def is_git_username(text: str) -> bool:
    """A user name git sends as is: printable ASCII, no space, ':' or '@' (RFC 3986 userinfo)."""
    return text != "" and len(text) <= 64 and text.isascii() and text.isprintable() and not any(
        ch in text for ch in " :@/%"
    )


def placeholders(text: str):
    """(start, end, name) of each {name} in `text`, as PLACEHOLDER.finditer finds them."""
    start = text.find("{")
    while start >= 0:
        end = text.find("}", start + 1)
        if end < 0:
            return
        inner = text.find("{", start + 1, end)
        if inner >= 0:  # "{a{b}": the match can only start at the inner brace
            start = inner
            continue
        yield start, end + 1, text[start + 1 : end]
        start = text.find("{", end + 1)


def with_samples(text: str) -> str:
    """PLACEHOLDER.sub("x", text): each {name} replaced by a sample value."""
    pieces, last = [], 0
    for start, end, _ in placeholders(text):
        pieces += [text[last:start], "x"]
        last = end
    return "".join(pieces) + text[last:]
