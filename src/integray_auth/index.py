"""The authorization index: one JSON file of metadata, never a token.

Writes are atomic (temp file, fsync, replace) and serialised by a
cross-process lock, and every write re-reads the file under that lock, so
concurrent commands never lose each other's changes. A file that cannot be
parsed is never overwritten: every command that needs it stops with
`IndexError_` until the user runs `integray-auth doctor --repair`.
"""

from __future__ import annotations

import _imp
import marshal
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from datetime import datetime
    from pathlib import Path  # a FilePath (filepath.py) or a Path
    from typing import Iterator

from . import jsonio
from .scoped import contextmanager
from .errors import IndexError_
from .fileutil import (
    GiB, HeldLock, LockError, LockTimeout, TooLarge, UnsafePath, atomic_write, check_own_dir, read_regular_file,
    size_text, take_lock, write_cache_file,
)
from .models import _KNOWN_FIELDS, NOT_AUTHORIZED, Authorization

_new = object.__new__
_intern = sys.intern

SCHEMA_VERSION = 1
# 100,000 authorizations of two connectors each are 84 MB as _write writes them, a million
# about 0.85 GB. The limit sits far above that: it only keeps something that is not an
# index from exhausting memory, and no write may cross it, so every index integray-auth
# writes, it reads. Reaching it is a limit, never damage (LIMIT_HINT).
MAX_INDEX_BYTES = 4 * GiB
# Unknown fields are kept and written back; deeper than this, copying and
# writing them would exhaust the stack (a known field is never this deep).
MAX_EXTRA_DEPTH = 32
REPAIR_HINT = "Run 'integray-auth doctor --repair' to set the broken file aside and start a new index."
LIMIT_HINT = ("The file is not damaged: keep it. integray-auth never writes an index this large; "
              "remove authorizations with the program that wrote it.")


class UnusableIndex(IndexError_):
    """The file cannot be read or parsed: `doctor --repair` may set it aside.

    Not raised for an index of a newer version: that one is fine, the
    program is too old, and moving it aside would hide it from the newer one.
    """


class Index:
    def __init__(self, path: Path, lock_path: Path, snapshot_path: Path | None = None) -> None:
        self.path = path
        self.lock_path = lock_path
        # A cache of the checked entries (see _snapshot_rows); None: always parse the JSON.
        self.snapshot_path = snapshot_path if SNAPSHOTS else None

    def check_writable(self) -> None:
        """Fail now, not after the user consented, if the index cannot be written."""
        self._check_folder()
        try:
            take_lock(self.lock_path).close()
        except LockError as exc:
            detail = "locked by another integray-auth process" if isinstance(exc, LockTimeout) else str(exc)
            raise IndexError_(
                f"cannot write the index folder {self.path.parent}: {detail}",
                hint="Check its permissions, or set INTEGRAY_AUTH_HOME to a writable folder.",
            ) from None

    def _check_folder(self) -> None:
        """The data folder must be the user's own (fileutil.check_own_dir); exit 4 if not."""
        try:
            check_own_dir(self.path.parent, "the data folder")
        except UnsafePath as exc:
            raise IndexError_(exc.message, hint=exc.hint) from None

    def load(self, snapshot: bool = True) -> list[Authorization]:
        """All authorizations; an absent file is an empty index. `snapshot`:
        write one when the JSON had to be parsed (not worth it when the
        caller is about to replace the file)."""
        raw = self._raw()
        if raw is None:
            return []
        key = self._content_key(raw)
        if key is not None:
            del raw  # 60 MB at 100,000 entries: not held while the snapshot's objects are made
            rows = self._snapshot_rows(key)
            if rows is not None:
                return _built(rows)
            raw = self._raw()  # no snapshot of it: read again (the cold path), and name what was read
            if raw is None:
                return []
            key = self._content_key(raw)
        try:
            # Decoded here, as json.loads would, so the bytes can go before the
            # objects are made: at 100,000 entries both copies are 70 MB.
            text = raw.decode(jsonio.detect_encoding(raw), "surrogatepass")
        except UnicodeDecodeError as exc:
            raise UnusableIndex(f"the index {self.path} is corrupt ({exc})", hint=REPAIR_HINT) from None
        del raw
        try:
            authorizations = self._parse(text)
        except RecursionError:
            # json and the checks below recurse; a file nested thousands deep is broken, not a crash.
            raise UnusableIndex(f"the index {self.path} is corrupt (nested too deeply)", hint=REPAIR_HINT) from None
        del text
        if snapshot:
            self._save_snapshot(key, authorizations)
        return authorizations

    def matching(self, name: str) -> list[Authorization]:
        """What find_in(·, name) needs: from the snapshot, only the entries `name`
        may mean (its id, or its name case-insensitively), in index order, or
        all of them when none matches (the not-found message suggests names);
        without a snapshot of this very file, load() (which writes one). The
        file is read once either way; `token` builds one entry."""
        raw = self._raw()
        if raw is None:
            return []
        rows = self._snapshot_rows(self._content_key(raw))
        if rows is None:
            del raw
            return self.load()
        wanted = name.strip().casefold()
        picked = [row for row in rows if row[0] == name or row[1].casefold() == wanted]
        return _built(picked or rows)

    def _raw(self) -> bytes | None:
        """The index file's bytes (None when there is none), read as every reader must."""
        self._check_folder()
        try:
            # No symlink is followed: every write replaces the file anyway, and
            # a link is how another user would point us at a file of theirs.
            return read_regular_file(self.path, MAX_INDEX_BYTES, "the index", own=True, follow_symlinks=False)
        except TooLarge:  # not UnusableIndex: doctor --repair must not set valid data aside
            raise IndexError_(
                f"cannot read the index {self.path}: it is larger than {size_text(MAX_INDEX_BYTES)}, "
                "the size limit of integray-auth",
                hint=LIMIT_HINT,
            ) from None
        except UnsafePath as exc:
            raise UnusableIndex(exc.message, hint=exc.hint or REPAIR_HINT) from None

    # --- the snapshot: the checked entries, as marshal data, for the file they came from ------
    #
    # Decoding JSON and checking and building each entry is most of `list` at 10,000
    # authorizations (68 ms); marshal data of the same entries loads in 6 ms, and the
    # objects are built from it in a few more. The snapshot names the index file's
    # content it was made from (its size and a 64-bit SipHash of its bytes, which
    # CPython computes for hash-based .pyc files: 1.5 ms for 6 MB), so any change to
    # the file, by this tool, another version of it or a hand edit, makes it unused
    # until the next load() writes a new one. Only an index that parsed and passed
    # every check gets one. Its own bytes are hashed too (a header, then chunks of rows):
    # a damaged snapshot is ignored, never believed. It is a cache in the cache folder: unreadable,
    # unwritable or absent, the JSON is read as before.

    def _content_key(self, raw: bytes) -> tuple | None:
        if self.snapshot_path is None:
            return None
        return (SNAPSHOT_FORMAT, _RUNTIME, len(raw), _source_hash(_HASH_KEY, raw))

    def _snapshot_rows(self, key: tuple | None) -> list | None:
        if key is None:
            return None
        try:
            blob = read_regular_file(self.snapshot_path, MAX_INDEX_BYTES, "the index snapshot", own=True,
                                     follow_symlinks=False)
            if blob is None or len(blob) < 12:
                return None
            view = memoryview(blob)
            end = 12 + int.from_bytes(view[8:12], "big")
            header = view[12:end]
            if view[:8] != _source_hash(_HASH_KEY, header):
                return None
            made_for, chunks = marshal.loads(header)
            if made_for != key:
                return None
            rows: list = []
            for length, digest in chunks:
                chunk = view[end:end + length]
                end += length
                if _source_hash(_HASH_KEY, chunk) != digest:
                    return None
                rows += marshal.loads(chunk)
            if end != len(blob):
                return None
        except (UnsafePath, OSError, ValueError, EOFError, TypeError):
            return None
        return rows

    def _save_snapshot(self, key: tuple | None, authorizations: list[Authorization]) -> None:
        """Chunks of _SNAPSHOT_CHUNK rows, each with its length and hash in the header
        (itself hashed): only one chunk's rows exist at a time, so writing adds about
        the snapshot's size to the reader's memory, not marshal's tables for all of it."""
        if key is None:
            return
        try:
            # Written only from what _parse just made, or _write's fresh documents (_snapshot_written):
            # every entry's lists and dicts are its own
            # (marshal would keep an object two entries shared shared, and a change to one
            # would then show in both once loaded).
            chunks = [marshal.dumps([_row(a) for a in authorizations[start:start + _SNAPSHOT_CHUNK]])
                      for start in range(0, len(authorizations), _SNAPSHOT_CHUNK)]
            header = marshal.dumps((key, tuple((len(chunk), _source_hash(_HASH_KEY, chunk)) for chunk in chunks)))
            write_cache_file(self.snapshot_path,
                             [_source_hash(_HASH_KEY, header), len(header).to_bytes(4, "big"), header, *chunks])
        except (OSError, ValueError, OverflowError, UnsafePath):
            pass  # a cache: a read-only or foreign cache folder just means the JSON next time

    def summaries(self) -> list[tuple[str, bool, str, list]]:
        """(name, active, provider, connector ids) of each authorization, without
        building them: shell completion asks on every Tab. An unusable index has none
        (a FIFO or another user's file there is not read, never waited on)."""
        try:
            raw = self._raw()
            if raw is None:
                return []
            rows = self._snapshot_rows(self._content_key(raw))
            if rows is not None:
                return [(row[1], row[8], row[2], row[3]) for row in rows]  # _ROW_FIELDS' name, active, ...
            data = jsonio.loads(raw)
            if data.get("schema_version") != SCHEMA_VERSION:
                return []
            return [
                (e["name"], e.get("active", True) is not False, e.get("provider"), e.get("connectors") or [])
                for e in data["authorizations"]
                if isinstance(e["name"], str)
            ]
        except (IndexError_, OSError, ValueError, UnicodeDecodeError, TypeError, KeyError, AttributeError, RecursionError):
            return []

    def _parse(self, raw: str | bytes) -> list[Authorization]:
        decoder = _EntryDecoder()
        try:
            data = jsonio.loads(raw, object_hook=decoder)
            if decoder.made and not (
                isinstance(data, dict) and isinstance(data.get("authorizations"), list)
                and sum(type(item) is Authorization for item in data["authorizations"]) == decoder.made
            ):
                # Something nested looked like an entry (a newer version's field,
                # a hand edit): decode again as plain JSON, the rules below decide.
                data = jsonio.loads(raw)
                decoder = None
        except (ValueError, UnicodeDecodeError) as exc:
            raise UnusableIndex(f"the index {self.path} is corrupt ({exc})", hint=REPAIR_HINT) from None
        if not isinstance(data, dict) or not isinstance(data.get("authorizations"), list):
            raise UnusableIndex(f"the index {self.path} is corrupt (not an integray-auth index)", hint=REPAIR_HINT)
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            if isinstance(version, int) and version > SCHEMA_VERSION:
                raise IndexError_(
                    f"the index {self.path} was written by a newer integray-auth (schema {version})",
                    hint="Upgrade integray-auth.",
                )
            raise UnusableIndex(f"the index {self.path} has an unknown schema_version {version!r}", hint=REPAIR_HINT)
        # The ones the decoder built from well-formed entries are checked already.
        unchecked = [] if decoder is None else decoder.unchecked
        try:
            authorizations = [item if type(item) is Authorization else _append(unchecked, Authorization.from_json(item))
                              for item in data["authorizations"]]
        except (TypeError, AttributeError) as exc:
            raise UnusableIndex(f"the index {self.path} is corrupt (bad entry: {exc})", hint=REPAIR_HINT) from None
        for authorization in authorizations if decoder is None else unchecked:
            problem = _entry_problem(authorization) or (authorization.extra and _extra_problem(authorization.extra))
            if problem:
                raise UnusableIndex(f"the index {self.path} is corrupt (bad entry: {problem})", hint=REPAIR_HINT)
        return authorizations

    @contextmanager
    def transaction(self) -> Iterator[list[Authorization]]:
        """Lock, read, let the caller change the list, write it back atomically.

        If the body raises, nothing is written.
        """
        with self._locked():
            authorizations = self.load(snapshot=False)
            yield authorizations
            self._write(authorizations)

    def _locked(self) -> HeldLock:
        """The index lock, held; failing to get it is an IndexError_, never a traceback."""
        self._check_folder()
        try:
            return take_lock(self.lock_path)
        except LockTimeout:
            raise IndexError_(
                f"the index {self.path} is locked by another integray-auth process",
                hint="Wait for it to finish, then run the command again.",
            ) from None
        except LockError as exc:
            raise IndexError_(f"cannot lock the index: {self.lock_path}: {exc}") from None

    def _write(self, authorizations: list[Authorization]) -> None:
        # One authorization per line: still readable and diffable, and json's C
        # encoder does the work (its indenting one is pure Python, ~4x slower,
        # and indenting made the file half as large again).
        encode = jsonio.encoder(ensure_ascii=False)
        documents = [a.to_json() for a in authorizations]
        lines = ",\n".join(map(encode, documents))
        text = f'{{"schema_version": {SCHEMA_VERSION}, "authorizations": [\n{lines}\n]}}\n' if lines else \
            f'{{"schema_version": {SCHEMA_VERSION}, "authorizations": []}}\n'
        raw = text.encode("utf-8")  # once: the file's bytes, and what its snapshot is named after
        if len(raw) > MAX_INDEX_BYTES:  # what integray-auth writes, it must read back
            raise IndexError_(
                f"cannot write the index {self.path}: it would be {size_text(len(raw))}, more than the "
                f"size limit of integray-auth ({size_text(MAX_INDEX_BYTES)}); nothing was changed",
                hint="Remove authorizations you no longer need ('integray-auth remove NAME'), then run the command again.",
            )
        try:
            atomic_write(self.path, raw)
        except OSError as exc:
            raise IndexError_(f"cannot write the index {self.path}: {exc.strerror}") from None
        self._snapshot_written(raw, documents)

    def _snapshot_written(self, raw: bytes, documents: list[dict]) -> None:
        """The snapshot of the file just written, so the next read need not parse it:
        the entries as a reader would build them from that file (to_json's documents are
        deep copies, so no two share a list), each checked as on a read; none when one is
        unusual (unknown fields, say): the next read parses the JSON and decides."""
        if self.snapshot_path is None:
            return
        authorizations = []
        for document in documents:
            authorization = _checked_entry(document) if ONE_PASS and _KNOWN_FIELDS.issuperset(document) else None
            if authorization is None:
                return
            authorizations.append(authorization)
        self._save_snapshot(self._content_key(raw), authorizations)

    def set_aside(self, now: datetime) -> Path | None:
        """Rename a broken index out of the way (for `doctor --repair`)."""
        with self._locked():
            if not os.path.lexists(self.path):  # a dangling symlink is set aside too
                return None
            stamp = now.strftime("%Y%m%dT%H%M%SZ")
            target = self.path.with_name(f"{self.path.name}.broken-{stamp}")
            n = 1
            while os.path.lexists(target):  # a second repair within the same second
                target = self.path.with_name(f"{self.path.name}.broken-{stamp}-{n}")
                n += 1
            try:
                os.replace(self.path, target)
            except OSError as exc:
                raise IndexError_(f"cannot move the index {self.path} aside: {exc.strerror or exc}") from None
            return target


_STRING_OR_NONE = frozenset({str, type(None)})
_STRING = frozenset({str})
_OPTIONAL_STRINGS = (
    "authorized_at", "expires_at", "deactivated_at", "account", "storage", "client_id", "keyring_backend",
    "refreshed_at", "refresh_rejected_at",
)


class _EntryDecoder:
    """json's object_hook: each entry becomes an Authorization as soon as it is
    decoded, so its dict is freed at once instead of all 100,000 living until
    the end, and the values entries repeat (provider, status, connector and
    scope ids) are kept once (sys.intern): 1.8 -> 1.2 KiB per entry at 100,000.
    Objects that only look like an entry but sit elsewhere are counted, and
    `_parse` then decodes the file again without this hook: the result never
    differs from plain json.loads.

    A well-formed entry is checked and built in one pass (`_checked_entry`,
    ~1 µs, against ~9 µs for from_json(**) plus the checks); anything else
    goes the long way, and `_parse` checks those (`unchecked`)."""

    __slots__ = ("made", "unchecked")

    def __init__(self) -> None:
        self.made = 0
        self.unchecked: list[Authorization] = []

    def __call__(self, item: dict):
        if "id" not in item or "requested_scopes" not in item or "authorizations" in item:
            return item
        authorization = _checked_entry(item) if ONE_PASS and _KNOWN_FIELDS.issuperset(item) else None
        if authorization is None:
            try:
                authorization = Authorization.from_json(item)
            except TypeError:
                return item  # `_parse` says what is wrong with it
            self.unchecked.append(authorization)
        self.made += 1
        return authorization


def _append(items: list, item):
    items.append(item)
    return item


def _checked_entry(d: dict) -> Authorization | None:
    """The Authorization from_json(d) makes, when d (of known fields only)
    passes every check of `_entry_problem`; None when anything is unusual.
    The checks are C loops (issuperset over map) where they can be: `list`
    of 10,000 runs this 10,000 times."""
    get = d.get
    try:
        id_, name, provider, created, updated = d["id"], d["name"], d["provider"], d["created_at"], d["updated_at"]
        connectors, requested = d["connectors"], d["requested_scopes"]
    except KeyError:
        return None
    status, active, granted = get("status", NOT_AUTHORIZED), get("active", True), get("granted_scopes")
    endpoints, parameters, grant, renewable = get("endpoints"), get("parameters"), get("grant"), get("renewable")
    locator = get("locator")
    optional = tuple(map(get, _OPTIONAL_STRINGS))
    if not (
        type(id_) is type(name) is type(provider) is type(status) is type(created) is type(updated) is str
        and type(connectors) is type(requested) is list
        and type(active) is bool
        and (granted is None or type(granted) is list)
        and _STRING_OR_NONE.issuperset(map(type, optional))
        and (grant is None or type(grant) is str)
        and (renewable is None or type(renewable) is bool)
        and (endpoints is None or type(endpoints) is dict and _STRING_OR_NONE.issuperset(map(type, endpoints.values())))
        and (parameters is None or type(parameters) is dict and _STRING.issuperset(map(type, parameters.values())))
        and (locator is None or type(locator) is str
             or type(locator) is dict and _STRING.issuperset(map(type, locator.values())))  # JSON keys are strings
    ):
        return None
    try:  # sys.intern takes exact strings only: a TypeError is a list holding something else
        connectors, requested = list(map(_intern, connectors)), list(map(_intern, requested))
        if granted is not None:
            granted = list(map(_intern, granted))
    except TypeError:
        return None
    a = _new(Authorization)
    a.id, a.name, a.provider, a.connectors, a.requested_scopes = id_, name, _intern(provider), connectors, requested
    a.created_at, a.updated_at, a.status, a.active, a.granted_scopes = created, updated, _intern(status), active, granted
    (a.authorized_at, a.expires_at, a.deactivated_at, a.account, storage, client_id, keyring_backend,
     a.refreshed_at, a.refresh_rejected_at) = optional
    # What many entries share (timestamps differ: not worth a lookup).
    a.storage = storage if storage is None else _intern(storage)
    a.client_id = client_id if client_id is None else _intern(client_id)
    a.keyring_backend = keyring_backend if keyring_backend is None else _intern(keyring_backend)
    a.grant = grant if grant is None else _intern(grant)
    a.locator = _intern(locator) if type(locator) is str else locator
    a.parameters, a.endpoints, a.renewable, a.extra = parameters, endpoints, renewable, {}
    return a


# The fields _checked_entry sets, beside the optional strings: a field added to
# Authorization and not here turns the one-pass build off (a test says so)
# rather than leaving a slot unset. To add one: check its type in
# _checked_entry as _entry_problem does, set the slot, and name it here.
_ONE_PASS_FIELDS = (
    "id", "name", "provider", "connectors", "requested_scopes", "created_at", "updated_at", "status", "active",
    "granted_scopes", "grant", "parameters", "endpoints", "renewable", "locator",
)
ONE_PASS = _OPTIONAL_STRINGS == (
    "authorized_at", "expires_at", "deactivated_at", "account", "storage", "client_id", "keyring_backend",
    "refreshed_at", "refresh_rejected_at",
) and _KNOWN_FIELDS == frozenset(_ONE_PASS_FIELDS + _OPTIONAL_STRINGS)


def _entry_problem(authorization: Authorization) -> str | None:
    """What makes a hand-edited entry unusable (a crash later would be worse)."""
    a = authorization
    if (  # the common case, checked fast: `list` reads every entry
        type(a.id) is type(a.name) is type(a.provider) is type(a.status) is str
        and type(a.created_at) is type(a.updated_at) is str
        and type(a.connectors) is type(a.requested_scopes) is list
        and all(type(item) is str for item in a.connectors)
        and all(type(item) is str for item in a.requested_scopes)
        and type(a.active) is bool
        and (a.endpoints is None or type(a.endpoints) is dict and all(v is None or type(v) is str for v in a.endpoints.values()))
        and (a.grant is None or type(a.grant) is str)
        and (a.parameters is None or type(a.parameters) is dict and all(type(v) is str for v in a.parameters.values()))
        and (a.granted_scopes is None or type(a.granted_scopes) is list and all(type(s) is str for s in a.granted_scopes))
        and {type(a.authorized_at), type(a.expires_at), type(a.deactivated_at), type(a.account),
             type(a.storage), type(a.client_id), type(a.keyring_backend),
             type(a.refreshed_at), type(a.refresh_rejected_at)} <= _STRING_OR_NONE
        and (a.renewable is None or type(a.renewable) is bool)
        and (a.locator is None or type(a.locator) is str)
    ):
        return None
    for name in ("id", "name", "provider", "status", "created_at", "updated_at"):
        if not isinstance(getattr(authorization, name), str):
            return f"'{name}' is not a string"
    for name in ("connectors", "requested_scopes"):
        value = getattr(authorization, name)
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            return f"'{name}' is not a list of strings"
    if not isinstance(authorization.active, bool):
        return "'active' is not true or false"
    endpoints = authorization.endpoints
    if endpoints is not None and (
        not isinstance(endpoints, dict)
        or not all(isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in endpoints.items())
    ):
        return "'endpoints' is not a table of strings"
    if authorization.grant is not None and not isinstance(authorization.grant, str):
        return "'grant' is not a string"
    parameters = authorization.parameters
    if parameters is not None and (
        not isinstance(parameters, dict) or not all(isinstance(v, str) for v in parameters.values())
    ):
        return "'parameters' is not a table of strings"
    for name in _OPTIONAL_STRINGS:
        if getattr(authorization, name) is not None and not isinstance(getattr(authorization, name), str):
            return f"'{name}' is not a string"
    granted = authorization.granted_scopes
    if granted is not None and (not isinstance(granted, list) or not all(isinstance(item, str) for item in granted)):
        return "'granted_scopes' is not a list of strings"
    if authorization.renewable is not None and not isinstance(authorization.renewable, bool):
        return "'renewable' is not true or false"
    locator = authorization.locator
    if not (
        locator is None
        or isinstance(locator, str)
        or isinstance(locator, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in locator.items())
    ):
        return "'locator' is not a string or a table of strings"
    return None


def _extra_problem(extra: dict) -> str | None:
    """Fields this version does not know are kept, unless nested too deeply to copy."""
    todo = [(value, 1) for value in extra.values()]
    while todo:  # iterative: recursion is what must not happen here
        value, depth = todo.pop()
        if isinstance(value, (list, dict)):
            if depth >= MAX_EXTRA_DEPTH:
                return f"a field is nested more than {MAX_EXTRA_DEPTH} levels deep"
            todo.extend((item, depth + 1) for item in (value.values() if isinstance(value, dict) else value))
    return None


# --- the snapshot's format (Index._snapshot_rows) ----------------------------------------------

SNAPSHOT_FORMAT = 2  # 2: in chunks
_SNAPSHOT_CHUNK = 1000
# marshal's format, and the objects' layout, belong to one interpreter and one version of the class.
_RUNTIME = (sys.implementation.cache_tag, marshal.version, Authorization.__slots__)


def _code_stamp() -> tuple:
    """This version of the checks (here and in models.py): a snapshot one version made
    is not believed by another that may check more. Two stats, once per process."""
    from . import __version__, models

    try:
        return (__version__, *((info.st_size, info.st_mtime_ns) for info in map(os.stat, (__file__, models.__file__))))
    except (OSError, TypeError):  # no files (a zip, a frozen build): the version alone
        return (__version__,)


_RUNTIME += _code_stamp()
_HASH_KEY = 0x1A7E_64A7_0001  # any fixed key: the hash names content, it guards nothing secret
_source_hash = getattr(_imp, "source_hash", None)  # CPython's SipHash of .pyc sources (PEP 552)
_ROW_FIELDS = (
    "id", "name", "provider", "connectors", "requested_scopes", "created_at", "updated_at", "status", "active",
    "granted_scopes", "authorized_at", "expires_at", "deactivated_at", "account", "storage", "client_id", "grant",
    "keyring_backend", "locator", "parameters", "endpoints", "renewable", "refreshed_at", "refresh_rejected_at",
    "extra",
)
# Off when the interpreter lacks the hash, or the class's fields moved without _built following
# (a test says so): then every read parses the JSON, as before.
SNAPSHOTS = _source_hash is not None and _ROW_FIELDS == Authorization.__slots__


def _built(rows: list) -> list[Authorization]:
    """The Authorizations of snapshot rows, in place: each row is freed as its object is made."""
    new, cls = _new, Authorization
    for position, row in enumerate(rows):
        a = new(cls)
        (a.id, a.name, a.provider, a.connectors, a.requested_scopes, a.created_at, a.updated_at, a.status, a.active,
         a.granted_scopes, a.authorized_at, a.expires_at, a.deactivated_at, a.account, a.storage, a.client_id, a.grant,
         a.keyring_backend, a.locator, a.parameters, a.endpoints, a.renewable, a.refreshed_at, a.refresh_rejected_at,
         a.extra) = row
        rows[position] = a
    return rows


def _row(a: Authorization) -> tuple:
    """_built's row of one Authorization (the fields in _ROW_FIELDS order)."""
    return (a.id, a.name, a.provider, a.connectors, a.requested_scopes, a.created_at, a.updated_at, a.status, a.active,
            a.granted_scopes, a.authorized_at, a.expires_at, a.deactivated_at, a.account, a.storage, a.client_id, a.grant,
            a.keyring_backend, a.locator, a.parameters, a.endpoints, a.renewable, a.refreshed_at, a.refresh_rejected_at,
            a.extra)
