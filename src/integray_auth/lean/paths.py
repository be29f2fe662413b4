"""Where integray-auth reads and writes its files.

`INTEGRAY_AUTH_HOME` moves every file the tool reads or writes into one folder
(handy for tests, CI and several identities); otherwise platformdirs decides.
platformdirs is imported only when needed: `list` and `token` are hot paths,
and importing it costs about twice `python -c pass` (pathlib, re, tempfile,
shutil, random); on Linux its XDG answer is worked out here (_xdg_folders).
"""

from __future__ import annotations

import os
import sys

from .filepath import FilePath
from .record import Record

APP_NAME = "integray-auth"
HOME_ENV = "INTEGRAY_AUTH_HOME"


class _In:
    """A file in one of the folders, read like a property (`paths.index_file`): one line a file."""

    __slots__ = ("folder", "name")

    def __init__(self, folder: str, name: str) -> None:
        self.folder, self.name = folder, name

    def __get__(self, paths: Paths | None, owner=None) -> FilePath:
        if paths is None:  # looked up on the class (help(), inspect): the descriptor itself
            return self  # type: ignore[return-value]
        return getattr(paths, self.folder) / self.name


class Paths(Record):
    __slots__ = ("config_dir", "data_dir", "cache_dir")

    def __init__(
        self,
        config_dir: FilePath,  # user registry overlay (written by `providers add`) and config.toml
        data_dir: FilePath,  # the index and, when opted in, the insecure token file
        cache_dir: FilePath | None = None,  # the checked registry, as JSON (None: no cache)
    ) -> None:
        self.config_dir = config_dir
        self.data_dir = data_dir
        self.cache_dir = cache_dir

    index_file = _In("data_dir", "index.json")
    lock_file = _In("data_dir", "index.lock")
    insecure_tokens_file = _In("data_dir", "tokens-insecure.json")
    user_registry = _In("config_dir", "providers.toml")
    config_file = _In("config_dir", "config.toml")

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> "Paths":
        env = os.environ if environ is None else environ
        home = env.get(HOME_ENV)
        if home:
            root = FilePath(home).expanduser()
            return cls(config_dir=root, data_dir=root, cache_dir=root / "cache")
        folders = _xdg_folders()
        if folders is not None:
            config, data, cache = (FilePath(folder) for folder in folders)
            return cls(config_dir=config, data_dir=data, cache_dir=cache)
        import platformdirs

        return cls(
            config_dir=FilePath(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
            data_dir=FilePath(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
            cache_dir=FilePath(platformdirs.user_cache_dir(APP_NAME, appauthor=False)),
        )


_XDG = (("XDG_CONFIG_HOME", "~/.config"), ("XDG_DATA_HOME", "~/.local/share"), ("XDG_CACHE_HOME", "~/.cache"))


def _xdg_folders() -> tuple[str, str, str] | None:
    """platformdirs' user_config_dir, user_data_dir and user_cache_dir on Linux
    (the XDG Base Directory variables when absolute, else under HOME), for the
    common case only: an absolute HOME, and each variable unset, blank or
    absolute. None otherwise (Android, a relative HOME or variable, where
    platformdirs' versions differ): platformdirs answers then.
    tests/test_paths.py compares the two. Like platformdirs, reads os.environ."""
    if sys.platform != "linux" or hasattr(sys, "getandroidapilevel") or "ANDROID_DATA" in os.environ:
        return None
    if not os.environ.get("HOME", "").startswith("/"):
        return None
    folders = []
    for variable, default in _XDG:
        value = os.environ.get(variable, "")
        if value.startswith("/"):
            base = value
        elif value.strip():
            return None
        else:
            base = os.path.expanduser(default)
        folders.append(os.path.join(base, APP_NAME))
    return folders[0], folders[1], folders[2]
