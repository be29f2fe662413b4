"""The JSON cache of the checked, merged registry.

Parsing and checking the TOML costs more than all of `list` otherwise does, so
the fast path (`list`, `show`, `status`, completion) reads the merged result
from `registry.json` in the cache folder, keyed by each file's size,
modification time and inode. What is read back is checked again like a
registry file (checks.py: cheap next to parsing TOML, and without `re` or
`urllib.parse`): an edited cache must never be a way around the checks.
"""

from __future__ import annotations

import os

from ..errors import RegistryError
from .checks import check_file, check_pkce_kept
from .model import SCHEMA_VERSION, WATCHED_FIELDS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..lean.filepath import FilePath
    from typing import Callable

    from .model import Provider

MAX_CACHE_BYTES = 16 * 1024 * 1024


def key_of(paths) -> list | None:
    """What the cache must have been written for: this version, and each file's stat; None if one is missing."""
    from .. import __version__

    key: list = [__version__, SCHEMA_VERSION]
    for path in paths:
        try:
            stat = os.stat(path)
        except OSError:
            return None  # reading it will say what is wrong
        key.append([str(path), stat.st_size, stat.st_mtime_ns, stat.st_ino])
    return key


def _cache_file(cache_dir: FilePath) -> FilePath:
    return cache_dir / "registry.json"


def read(cache_dir: FilePath, key: list, build: Callable[..., dict[str, Provider]]) -> dict[str, Provider] | None:
    """The cached providers, checked again as a registry file is; None when unusable.

    `build` is loading.build_providers, passed in so that this module does not
    import the one that imports it; what it refuses makes the cache unusable too."""
    from ..lean import jsonio
    from ..stores.files import UnsafePath, read_regular_file

    path = _cache_file(cache_dir)
    try:
        raw = read_regular_file(path, MAX_CACHE_BYTES, "the registry cache", own=True, follow_symlinks=False)
        if raw is None:
            return None
        data = jsonio.loads(raw)
        if data["key"] != key:
            return None
        merged, origin, overrides = data["providers"], data["origin"], data["overrides"]
        # Every check of a registry file, except that a parameter's own regular
        # expression is compiled where it is first used (Parameter.problem), not here.
        check_file({"providers": merged}, path, patterns=False)
        if set(origin) != set(merged) or not all(type(v) is str for v in origin.values()):
            return None
        for pid, fields in overrides.items():
            for field, fact in fields.items():
                if field not in WATCHED_FIELDS or type(fact["source"]) is not str:
                    return None
            bundled = {f: fact["bundled"] for f, fact in fields.items() if f in ("pkce", "grants")}
            check_pkce_kept(path, pid, {**merged[pid], **bundled}, merged[pid], merged[pid])
        return build(merged, origin, overrides, patterns=False)
    except (UnsafePath, OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError, RegistryError):
        # No cache, or an unusable or edited one: read the TOML (and say what is
        # wrong with it, if anything is).
        return None


def write(cache_dir: FilePath, key: list, merged: dict, origin: dict, overrides: dict) -> None:
    """Keep the merged registry for the next run, if the cache folder is ours and writable."""
    import json

    from ..stores.files import UnsafePath, atomic_write_text, check_own_dir

    try:
        check_own_dir(cache_dir, "the cache folder")  # never write into another user's folder
        document = {"key": key, "providers": merged, "origin": origin, "overrides": overrides}
        atomic_write_text(_cache_file(cache_dir), json.dumps(document))
    except (OSError, TypeError, ValueError, RecursionError, UnsafePath):
        pass  # a cache is an optimisation; a read-only folder is fine
