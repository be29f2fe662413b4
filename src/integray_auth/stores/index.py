"""The authorization index: one JSON file of metadata, never a token.

Writes are atomic (temp file, fsync, replace) and serialised by a
cross-process lock, and every write re-reads the file under that lock, so
concurrent commands never lose each other's changes. A file that cannot be
parsed is never overwritten: every command that needs it stops with
`IndexError_` until the user runs `integray-auth doctor --repair`.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from datetime import datetime
    from typing import Iterator

    from ..lean.filepath import FilePath

from ..errors import IndexError_
from ..lean import jsonio
from ..lean.scoped import contextmanager
from ..models import KNOWN_FIELDS, Authorization
from .entries import (
    ID_AT,
    NAME_AT,
    ONE_PASS,
    SNAPSHOTS,
    EntryDecoder,
    checked_entry,
    checked_rows,
    entry_problem,
    extra_problem,
)
from .files import (
    GiB,
    HeldLock,
    LockError,
    LockTimeout,
    TooLarge,
    UnsafePath,
    atomic_write,
    check_own_dir,
    hold_lock,
    read_regular_file,
    size_text,
    take_lock,
    write_cache_file,
)
from .snapshot import (
    RUNTIME,
    SNAPSHOT_FORMAT,
    SNAPSHOT_KEY_BYTES,
    SNAPSHOT_KEY_NAME,
    keyed_hash,
    new_snapshot_key,
    snapshot_parts,
    snapshot_rows,
)

SCHEMA_VERSION = 1
# 100,000 authorizations of two connectors each are 85 MB as _write writes them, a million
# about 0.85 GB. The limit sits far above that: it only keeps something that is not an
# index from exhausting memory, and no write may cross it, so every index integray-auth
# writes, it reads. Reaching it is a limit, never damage (LIMIT_HINT).
MAX_INDEX_BYTES = 4 * GiB
REPAIR_HINT = "Run 'integray-auth doctor --repair' to set the broken file aside and start a new index."
LIMIT_HINT = ("The file is not damaged: keep it. integray-auth never writes an index this large; "
              "remove authorizations with the program that wrote it.")


class UnusableIndex(IndexError_):
    """The file cannot be read or parsed: `doctor --repair` may set it aside.

    Not raised for an index of a newer version: that one is fine, the
    program is too old, and moving it aside would hide it from the newer one.
    """


class Index:
    def __init__(self, path: FilePath, lock_path: FilePath, snapshot_path: FilePath | None = None) -> None:
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
            authorizations = None if rows is None else checked_rows(rows)
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
                picked = [row for row in rows if row[ID_AT] == name or row[NAME_AT].casefold() == wanted]
            except Exception:  # noqa: BLE001 - not rows of ours: no snapshot
                picked = None
            authorizations = None if picked is None else checked_rows(picked or rows)
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
    # (checked_row). Its own bytes are hashed too (a header, then chunks of rows), and
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
        return (SNAPSHOT_FORMAT, RUNTIME, len(raw), keyed_hash(secret, raw))

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
                self._key = new_snapshot_key(self.key_path, replace=key is not None or os.path.lexists(self.key_path))
        return self._key

    def _snapshot_rows(self, key: tuple | None) -> list | None:
        """The rows of the snapshot made for `key` (unchecked: see checked_rows), or None."""
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
            authorizations = None if rows is None else checked_rows(rows)
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
        decoder = EntryDecoder()
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
            problem = entry_problem(authorization) or (authorization.extra and extra_problem(authorization.extra))
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
        return hold_lock(self.lock_path, IndexError_, f"the index {self.path} is locked by another integray-auth process",
                         f"cannot lock the index: {self.lock_path}")

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
            authorization = checked_entry(document) if ONE_PASS and KNOWN_FIELDS.issuperset(document) else None
            if authorization is None:
                return
            authorizations.append(authorization)
        self._save_snapshot(self._content_key(raw, create=True), authorizations)

    def set_aside(self, now: datetime) -> FilePath | None:
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


def _append(items: list, item):
    items.append(item)
    return item
