"""Careful edits of the user's providers.toml overlay, as text.

The overlay is the user's file: their comments, order and layout stay as
they are. Only whole `[providers.ID...]` tables are appended or replaced, and
a key is added to an existing table; the caller parses the result and
compares it with what it meant to write before anything is saved (a file
written in another TOML style, with inline tables or dotted keys, is then
refused rather than mangled). No TOML-writing dependency: none of them keeps
a file's comments, and the values written here are strings, booleans and
tables of strings.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any, Iterable

_HEADER = re.compile(r"^[ \t]*\[(?!\[)([^\[\]\r\n]*)\][ \t]*(?:#.*)?$")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def string(value: str) -> str:
    """A TOML basic string: quote, backslash and control characters escaped."""
    out = []
    for ch in value:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch < " " or ch == "\x7f":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def key(name: str) -> str:
    return name if _BARE_KEY.fullmatch(name) else string(name)


def value(item: Any) -> str:
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, str):
        return string(item)
    if isinstance(item, list):
        return "[" + ", ".join(value(v) for v in item) + "]"
    raise TypeError(f"cannot write {type(item).__name__} to the overlay")


def table(path: Iterable[str], entries: dict[str, Any], comment: str | None = None) -> str:
    """`[a.b]` and its `key = value` lines (a trailing newline included)."""
    lines = [f"# {line}".rstrip() for line in comment.splitlines()] if comment else []
    lines.append("[" + ".".join(key(p) for p in path) + "]")
    lines += [f"{key(k)} = {value(v)}" for k, v in entries.items()]
    return "\n".join(lines) + "\n"


def _header_path(line: str) -> tuple[str, ...] | None:
    """The key path of a `[table]` header line, or None for any other line."""
    match = _HEADER.match(line)
    if not match:
        return None
    try:
        parsed = tomllib.loads(f"[{match.group(1)}]\n")
    except tomllib.TOMLDecodeError:
        return None
    path: list[str] = []
    while isinstance(parsed, dict) and len(parsed) == 1:
        name, parsed = next(iter(parsed.items()))
        path.append(name)
    return tuple(path)


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _block_end(lines: list[str], start: int, inside) -> int:
    """The index after the last line of the run of tables from `start` for which
    `inside(path)` holds; comments and blank lines just before the next table
    stay with that table."""
    end = len(lines)
    for i in range(start + 1, len(lines)):
        path = _header_path(lines[i])
        if path is not None and not inside(path):
            end = i
            break
    while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
        end -= 1
    return end


def replace_tables(text: str, prefix: tuple[str, ...], block: str, keep: tuple[str, ...] | None = None) -> str:
    """`text` without the tables at or under `prefix` (except those under
    `keep`), with `block` where the first of them was (or appended, when
    there was none)."""
    lines = _lines(text)

    def inside(path: tuple[str, ...]) -> bool:
        return path[: len(prefix)] == prefix and not (keep is not None and path[: len(keep)] == keep)

    kept: list[str] = []
    placed = False
    i = 0
    while i < len(lines):
        path = _header_path(lines[i])
        if path is not None and inside(path):
            end = _block_end(lines, i, inside)
            while kept and kept[-1].lstrip().startswith("#"):
                kept.pop()  # the comment right above a replaced table was about it
            if not placed:
                kept.append(block if block.endswith("\n") else block + "\n")
                placed = True
            i = end
            continue
        kept.append(lines[i])
        i += 1
    result = "".join(kept)
    return result if placed else append(result, block)


def add_keys(text: str, path: tuple[str, ...], entries: dict[str, Any]) -> str:
    """`entries` added at the end of the `[path]` table, or a new `[path]` table appended."""
    lines = _lines(text)
    for i, line in enumerate(lines):
        if _header_path(line) == path:
            end = _block_end(lines, i, lambda p: False)
            if end > 0 and not lines[end - 1].endswith("\n"):
                lines[end - 1] += "\n"
            added = [f"{key(k)} = {value(v)}\n" for k, v in entries.items()]
            return "".join(lines[:end] + added + lines[end:])
    return append(text, table(path, entries))


def append(text: str, block: str) -> str:
    if not text.strip():
        return block
    return text.rstrip("\n") + "\n\n" + block
