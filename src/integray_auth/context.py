"""The one object every use case receives: paths, stores, streams, clock.

Built once per invocation by the entry point; tests build it differently
(other paths, an in-memory secret store, a fake browser) instead of
patching module globals. Expensive parts are created on first use, so `list`
never pays for the keyring or for requests.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
TYPE_CHECKING = False

from .index import Index
from .models import utc_now
from .paths import Paths
from .registry import Registry, load_registry

if TYPE_CHECKING:
    from typing import Callable, Mapping, TextIO

    from .secret_store import SecretStore

REGISTRY_ENV = "INTEGRAY_AUTH_REGISTRY"


@dataclass
class AppContext:
    paths: Paths
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    registry_path: Path | None = None  # --registry; falls back to INTEGRAY_AUTH_REGISTRY
    clock: Callable[[], datetime] = utc_now
    # Injected by tests; the defaults are built lazily from the environment.
    secret_store_factory: Callable[["AppContext", str], "SecretStore"] | None = None
    open_browser: Callable[[str], bool] | None = None

    @classmethod
    def from_environment(cls, registry_path: Path | None = None) -> "AppContext":
        return cls(paths=Paths.from_environment(), registry_path=registry_path)

    @property
    def interactive(self) -> bool:
        """Prompts only when a person is at both ends (never in scripts or pipes)."""
        return _isatty(self.stdin) and _isatty(self.stdout)

    @property
    def stdout_is_terminal(self) -> bool:
        return _isatty(self.stdout)

    def registry_overlays(self) -> list[Path]:
        overlays = []
        if self.paths.user_registry.is_file():
            overlays.append(self.paths.user_registry)
        explicit = self.registry_path or self.environ.get(REGISTRY_ENV)
        if explicit:
            overlays.append(Path(explicit).expanduser())
        return overlays

    @cached_property
    def registry(self) -> Registry:
        return load_registry(self.registry_overlays(), cache_dir=self.paths.cache_dir)

    @cached_property
    def index(self) -> Index:
        return Index(self.paths.index_file, self.paths.lock_file)

    def secret_store(self, storage: str) -> "SecretStore":
        """The store for `storage` ("keyring" or "file"); imports keyring only here."""
        if self.secret_store_factory is not None:
            return self.secret_store_factory(self, storage)
        from .secret_store import default_secret_store

        return default_secret_store(self, storage)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
