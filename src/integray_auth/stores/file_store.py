"""The --storage file (--insecure-storage) backend: token sets and client
secrets in one 0600 JSON file in the data folder, written atomically under
its own lock. Only by the user's explicit opt-in: the file is as safe as the
account that owns it. One line in BACKENDS (stores/__init__.py) names it.
"""

from __future__ import annotations

from ..errors import StorageError
from ..lean import jsonio
from . import STORAGE_FILE
from .files import atomic_write_text, hold_lock
from .secrets import CHUNK_SIZE, SecretStore

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..context import AppContext


class FileStore(SecretStore):
    """The --insecure-storage opt-in: one 0600 JSON file, written atomically."""

    kind = STORAGE_FILE
    chunk_size = CHUNK_SIZE

    def __init__(self, path, lock_path) -> None:
        self.path = path
        self.lock_path = lock_path

    @classmethod
    def open(cls, ctx: "AppContext", locator=None) -> "FileStore":
        return cls(ctx.paths.insecure_tokens_file, ctx.paths.data_dir / "tokens-insecure.lock")

    def locator(self) -> None:
        return None  # always the data folder's file

    def label(self) -> str:
        return f"the insecure file {self.path}"

    def describe(self) -> str:
        return f"insecure file {self.path}"

    def check_usable(self) -> None:
        self._read()
        self._locked(timeout=5).close()  # creating the lock file proves the folder is writable

    def _locked(self, timeout: float = 15.0):
        return hold_lock(self.lock_path, StorageError, f"the token file {self.path} is locked by another integray-auth process",
                         f"cannot write next to the token file {self.path}", timeout)

    def _read(self) -> dict[str, str]:
        from .files import MiB, UnsafePath, read_regular_file

        try:
            raw = read_regular_file(self.path, 16 * MiB, "the token file", own=True, follow_symlinks=False)
            if raw is None:
                return {}
            data = jsonio.loads(raw)
        except UnsafePath as exc:
            raise StorageError(exc.message, hint=exc.hint) from None
        except ValueError as exc:  # UnicodeDecodeError is one too
            raise StorageError(f"cannot read the token file {self.path}: {exc}") from None
        except RecursionError:
            raise StorageError(f"cannot read the token file {self.path}: nested too deeply") from None
        entries = data.get("entries") if isinstance(data, dict) else None
        if not isinstance(entries, dict):
            raise StorageError(f"the token file {self.path} is corrupt")
        return entries

    def _update(self, key: str, value: str | None) -> None:
        with self._locked():
            entries = self._read()
            if value is None:
                if entries.pop(key, None) is None:
                    return
            else:
                entries[key] = value
            import json  # indented: json's pure-Python encoder; a write, never on the read path

            try:
                atomic_write_text(self.path, json.dumps({"schema_version": 1, "entries": entries}, indent=1) + "\n")
            except OSError as exc:  # a full disk, a read-only folder: never a traceback
                raise StorageError(f"cannot write the token file {self.path}: {exc.strerror or exc}") from None

    def get(self, key: str) -> str | None:
        return self._read().get(key)

    def set(self, key: str, value: str) -> None:
        self._update(key, value)

    def remove(self, key: str) -> None:
        self._update(key, None)
