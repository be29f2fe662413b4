"""The index snapshot's format: the checked entries as marshal rows, in
hashed chunks, keyed by the index file's size and keyed hash, the
interpreter, the class's layout and this version of the checks.

Why marshal: it is the interpreter's own format for plain data, already
imported at start-up, and reads rows in C; it is read only from the user's
own 0600 file, after the keyed hash of every byte was checked. Index (index.py)
decides when a snapshot is read or written; entries.py checks each row.
"""

from __future__ import annotations

import marshal
import os
import sys

from ..models import Authorization
from .entries import to_row
from .files import UnsafePath, create_private_file, read_regular_file

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..lean.filepath import FilePath

SNAPSHOT_FORMAT = 3  # 2: in chunks; 3: hashed with this user's key
SNAPSHOT_CHUNK = 1000
SNAPSHOT_KEY_NAME = "snapshot.key"
SNAPSHOT_KEY_BYTES = 32
# marshal's format, and the objects' layout, belong to one interpreter and one version of the class.
RUNTIME = (sys.implementation.cache_tag, marshal.version, Authorization.__slots__)


def code_stamp() -> tuple:
    """This version of the checks (entries.py, index.py, this file and models.py): a snapshot one version made
    is not believed by another that may check more. Two stats, once per process."""
    from .. import __version__, models

    here = os.path.dirname(__file__)
    checking = (models.__file__, __file__, *(os.path.join(here, name) for name in ("entries.py", "index.py")))
    try:
        return (__version__, *((info.st_size, info.st_mtime_ns) for info in map(os.stat, checking)))
    except (OSError, TypeError):  # no files (a zip, a frozen build): the version alone
        return (__version__,)


RUNTIME += code_stamp()

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
    the chunks, SNAPSHOT_CHUNK rows each (so only one chunk's marshal tables exist at a time)."""
    chunks = [marshal.dumps([to_row(a) for a in authorizations[start:start + SNAPSHOT_CHUNK]])
              for start in range(0, len(authorizations), SNAPSHOT_CHUNK)]
    header = marshal.dumps((made_for, tuple((len(chunk), keyed_hash(key, chunk)) for chunk in chunks)))
    return [keyed_hash(key, header), len(header).to_bytes(4, "big"), header, *chunks]


def snapshot_rows(blob: bytes, made_for: tuple, key: bytes) -> list | None:
    """The rows of the snapshot `blob` when it was hashed with `key` and made for the index
    `made_for` names; None for anything else, never an error. marshal reads only bytes whose
    hash was checked first. The rows are not checked yet: checked_rows does that."""
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


def new_snapshot_key(path: FilePath, replace: bool) -> bytes | None:
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
