"""FilePath: the few pathlib.Path operations the read path uses, on a str,
without importing pathlib.

Why: `pathlib` imports `re`, `fnmatch`, `urllib.parse` (and `ipaddress`),
`ntpath` and `warnings`, about one whole `python -c pass` by itself, and
`list` and `token` only join, split and open paths. A FilePath spells and
compares like the Path of the same text on POSIX (the same normalisation:
repeated and trailing slashes and "." parts dropped, a leading "//" kept);
any other Path method (mkdir, stat, resolve, ...) is answered by a real
pathlib.Path, imported then, so slower commands need not care which they
hold. On Windows, FilePath is pathlib.Path itself (drives, "\\", case).
tests/test_filepath.py compares the two with Hypothesis.

It is the package's one path type: every path of integray-auth's own files
(lean/paths.py), of the registry and of files the user names (made at the
boundary, e.g. from `--registry`) is a FilePath, and the annotations say so.
Measured with `python -X importtime` (CPython 3.11, a loaded 2-core machine):
`import pathlib` 8.7 ms, this module with the package's __init__ 0.6 ms, where
all of `token` takes about 18 ms (docs/performance.md).
"""

from __future__ import annotations

import errno
import os
import sys

_MISSING = (errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP)  # pathlib's _IGNORED_ERRNOS


def _normal(text: str) -> str:
    """str(pathlib.PurePosixPath(text))."""
    root = ("//" if text[1:2] == "/" and text[2:3] != "/" else "/") if text[:1] == "/" else ""
    if root == "/" and "//" not in text and "/." not in text and text[-1:] != "/":
        return text  # the common case: already normal
    parts = [part for part in text.split("/") if part and part != "."]
    return root + "/".join(parts) or "."


class _FilePath:
    __slots__ = ("_text",)

    def __init__(self, text: str | os.PathLike = ".") -> None:
        text = os.fspath(text)
        if not isinstance(text, str):
            raise TypeError(f"expected str or os.PathLike returning str, not {type(text).__name__}")
        self._text = _normal(text)

    # --- what the read path uses ----------------------------------------------------------

    def __fspath__(self) -> str:
        return self._text

    def __str__(self) -> str:
        return self._text

    def __format__(self, spec: str) -> str:
        return format(self._text, spec)

    def __repr__(self) -> str:
        return f"FilePath({self._text!r})"

    def __reduce__(self):
        return (type(self), (self._text,))

    def __truediv__(self, other: str | os.PathLike) -> _FilePath:
        other = os.fspath(other)
        if not isinstance(other, str):
            return NotImplemented
        if other[:1] == "/":
            return FilePath(other)
        return FilePath(self._text + other if self._text[-1:] == "/" else f"{self._text}/{other}")

    def __rtruediv__(self, other: str | os.PathLike) -> _FilePath:
        return FilePath(other) / self

    @property
    def name(self) -> str:
        return "" if self._text == "." else self._text.rpartition("/")[2]

    @property
    def parent(self) -> _FilePath:
        text = self._text
        head, sep, tail = text.rpartition("/")
        if not sep:
            return self if text == "." else FilePath(".")
        if not tail:
            return self  # a root
        root = "//" if text[:2] == "//" else "/" if text[:1] == "/" else ""
        return FilePath(root if len(head) < len(root) else head)

    def with_name(self, name: str) -> _FilePath:
        if not self.name or not name or "/" in name or name == ".":
            return self._path().with_name(name)  # pathlib: its ValueError, or its odd spelling ("./..")
        return FilePath(self._text[: len(self._text) - len(self.name)] + name)

    def expanduser(self) -> _FilePath:
        if self._text[:1] != "~":
            return self
        first, _, rest = self._text.partition("/")
        home = os.path.expanduser(first)
        if home[:1] == "~":
            raise RuntimeError("Could not determine home directory.")
        return FilePath(f"{home}/{rest}" if rest else home)

    def exists(self) -> bool:
        """As Path.exists: False where the path is not there, other OSErrors raised."""
        try:
            os.stat(self._text)
        except OSError as error:
            if error.errno in _MISSING:
                return False
            raise
        except ValueError:  # an embedded NUL
            return False
        return True

    def read_bytes(self) -> bytes:
        with open(self._text, "rb") as file:
            return file.read()

    # --- the rest of pathlib.Path, through pathlib -------------------------------------------

    def _path(self):
        from pathlib import Path

        return Path(self._text)

    def __getattr__(self, attribute: str):
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        return getattr(self._path(), attribute)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _FilePath):
            return self._text == other._text
        pathlib = sys.modules.get("pathlib")
        if pathlib is not None and isinstance(other, pathlib.PurePosixPath):
            return self._text == str(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._text)

    def __lt__(self, other: object) -> bool:
        return self._path() < (other._path() if isinstance(other, _FilePath) else other)

    def __gt__(self, other: object) -> bool:
        return self._path() > (other._path() if isinstance(other, _FilePath) else other)


if os.name == "nt":  # pragma: no cover - exercised on Windows only
    from pathlib import Path as FilePath
else:
    FilePath = _FilePath
