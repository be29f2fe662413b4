"""Crash-safe file writes, a cross-process lock, and the one careful way to
read a file, shared by the registry, config.toml, the index and the opt-in
insecure token file."""

from __future__ import annotations

import os
import stat
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..lean.filepath import FilePath

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
MiB = 1024 * 1024
GiB = 1024 * MiB

_POSIX = os.name == "posix"
# O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer
# forever; on a regular file it changes nothing. Not on Windows (no FIFOs).
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISLNK, "a symbolic link"),
)


class UnsafePath(Exception):
    """A file or folder a reader must not use.

    `message` is the whole sentence ("cannot read the index PATH: REASON"),
    `reason` its end, for callers that name the path their own way; `hint`
    what to run, if anything specific; `folder` is True when the folder is at
    fault (setting the file aside would not help).
    """

    def __init__(self, message: str, reason: str, hint: str | None = None, folder: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.hint = hint
        self.folder = folder


class TooLarge(UnsafePath):
    """A file over the reader's size limit: a limit, not a sign that the file is damaged."""


def _refused(what: str, path: FilePath, reason: str, hint: str | None = None) -> UnsafePath:
    return UnsafePath(f"cannot read {what} {path}: {reason}", reason, hint)


_checked_dirs: set[str] = set()  # folders already found sound in this process


def check_own_dir(path: FilePath, what: str) -> None:
    """Refuse, like ssh does for ~/.ssh, a folder of the tool's own that another
    user owns or that group or others may write to: whoever can write there can
    plant an index or an overlay. A missing folder is fine (we create it 0700).

    Readable by others is allowed (a home the user made 0755): the files in it
    are 0600. Owned by root is allowed too, as ssh allows it: root can do
    anything anyway. One stat, once per process.
    """
    if not _POSIX:
        return
    key = str(path)
    if key in _checked_dirs:
        return
    try:
        info = os.stat(path)  # a symlinked folder is judged by what it points at
    except FileNotFoundError:
        return
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise UnsafePath(f"cannot use {what} {path}: {reason}", reason, folder=True) from None
    problem = _ownership_problem(info, path, PRIVATE_DIR)
    if problem:
        raise UnsafePath(f"cannot use {what} {path}: {problem[0]}", problem[0], problem[1], folder=True)
    _checked_dirs.add(key)


def _ownership_problem(info: os.stat_result, path: FilePath, mode: int) -> tuple[str, str] | None:
    uid = os.geteuid()
    if info.st_uid not in (uid, 0):
        return (
            f"it is owned by another user (uid {info.st_uid})",
            f"Run 'chown {uid} {_quoted(path)}' if it is yours, or set INTEGRAY_AUTH_HOME to a folder of your own.",
        )
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return (
            "it is writable by group or others, so another user could plant files in it",
            f"Run 'chmod {mode:o} {_quoted(path)}'.",
        )
    return None


def _quoted(path: FilePath) -> str:
    import shlex  # only on the way to an error message

    return shlex.quote(str(path))


def read_regular_file(
    path: FilePath, limit: int, what: str, *, own: bool = False, follow_symlinks: bool = True, secret: bool = False,
) -> bytes | None:
    """The bytes of the regular file `path`, or None if there is none.

    Anything else is refused with `UnsafePath` before a byte is read: a FIFO
    (which would block), a device, a folder, a file over `limit` bytes
    (`TooLarge`), and a symbolic link unless `follow_symlinks`. With `own`, the
    file is one of the tool's own: it and its folder must pass `check_own_dir`'s
    rule; with `secret` too, group and others may not even read it. Costs one
    fstat more than a plain read (and one stat of the folder, once).
    """
    if own:
        check_own_dir(path.parent, "the folder of " + what)
    try:
        fd = os.open(path, _READ_FLAGS | (0 if follow_symlinks else _NOFOLLOW))
    except FileNotFoundError:
        return None
    except OSError as exc:
        if not follow_symlinks and os.path.islink(path):  # ELOOP from O_NOFOLLOW
            raise _refused(what, path, "it is a symbolic link, not a file") from None
        raise _refused(what, path, exc.strerror or str(exc)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = next((name for test, name in _KINDS if test(info.st_mode)), "something else")
            raise _refused(what, path, f"it is {kind}, not a file")
        if own and _POSIX:
            problem = _ownership_problem(info, path, PRIVATE_FILE)
            if problem:
                raise _refused(what, path, *problem)
            if secret and info.st_mode & 0o077:
                raise _refused(what, path, "group or others may read it", f"Run 'chmod 600 {_quoted(path)}'.")
        if info.st_size > limit:
            raise _too_large(what, path, limit)
        chunks = []
        remaining = limit + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 65536 if chunks else info.st_size + 1))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    except OSError as exc:
        raise _refused(what, path, exc.strerror or str(exc)) from None
    finally:
        os.close(fd)
    data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    if len(data) > limit:  # it grew while we read it
        raise _too_large(what, path, limit)
    return data


def _too_large(what: str, path: FilePath, limit: int) -> TooLarge:
    reason = f"it is larger than {size_text(limit)}"
    return TooLarge(f"cannot read {what} {path}: {reason}", reason)


def size_text(size: int) -> str:
    """A size in bytes as a person reads it: 4 GiB, 64 MiB, 84.2 MiB, 512 bytes."""
    for unit, name in ((GiB, "GiB"), (MiB, "MiB")):
        if size >= unit:
            return f"{size // unit} {name}" if size % unit == 0 else f"{size / unit:.1f} {name}"
    return f"{size} bytes"


def ensure_private_dir(path: FilePath) -> None:
    """Create `path` and every missing parent with mode 0700, and make `path` 0700.

    Every created parent is private, not just the last one: a folder we make
    must never be one another user can list or write. Existing parents (a
    home, /tmp) are left alone. The caller checks `path` with check_own_dir
    first; a folder of ours that was merely readable by others is tightened.
    """
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, PRIVATE_DIR)
        except FileExistsError:  # another process made it meanwhile
            pass
        else:
            if _POSIX:
                os.chmod(folder, PRIVATE_DIR)  # mkdir's mode is filtered by the umask
    if _POSIX and not missing:
        os.chmod(path, PRIVATE_DIR)


def atomic_write_text(path: FilePath, text: str) -> None:
    """atomic_write of `text` in UTF-8."""
    atomic_write(path, text.encode("utf-8"))


def atomic_write(path: FilePath, data: bytes | list[bytes], durable: bool = True) -> None:
    """Replace `path` with `data` (or its parts, in order) so a reader (or a
    crash) sees old or new, never half.

    The temp file lives in the same folder so `os.replace` is a rename on one
    file system; it is created 0600 so the content is never world-readable,
    not even for an instant. `durable`: fsync the file and the folder first
    (a cache need not be: one lost in a crash is rebuilt, a damaged one is
    detected by its reader).
    """
    ensure_private_dir(path.parent)
    # Not tempfile.mkstemp: importing tempfile costs more than `list` may spend.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(6).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), PRIVATE_FILE)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.writelines([data] if isinstance(data, bytes) else data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        if os.name == "posix":
            os.chmod(tmp, PRIVATE_FILE)
        _replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if durable and os.name == "posix":
        # Make the rename itself durable, where the file system can: some (AFS,
        # FUSE, network mounts) refuse to fsync a folder (SQLite ignores that
        # too), and the new file is in place already, so a refusal is no failure.
        try:
            dir_fd = os.open(path.parent, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(dir_fd)
        except OSError:
            pass
        finally:
            os.close(dir_fd)


def create_private_file(path: FilePath, data: bytes, replace: bool = False) -> bool:
    """Put `data` at `path` (0600) so that a reader sees all of it or no file, and unless
    `replace` only where there is none: False when another process was first (its file
    stays). The folder must exist already; unlike atomic_write, nothing is made or chmod-ed."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(6).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | getattr(os, "O_BINARY", 0), PRIVATE_FILE)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        if not replace:
            try:
                os.link(tmp, path)  # atomic, and refused where `path` exists: the first one made stays
                return True
            except FileExistsError:
                return False
            except OSError:  # a file system without hard links: the last one made stays
                pass
        _replace(tmp, path)
        return True
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass


def write_cache_file(path: FilePath, data: bytes | list[bytes]) -> None:
    """atomic_write without fsync, into a cache folder that must be the user's own."""
    check_own_dir(path.parent, "the cache folder")  # never write into another user's folder
    atomic_write(path, data, durable=False)


def _replace(source, target) -> None:
    """os.replace, retried on Windows, where a file another process is reading
    (a `list` running beside a `token` refresh) cannot be replaced for a moment."""
    if os.name != "nt":
        os.replace(source, target)
        return
    for attempt in range(40):
        try:
            os.replace(source, target)
            return
        except PermissionError:
            if attempt == 39:
                raise
            time.sleep(0.025)


class LockError(Exception):
    """The lock could not be taken (the OS refused to open the lock file)."""


class LockTimeout(LockError):
    """Another process held the lock for longer than the timeout."""


def hold_lock(
    path: FilePath, error: type, busy: str, cannot: str, timeout: float = 15.0, cannot_hint: str | None = None
) -> HeldLock:
    """take_lock, with its failures raised as `error` (an IntegrayAuthError class), never
    a traceback: `busy` when another process held the lock past `timeout`, `cannot: why`
    when it could not be taken at all."""
    try:
        return take_lock(path, timeout)
    except LockTimeout:
        raise error(busy, hint="Wait for it to finish, then run the command again.") from None
    except LockError as exc:
        raise error(f"{cannot}: {exc}", hint=cannot_hint) from None


def take_lock(path: FilePath, timeout: float = 15.0) -> HeldLock:
    """Take an exclusive advisory lock on `path` (flock on POSIX, msvcrt on
    Windows); use it as `with take_lock(path):`.

    Taking it happens here, before the caller's `with` body runs, so a caller
    can turn LockError into its own error without mistaking an error of its
    body for a lock problem. The OS drops the lock when the process dies, so
    a killed writer never leaves the index locked.
    """
    try:
        check_own_dir(path.parent, "the folder")
    except UnsafePath as exc:
        raise LockError(exc.message + (f". {exc.hint}" if exc.hint else "")) from None
    try:
        ensure_private_dir(path.parent)
        # O_NOFOLLOW: a planted (even dangling) symlink must not make us
        # create or lock a file wherever it points.
        fd = os.open(path, os.O_RDWR | os.O_CREAT | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0), PRIVATE_FILE)
    except OSError as exc:  # a read-only or foreign folder, a symlink
        if os.path.islink(path):
            raise LockError("it is a symbolic link, not a lock file") from None
        raise LockError(exc.strerror or str(exc)) from None
    try:
        info = os.fstat(fd)
        problem = None if stat.S_ISREG(info.st_mode) else ("it is not a regular file", None)
        if problem is None and _POSIX:
            problem = _ownership_problem(info, path, PRIVATE_FILE)
    except OSError as exc:
        problem = (exc.strerror or str(exc), None)
    if problem:
        os.close(fd)
        raise LockError(problem[0] + (f". {problem[1]}" if problem[1] else ""))
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                _try_lock(fd)
                return HeldLock(fd)
            except OSError:
                if time.monotonic() >= deadline:
                    raise LockTimeout(str(path)) from None
                time.sleep(0.01)
    except BaseException:  # a timeout, or Ctrl-C while waiting: the descriptor is not left open
        os.close(fd)
        raise

class HeldLock:
    """A lock take_lock took; released when the `with` ends (or by close())."""

    __slots__ = ("_fd",)

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc_info) -> bool:
        self.close()
        return False

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            _unlock(fd)
        finally:
            os.close(fd)


if os.name == "nt":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)

