"""Crash-safe file writes and a cross-process lock, shared by the index and
the opt-in insecure token file."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterator

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def ensure_private_dir(path: Path) -> None:
    """Create `path` (and parents) with mode 0700 for the last component."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    if os.name == "posix":
        os.chmod(path, PRIVATE_DIR)


def atomic_write_text(path: Path, text: str) -> None:
    """Replace `path` with `text` so a reader (or a crash) sees old or new, never half.

    The temp file lives in the same folder so `os.replace` is a rename on one
    file system; it is created 0600 so the content is never world-readable,
    not even for an instant.
    """
    ensure_private_dir(path.parent)
    # Not tempfile.mkstemp: importing tempfile costs more than `list` may spend.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(6).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), PRIVATE_FILE)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if os.name == "posix":
            os.chmod(tmp, PRIVATE_FILE)
        _replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if os.name == "posix":
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


@contextlib.contextmanager
def file_lock(path: Path, timeout: float = 15.0) -> Iterator[None]:
    """Hold an exclusive advisory lock on `path` (flock on POSIX, msvcrt on Windows).

    The OS drops the lock when the process dies, so a killed writer never
    leaves the index locked.
    """
    try:
        ensure_private_dir(path.parent)
        # O_NOFOLLOW: a planted (even dangling) symlink must not make us
        # create or lock a file wherever it points.
        fd = os.open(path, os.O_RDWR | os.O_CREAT | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0), PRIVATE_FILE)
    except OSError as exc:  # a read-only or foreign folder, a symlink
        if os.path.islink(path):
            raise LockError("it is a symbolic link, not a lock file") from None
        raise LockError(exc.strerror or str(exc)) from None
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                _try_lock(fd)
                break
            except OSError:
                if time.monotonic() >= deadline:
                    raise LockTimeout(str(path)) from None
                time.sleep(0.01)
        try:
            yield
        finally:
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


def take_lock(path: Path, timeout: float = 15.0) -> contextlib.ExitStack:
    """`file_lock`, already taken; use it as `with take_lock(path):`.

    Taking the lock happens here, before the caller's `with` body runs, so a
    caller can turn LockError into its own error without mistaking an error
    of its body for a lock problem.
    """
    held = contextlib.ExitStack()
    held.enter_context(file_lock(path, timeout))
    return held
