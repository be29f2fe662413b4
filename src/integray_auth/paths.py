"""Where integray-auth reads and writes its files.

`INTEGRAY_AUTH_HOME` moves every file the tool reads or writes into one folder
(handy for tests, CI and several identities); otherwise platformdirs decides.
platformdirs is imported only when needed: `list` and `token` are hot paths.
"""

from __future__ import annotations

import os

from .filepath import FilePath
from .record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path  # or a FilePath: the environment's are FilePaths (no pathlib import)

APP_NAME = "integray-auth"
HOME_ENV = "INTEGRAY_AUTH_HOME"


class Paths(Record):
    __slots__ = ("config_dir", "data_dir", "cache_dir")

    def __init__(
        self,
        config_dir: Path,  # user registry overlay (written by `providers add`) and config.toml
        data_dir: Path,  # the index and, when opted in, the insecure token file
        cache_dir: Path | None = None,  # the checked registry, as JSON (None: no cache)
    ) -> None:
        self.config_dir = config_dir
        self.data_dir = data_dir
        self.cache_dir = cache_dir

    @property
    def index_file(self) -> Path:
        return self.data_dir / "index.json"

    @property
    def lock_file(self) -> Path:
        return self.data_dir / "index.lock"

    @property
    def insecure_tokens_file(self) -> Path:
        return self.data_dir / "tokens-insecure.json"

    @property
    def user_registry(self) -> Path:
        return self.config_dir / "providers.toml"

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> "Paths":
        env = os.environ if environ is None else environ
        home = env.get(HOME_ENV)
        if home:
            root = FilePath(home).expanduser()
            return cls(config_dir=root, data_dir=root, cache_dir=root / "cache")
        import platformdirs

        return cls(
            config_dir=FilePath(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
            data_dir=FilePath(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
            cache_dir=FilePath(platformdirs.user_cache_dir(APP_NAME, appauthor=False)),
        )
