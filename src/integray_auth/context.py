"""The one object every use case receives: paths, stores, streams, clock.

Built once per invocation by the entry point; tests build it differently
(other paths, an in-memory secret store, a fake browser) instead of
patching module globals. Expensive parts are created on first use, so `list`
never pays for the keyring or for requests.
"""

from __future__ import annotations

import os
import sys

from .lean.filepath import FilePath
from .lean.paths import Paths
from .models import utc_now
from .stores.index import Index

TYPE_CHECKING = False
if TYPE_CHECKING:
    from datetime import datetime
    from typing import Callable, Mapping, TextIO

    from .registry.model import Registry
    from .stores.secrets import SecretStore

REGISTRY_ENV = "INTEGRAY_AUTH_REGISTRY"
NO_INPUT_ENV = "INTEGRAY_AUTH_NO_INPUT"


class AppContext:
    # A plain class, not a dataclass: see record.py (start-up time).
    __slots__ = (
        "paths",
        "environ",
        "stdin",
        "stdout",
        "stderr",
        "registry_path",
        "clock",
        "secret_store_factory",
        "open_browser",
        "no_input",
        "_registry",
        "_index",
    )

    def __init__(
        self,
        paths: Paths,
        environ: Mapping[str, str] | None = None,  # default: os.environ
        stdin: TextIO | None = None,  # default: sys.stdin, and so on
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
        registry_path: FilePath | None = None,  # --registry; falls back to INTEGRAY_AUTH_REGISTRY
        clock: Callable[[], datetime] = utc_now,
        # Injected by tests; the defaults are built lazily from the environment.
        secret_store_factory: Callable[[AppContext, str], SecretStore] | None = None,
        open_browser: Callable[[str], bool] | None = None,
    ) -> None:
        self.paths = paths
        self.environ = os.environ if environ is None else environ
        self.stdin = sys.stdin if stdin is None else stdin
        self.stdout = sys.stdout if stdout is None else stdout
        self.stderr = sys.stderr if stderr is None else stderr
        self.registry_path = registry_path
        self.clock = clock
        self.secret_store_factory = secret_store_factory
        self.open_browser = open_browser
        self.no_input = False  # --no-input: never prompt, never ask for a consent
        self._registry: Registry | None = None
        self._index: Index | None = None

    @classmethod
    def from_environment(cls, registry_path: FilePath | None = None) -> "AppContext":
        return cls(paths=Paths.from_environment(), registry_path=registry_path)

    @property
    def interactive(self) -> bool:
        """Prompts only when a person is at both ends (never in scripts or pipes),
        and nobody said there is none (no_input_reason)."""
        return isatty(self.stdin) and isatty(self.stdout) and self.no_input_reason() is None

    def no_input_reason(self) -> str | None:
        """Why nobody can answer a prompt or a consent screen here, or None:
        --no-input, INTEGRAY_AUTH_NO_INPUT=1, or CI set without a BROWSER
        configured explicitly (a CI job that means to consent sets one)."""
        if self.no_input:
            return "--no-input was given"
        if self.environ.get(NO_INPUT_ENV, "").strip() not in ("", "0"):
            return f"{NO_INPUT_ENV} is set"
        if self.environ.get("CI", "").strip().lower() not in ("", "0", "false") and not self.environ.get("BROWSER"):
            return "CI is set and no browser is configured (BROWSER)"
        return None

    @property
    def stdout_is_terminal(self) -> bool:
        return isatty(self.stdout)

    def registry_overlays(self) -> list[FilePath]:
        overlays = []
        # exists(), not is_file(): a FIFO or a folder there is refused, not ignored.
        if self.paths.user_registry.exists():
            overlays.append(self.paths.user_registry)
        explicit = self.registry_path or self.environ.get(REGISTRY_ENV)
        if explicit:
            overlays.append(FilePath(explicit).expanduser())
        return overlays

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            from .registry.loading import load_registry  # here: `token` never reads the registry

            self._registry = load_registry(
                self.registry_overlays(), cache_dir=self.paths.cache_dir, own_dir=self.paths.config_dir
            )
            # Once per command, as soon as anything reads the registry: an overlay that
            # retargets a bundled provider must not go unnoticed (usecases/binding.py).
            for line in self._registry.override_warnings():
                try:
                    self.stderr.write(f"integray-auth: {line}\n")
                except (OSError, ValueError):
                    pass
        return self._registry

    def reload_registry(self) -> None:
        """Read the registry again on next use: this command has just changed the user's overlay."""
        self._registry = None

    @property
    def index(self) -> Index:
        if self._index is None:
            cache = self.paths.cache_dir
            self._index = Index(self.paths.index_file, self.paths.lock_file,
                                None if cache is None else cache / "index.snapshot")
        return self._index

    def secret_store(self, storage: str, locator=None) -> "SecretStore":
        """The store named `storage` in secret_store.BACKENDS; imports keyring
        (or hvac) only here. `locator` is what the index recorded for it."""
        if self.secret_store_factory is not None:
            return self.secret_store_factory(self, storage)
        from .stores.secrets import default_secret_store

        return default_secret_store(self, storage, locator)


def isatty(stream: TextIO) -> bool:
    """False for anything that is not a terminal, closed streams included."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
