"""`--help` without Typer: Typer renders a help text once, the bytes it wrote
are kept in the cache folder, and the same request in the same environment
later prints them with the stdlib only (importing Typer alone costs ~4x
`python -c pass`).

An entry is used only when everything that shaped the text is unchanged:
the words asked, the package version, the interpreter, every installed
module the rendering imported (path, size, mtime, inode: a reinstall or an
upgrade of Typer changes them), and what Click reads from the environment
(terminal width, colour and locale variables, whether stdout is a terminal,
its encoding). Anything else gets Typer, which then refreshes the entry.

The cache is our own output, but the file is treated as hostile: read with
`fileutil.read_regular_file` (regular file, ours, size cap, no symlink), a
broken or edited entry is ignored and rebuilt, and only text without control
characters (other than line ends) is ever stored or printed, so no entry can
smuggle an escape sequence to the terminal. Written atomically, 0600, in the
0700 cache folder; a cache that cannot be written is no error.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..lean.filepath import FilePath
    from typing import Callable

FORMAT = 1
MAX_ENTRY_BYTES = 256 * 1024  # a help text is ~3 KB
MAX_ENTRIES = 64  # one per (words, width, environment) seen; the oldest go first
HELP_FLAGS = ("--help", "-h")
MAX_WORDS = 4
NUL = bytes(1)
# What Click, Typer, Rich and Python's text streams read from the environment
# when they render help (width, colour, terminal, locale, encoding, Click's
# completion switch). Named one by one: a prefix such as LANG would also take in
# LANGSMITH_API_KEY, and no secret may reach the cache. Never INTEGRAY_AUTH_*.
_ENV_NAMES = frozenset({
    "COLUMNS", "LINES", "TERM", "COLORTERM", "NO_COLOR", "FORCE_COLOR", "PY_COLORS", "CLICOLOR", "CLICOLOR_FORCE",
    "TTY_COMPATIBLE", "TTY_INTERACTIVE", "TERMINAL_WIDTH", "JUPYTER_COLUMNS", "JUPYTER_LINES", "GITHUB_ACTIONS",
    "DATABRICKS_RUNTIME_VERSION", "UNICODE_VERSION", "LANG", "LANGUAGE", "PYTHONIOENCODING", "PYTHONUTF8",
    "PYTHONLEGACYWINDOWSSTDIO", "COMP_WORDS", "COMP_CWORD", "_INTEGRAY_AUTH_COMPLETE", "TYPER_USE_RICH",
    "LC_ALL", "LC_CTYPE", "LC_MESSAGES",  # the locale categories text and its encoding follow
})
_ENV_PREFIXES = ("_TYPER_",)  # Typer's own switches


def is_request(args: list[str]) -> bool:
    """Bare `integray-auth`, `help [WORD]`, or command words followed by -h/--help."""
    if not args:
        return True
    if args[0] == "help":
        return len(args) <= 2 and all(_is_word(word) for word in args[1:])
    return (
        args[-1] in HELP_FLAGS and len(args) <= MAX_WORDS + 1 and all(_is_word(word) for word in args[:-1])
    )


def _is_word(word: str) -> bool:
    # A command name (or a simple positional Click skips for --help): never an option or its value.
    return 0 < len(word) <= 32 and word.isascii() and word[0].isalpha() and word.replace("-", "").isalnum()


def answer(args: list[str], render: Callable[[list[str]], int]) -> int:
    """Print the help `args` ask for: from the cache, or through `render` (Typer), kept for next time."""
    if sys.stdout is not sys.__stdout__ or sys.stderr is not sys.__stderr__ or not hasattr(sys.stdout, "buffer"):
        return render(args)  # run in-process with captured streams (tests): Typer as always
    folder = _folder()
    key = _key(args)
    path = None if folder is None else folder / f"help-{_digest(key)}.json"
    if path is not None:
        text = _read(path, key)
        if text is not None:
            sys.stdout.flush()
            sys.stdout.buffer.write(text)
            sys.stdout.buffer.flush()
            return 0
    code, written, errors = _rendered(args, render)
    if path is not None and code == 0 and not errors and _printable(written, sys.stdout.encoding):
        _write(path, key, written)
    return code


def _folder() -> FilePath | None:
    from ..lean.paths import Paths

    return Paths.from_environment().cache_dir


def _key(args: list[str]) -> list:
    from .. import __version__

    stdout = sys.stdout
    try:
        terminal = list(os.get_terminal_size(sys.__stdout__.fileno()))  # what shutil.get_terminal_size asks
    except (AttributeError, ValueError, OSError):
        terminal = None
    try:
        tty = [stdout.isatty(), sys.stderr.isatty(), sys.stdin is not None and sys.stdin.isatty()]
    except (AttributeError, ValueError):
        tty = None
    environ = sorted([name, value] for name, value in os.environ.items() if name in _ENV_NAMES or name.startswith(_ENV_PREFIXES))
    return [FORMAT, __version__, sys.version, sys.prefix, args, terminal, tty,
            [stdout.encoding, stdout.errors, stdout.line_buffering], environ]


def _digest(key: list) -> str:
    import zlib  # a built-in module, unlike hashlib: a name, not a security boundary (the key is compared in full)

    text = repr(key).encode("utf-8", "surrogatepass")
    return f"{zlib.crc32(text):08x}{zlib.adler32(text):08x}"


def checksum(key: list, modules, data: bytes) -> str:
    """Catches a damaged or hand-edited entry (not an attacker: the folder is ours, 0700)."""
    import zlib

    head = repr([key, modules]).encode("utf-8", "surrogatepass")
    return f"{zlib.crc32(head + NUL + data):08x}"


def _read(path: FilePath, key: list) -> bytes | None:
    """The stored bytes, if the entry is sound and still describes this request; else None."""
    import json

    from ..stores.files import UnsafePath, read_regular_file

    try:
        raw = read_regular_file(path, MAX_ENTRY_BYTES, "the help cache", own=True, follow_symlinks=False)
        if raw is None:
            return None
        entry = json.loads(raw)
        if type(entry) is not dict or entry.get("key") != key or type(entry.get("stdout")) is not str:
            return None
        text = entry["stdout"].encode("latin-1")  # bytes kept one per character (see _write)
        if entry.get("check") != checksum(key, entry.get("modules"), text) or not _unchanged(entry["modules"]):
            return None
    except (UnsafePath, OSError, ValueError, TypeError, RecursionError):
        return None
    return text if _printable(text, sys.stdout.encoding) else None


def _unchanged(modules) -> bool:
    if type(modules) is not list or not modules:
        return False
    for item in modules:
        if type(item) is not list or len(item) != 4 or type(item[0]) is not str:
            return False
        try:
            info = os.stat(item[0])
        except (OSError, ValueError):
            return False
        if [item[0], info.st_size, info.st_mtime_ns, info.st_ino] != item:
            return False
    return True


def _printable(data: bytes, encoding: str | None) -> bool:
    """Text lines without control characters (no ESC, no CR, no C1, no bidi controls)."""
    try:
        text = data.decode(encoding or "utf-8")
    except (LookupError, UnicodeDecodeError):
        return False
    return bool(text) and all(line.isprintable() for line in text.split("\n"))


class _Tee:
    """A binary stream that passes every write on and keeps a copy."""

    def __init__(self, target) -> None:
        self.target = target
        self.chunks: list[bytes] = []

    def write(self, data) -> int:
        self.chunks.append(bytes(data))
        return self.target.write(data)

    def close(self) -> None:
        # The text wrapper around us closes its buffer when it is collected:
        # the real stdout must stay open.
        self.target.flush()

    def __getattr__(self, name):  # flush, fileno, isatty, closed, ...: the real stream's
        return getattr(self.target, name)


def _rendered(args: list[str], render: Callable[[list[str]], int]) -> tuple[int, bytes, bool]:
    """Typer's exit code, the bytes it wrote to stdout, and whether it wrote to stderr.

    Typer writes through text streams like the real ones (same encoding,
    error handler, buffering; isatty and fileno passed on), so what it
    decides from them, and the bytes, are what it would produce anyway."""
    import io

    real_out, real_err = sys.stdout, sys.stderr
    real_out.flush()
    real_err.flush()
    out, err = _Tee(real_out.buffer), _Tee(real_err.buffer)
    sys.stdout = _like(real_out, out, io)
    sys.stderr = _like(real_err, err, io)
    try:
        code = render(args)
    finally:
        for wrapper in (sys.stdout, sys.stderr):
            try:
                wrapper.flush()
            except (OSError, ValueError):
                pass
        sys.stdout, sys.stderr = real_out, real_err
    return code, b"".join(out.chunks), bool(err.chunks)


def _like(stream, binary: _Tee, io):
    return io.TextIOWrapper(
        binary, encoding=stream.encoding, errors=stream.errors, line_buffering=stream.line_buffering, write_through=True
    )


def _write(path: FilePath, key: list, data: bytes) -> None:
    import json

    from ..stores.files import UnsafePath, atomic_write_text, check_own_dir

    modules = []
    for module in list(sys.modules.values()):
        name = getattr(module, "__name__", "")
        origin = getattr(module, "__file__", None)
        if type(origin) is not str or name.partition(".")[0] in sys.stdlib_module_names:
            continue  # the standard library changes with the interpreter, which is in the key
        try:
            info = os.stat(origin)
        except OSError:
            continue
        modules.append([origin, info.st_size, info.st_mtime_ns, info.st_ino])
    modules.sort()
    entry = {"key": key, "modules": modules, "check": checksum(key, modules, data), "stdout": data.decode("latin-1")}
    try:
        check_own_dir(path.parent, "the cache folder")  # never write into another user's folder
        atomic_write_text(path, json.dumps(entry))
        _prune(path.parent)
    except (OSError, TypeError, ValueError, UnsafePath):
        pass  # a cache is an optimisation; a read-only folder is fine


def _prune(folder: FilePath) -> None:
    entries = []
    with os.scandir(folder) as found:
        for item in found:
            if item.name.startswith("help-") and item.name.endswith(".json"):
                try:
                    entries.append((item.stat(follow_symlinks=False).st_mtime_ns, item.path))
                except OSError:
                    pass
    for _, old in sorted(entries)[:-MAX_ENTRIES]:
        try:
            os.unlink(old)
        except OSError:
            pass
