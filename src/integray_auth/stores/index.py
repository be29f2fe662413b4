"""The authorization index: one JSON file of metadata, never a token.

Writes are atomic (temp file, fsync, replace) and serialised by a
cross-process lock, and every write re-reads the file under that lock, so
concurrent commands never lose each other's changes. A file that cannot be
parsed is never overwritten: every command that needs it stops with
`IndexError_` until the user runs `integray-auth doctor --repair`.
"""

from __future__ import annotations

import marshal
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from datetime import datetime
    from pathlib import Path  # a FilePath (filepath.py) or a Path
    from typing import Iterator

from ..errors import IndexError_
from ..lean import jsonio
from ..lean.rows import row_codec
from ..lean.scoped import contextmanager
from ..models import KNOWN_FIELDS, Authorization
from .files import (
    GiB,
    HeldLock,
    LockError,
    LockTimeout,
    TooLarge,
    UnsafePath,
    atomic_write,
    check_own_dir,
    create_private_file,
    read_regular_file,
    size_text,
    take_lock,
    write_cache_file,
)

_new = object.__new__
_intern = sys.intern

SCHEMA_VERSION = 1
# 100,000 authorizations of two connectors each are 85 MB as _write writes them, a million
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
        # The random key its hashes are made with: in the data folder, beside the index, not
        # in the cache folder the snapshot lives in (_snapshot_key).
        self.key_path = path.with_name(SNAPSHOT_KEY_NAME)
        self._key: bytes | None = None

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
        key = self._content_key(raw, create=snapshot)
        if key is not None:
            del raw  # 60 MB at 100,000 entries: not held while the snapshot's objects are made
            rows = self._snapshot_rows(key)
            authorizations = None if rows is None else _checked_rows(rows)
            if authorizations is not None:
                return authorizations
            del rows
            raw = self._raw()  # no snapshot of it: read again (the cold path), and name what was read
            if raw is None:
                return []
            key = self._content_key(raw, create=snapshot)
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
        del raw
        if rows is not None:
            wanted = name.strip().casefold()
            try:  # the rows picked are checked before they are used
                picked = [row for row in rows if row[_ID_AT] == name or row[_NAME_AT].casefold() == wanted]
            except Exception:  # noqa: BLE001 - not rows of ours: no snapshot
                picked = None
            authorizations = None if picked is None else _checked_rows(picked or rows)
            if authorizations is not None:
                return authorizations
        return self.load()

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
    # objects are built and checked from it in a few more. The snapshot names the index
    # file's content it was made from (its size and a keyed hash of its bytes), so any
    # change to the file, by this tool, another version of it or a hand edit, makes it
    # unused until the next load() writes a new one. Only an index that parsed and passed
    # every check gets one, and its rows are checked again when read, by the same function
    # (_checked_row). Its own bytes are hashed too (a header, then chunks of rows), and
    # every hash is keyed with a random secret of this user's (snapshot.key, 0600, in the
    # data folder): a snapshot this user's integray-auth did not write, or a damaged one,
    # is never believed. Anything wrong with it, or with the key, is "no snapshot": the
    # JSON is read as before.

    def _content_key(self, raw: bytes, create: bool = False) -> tuple | None:
        """What a snapshot of the index bytes `raw` is made for; None: no snapshot applies
        (none are kept, or there is no key: with `create`, one is made)."""
        if self.snapshot_path is None:
            return None
        secret = self._snapshot_key(create)
        if secret is None:
            return None
        return (SNAPSHOT_FORMAT, _RUNTIME, len(raw), keyed_hash(secret, raw))

    def _snapshot_key(self, create: bool) -> bytes | None:
        """This user's snapshot key, read once; with `create`, a new one when there is none
        that may be used (absent, the wrong size, readable by others, not a plain file)."""
        if self._key is None:
            try:
                key = read_regular_file(self.key_path, 64, "the snapshot key", own=True, follow_symlinks=False,
                                        secret=True)
            except UnsafePath:
                key = None
            if key is not None and len(key) == SNAPSHOT_KEY_BYTES:
                self._key = key
            elif create:
                self._key = _new_snapshot_key(self.key_path, replace=key is not None or os.path.lexists(self.key_path))
        return self._key

    def _snapshot_rows(self, key: tuple | None) -> list | None:
        """The rows of the snapshot made for `key` (unchecked: see _checked_rows), or None."""
        if key is None or self._key is None:
            return None
        try:
            blob = read_regular_file(self.snapshot_path, MAX_INDEX_BYTES, "the index snapshot", own=True,
                                     follow_symlinks=False)
        except Exception:  # noqa: BLE001 - a cache: unreadable is absent
            return None
        return None if blob is None else snapshot_rows(blob, key, self._key)

    def _save_snapshot(self, key: tuple | None, authorizations: list[Authorization]) -> None:
        """The snapshot of `authorizations` (snapshot_parts), written in the cache folder; never an error."""
        if key is None or self._key is None:
            return
        try:
            # Written only from what _parse just made, or _write's fresh documents (_snapshot_written):
            # every entry's lists and dicts are its own
            # (marshal would keep an object two entries shared shared, and a change to one
            # would then show in both once loaded).
            write_cache_file(self.snapshot_path, snapshot_parts(key, authorizations, self._key))
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
            authorizations = None if rows is None else _checked_rows(rows)
            if authorizations is not None:
                return [(a.name, a.active, a.provider, a.connectors) for a in authorizations]
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
            problem = entry_problem(authorization) or (authorization.extra and _extra_problem(authorization.extra))
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
            authorization = _checked_entry(document) if ONE_PASS and KNOWN_FIELDS.issuperset(document) else None
            if authorization is None:
                return
            authorizations.append(authorization)
        self._save_snapshot(self._content_key(raw, create=True), authorizations)

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
    "refreshed_at", "refresh_rejected_at", "rejected_at",
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
        authorization = _checked_entry(item) if ONE_PASS and KNOWN_FIELDS.issuperset(item) else None
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
    """_checked_row of the entry `d` of index.json (of known fields only): the Authorization
    from_json(d) makes, or None when anything is unusual. The values entries repeat are kept
    once (sys.intern; the snapshot keeps them so)."""
    a = _checked_row(_entry_row(d))
    if a is None:
        return None
    # What many entries share (timestamps differ: not worth a lookup).
    a.provider, a.status = _intern(a.provider), _intern(a.status)
    a.connectors, a.requested_scopes = list(map(_intern, a.connectors)), list(map(_intern, a.requested_scopes))
    if a.granted_scopes is not None:
        a.granted_scopes = list(map(_intern, a.granted_scopes))
    if a.storage is not None:
        a.storage = _intern(a.storage)
    if a.client_id is not None:
        a.client_id = _intern(a.client_id)
    if a.keyring_backend is not None:
        a.keyring_backend = _intern(a.keyring_backend)
    if a.grant is not None:
        a.grant = _intern(a.grant)
    if type(a.locator) is str:
        a.locator = _intern(a.locator)
    return a


def _checked_row(row: tuple) -> Authorization | None:
    """The Authorization of a row of field values (in _ROW_FIELDS order) when they pass every
    check of `entry_problem`, and of `_extra_problem` for fields this version does not know;
    None when anything is unusual. The one check of an entry, from index.json (_checked_entry)
    or from the snapshot (_checked_rows): `list` of 10,000 runs it 10,000 times, so it is C
    loops where it can be. The types of the 26 fields are one tuple, and the tuples that
    passed _SLOT_TYPES are remembered (a few shapes cover an index); then the items of the
    lists and tables are checked. Keys are strings in JSON; marshal data may hold anything,
    so they are checked too."""
    shape = tuple(map(type, row)) if type(row) is tuple else None
    if shape not in _GOOD_SHAPES:
        if shape is None or len(shape) != len(_SLOT_TYPES) or not all(map(frozenset.__contains__, _SLOT_TYPES, shape)):
            return None
        _GOOD_SHAPES.add(shape)
    granted, locator, parameters, endpoints, extra = (row[_GRANTED], row[_LOCATOR], row[_PARAMETERS], row[_ENDPOINTS],
                                                      row[_EXTRA])
    listed = row[_CONNECTORS] + row[_REQUESTED]
    if not (
        _STRING.issuperset(map(type, listed if granted is None else listed + granted))
        and (endpoints is None or _STRING.issuperset(map(type, endpoints))
             and _STRING_OR_NONE.issuperset(map(type, endpoints.values())))
        and (parameters is None or _STRING.issuperset(map(type, parameters))
             and _STRING.issuperset(map(type, parameters.values())))
        and (type(locator) is not dict
             or _STRING.issuperset(map(type, locator)) and _STRING.issuperset(map(type, locator.values())))
        and (not extra or _STRING.issuperset(map(type, extra)) and KNOWN_FIELDS.isdisjoint(extra)
             and _extra_problem(extra) is None)
    ):
        return None
    return _from_row(row)


_S, _SN = frozenset({str}), frozenset({str, type(None)})
# The types each field may have: what entry_problem allows. A field of Authorization
# missing here turns the one-pass build and the snapshot off (ONE_PASS) rather than
# letting a value of any type through: to add one, give its types here (and check its
# items in _checked_row if it is a list or a table).
_FIELD_TYPES = {
    "id": _S, "name": _S, "provider": _S, "connectors": frozenset({list}), "requested_scopes": frozenset({list}),
    "created_at": _S, "updated_at": _S, "status": _S, "active": frozenset({bool}),
    "granted_scopes": frozenset({list, type(None)}), "authorized_at": _SN, "expires_at": _SN, "deactivated_at": _SN,
    "account": _SN, "storage": _SN, "client_id": _SN, "grant": _SN, "keyring_backend": _SN,
    "locator": frozenset({str, dict, type(None)}), "parameters": frozenset({dict, type(None)}),
    "endpoints": frozenset({dict, type(None)}), "renewable": frozenset({bool, type(None)}), "refreshed_at": _SN,
    "refresh_rejected_at": _SN, "rejected_at": _SN, "extra": frozenset({dict}),
}
# A row holds the fields in the class's own order; the codec is generated from it (lean/rows.py).
_ROW_FIELDS = Authorization.__slots__
SNAPSHOTS = ONE_PASS = set(_FIELD_TYPES) == set(_ROW_FIELDS)
_SLOT_TYPES = tuple(_FIELD_TYPES.get(name, frozenset()) for name in _ROW_FIELDS)
_row, _from_row, _entry_row = row_codec(Authorization, fresh_dicts=("extra",))
_AT = {name: position for position, name in enumerate(_ROW_FIELDS)}
_ID_AT, _NAME_AT = _AT["id"], _AT["name"]
_CONNECTORS, _REQUESTED, _GRANTED = _AT["connectors"], _AT["requested_scopes"], _AT["granted_scopes"]
_LOCATOR, _PARAMETERS, _ENDPOINTS, _EXTRA = _AT["locator"], _AT["parameters"], _AT["endpoints"], _AT["extra"]
_GOOD_SHAPES: set = set()  # field-type tuples that passed _SLOT_TYPES: at most a few dozen in an index


def entry_problem(authorization: Authorization) -> str | None:
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
             type(a.refreshed_at), type(a.refresh_rejected_at), type(a.rejected_at)} <= _STRING_OR_NONE
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
    """Fields this version does not know are kept, unless nested too deeply to copy (or
    holding what JSON cannot, which only marshal data could)."""
    todo = [(value, 1) for value in extra.values()]
    while todo:  # iterative: recursion is what must not happen here
        value, depth = todo.pop()
        kind = type(value)
        if kind is list or kind is dict:
            if depth >= MAX_EXTRA_DEPTH:
                return f"a field is nested more than {MAX_EXTRA_DEPTH} levels deep"
            if kind is dict and not _STRING.issuperset(map(type, value)):
                return "a field holds what JSON cannot"
            todo.extend((item, depth + 1) for item in (value.values() if kind is dict else value))
        elif kind not in _JSON_SCALARS:
            return "a field holds what JSON cannot"
    return None


_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})


# --- the snapshot's format (Index._snapshot_rows) ----------------------------------------------

SNAPSHOT_FORMAT = 3  # 2: in chunks; 3: hashed with this user's key
_SNAPSHOT_CHUNK = 1000
SNAPSHOT_KEY_NAME = "snapshot.key"
SNAPSHOT_KEY_BYTES = 32
# marshal's format, and the objects' layout, belong to one interpreter and one version of the class.
_RUNTIME = (sys.implementation.cache_tag, marshal.version, Authorization.__slots__)


def _code_stamp() -> tuple:
    """This version of the checks (here and in models.py): a snapshot one version made
    is not believed by another that may check more. Two stats, once per process."""
    from .. import __version__, models

    try:
        return (__version__, *((info.st_size, info.st_mtime_ns) for info in map(os.stat, (__file__, models.__file__))))
    except (OSError, TypeError):  # no files (a zip, a frozen build): the version alone
        return (__version__,)


_RUNTIME += _code_stamp()

try:  # CPython's SipHash-1-3 of .pyc sources (PEP 552): an undocumented internal, so only a first try
    from _imp import source_hash as _siphash
except Exception:  # noqa: BLE001 - absent: keyed_hash uses hashlib
    _siphash = None


def keyed_hash(key: bytes, data: bytes | memoryview) -> bytes:
    """8 bytes that only a holder of `key` (SNAPSHOT_KEY_BYTES random bytes) can compute for `data`.

    CPython's own SipHash-1-3 keyed with the key's first 64 bits, where it works: 2 ms for
    the 6 MB of an index of 10,000, nothing to import. hashlib's BLAKE2b keyed with all of it
    otherwise (any failure of the internal: absent, raising, a result of the wrong type):
    11 ms for those 6 MB, and 2.7 ms to import hashlib (it loads OpenSSL), where `token`
    takes 18 ms in all. The two disagree, so a snapshot hashed one way is not believed the
    other way: slower, never wrong."""
    if _siphash is not None:
        try:
            digest = _siphash(int.from_bytes(key[:8], "little", signed=True), data)  # a C long on LP64
        except Exception:  # noqa: BLE001 - e.g. OverflowError where a C long has 32 bits (Windows)
            digest = None
        if type(digest) is bytes and len(digest) == 8:
            return digest
    import hashlib

    return hashlib.blake2b(data, key=key, digest_size=8).digest()


def snapshot_parts(made_for: tuple, authorizations: list[Authorization], key: bytes) -> list[bytes]:
    """The snapshot of `authorizations` from the index `made_for` names, as the parts of its file:
    the header's hash, its length, the header ((made_for, (length, hash) of each chunk)), then
    the chunks, _SNAPSHOT_CHUNK rows each (so only one chunk's marshal tables exist at a time)."""
    chunks = [marshal.dumps([_row(a) for a in authorizations[start:start + _SNAPSHOT_CHUNK]])
              for start in range(0, len(authorizations), _SNAPSHOT_CHUNK)]
    header = marshal.dumps((made_for, tuple((len(chunk), keyed_hash(key, chunk)) for chunk in chunks)))
    return [keyed_hash(key, header), len(header).to_bytes(4, "big"), header, *chunks]


def snapshot_rows(blob: bytes, made_for: tuple, key: bytes) -> list | None:
    """The rows of the snapshot `blob` when it was hashed with `key` and made for the index
    `made_for` names; None for anything else, never an error. marshal reads only bytes whose
    hash was checked first. The rows are not checked yet: _checked_rows does that."""
    try:
        view = memoryview(blob)
        if len(view) < 12:
            return None
        end = 12 + int.from_bytes(view[8:12], "big")
        header = view[12:end]
        if view[:8] != keyed_hash(key, header):
            return None
        made, chunks = marshal.loads(header)
        if made != made_for:
            return None
        rows: list = []
        for length, digest in chunks:
            chunk = view[end:end + length]
            end += length
            if length < 0 or keyed_hash(key, chunk) != digest:
                return None
            rows += marshal.loads(chunk)
        if end != len(view):
            return None
    except Exception:  # noqa: BLE001 - a cache: whatever is wrong with it, it is not used
        return None
    return rows


def _checked_rows(rows: list) -> list[Authorization] | None:
    """The Authorizations of snapshot rows, each checked as an entry of index.json is
    (_checked_row), or None if any fails. In place: each row is freed as its object is made."""
    try:
        for position, row in enumerate(rows):
            authorization = _checked_row(row)
            if authorization is None:
                return None
            rows[position] = authorization
    except Exception:  # noqa: BLE001 - not rows of ours
        return None
    return rows


def _new_snapshot_key(path: Path, replace: bool) -> bytes | None:
    """A new random key at `path` (0600; over an unusable one with `replace`), or the one
    another process made first; None if neither (then there is no snapshot)."""
    key = os.urandom(SNAPSHOT_KEY_BYTES)
    try:
        if create_private_file(path, key, replace=replace):
            return key
        key = read_regular_file(path, 64, "the snapshot key", own=True, follow_symlinks=False, secret=True)
    except (OSError, UnsafePath):
        return None
    return key if key is not None and len(key) == SNAPSHOT_KEY_BYTES else None
