"""One lock per authorization, held while its stored tokens change.

A refresh may rotate the refresh token (RFC 9700 §4.14), so two processes
renewing the same authorization must take turns; two different
authorizations have nothing to share, and one provider that is slow to
answer must not hold up `token` for every other. Hence one file per
authorization, `locks/<id>.lock` in the data folder (0600, never through a
symlink: fileutil.take_lock), keyed by the id, which a rename leaves alone.

The lock guards what the secret store holds, so a lock that cannot be had
is a storage error (exit 8). Stdlib only: `token` takes it on the fast path.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..lean.filepath import FilePath

from ..errors import StorageError
from ..lean.printable import quoted
from ..lean.scoped import contextmanager
from .files import hold_lock

LOCK_DIR = "locks"
# What a lock file may be named after, as is: 1-64 of these (ours are 12 hex digits).
# Checked with str.strip, not a regex: `re` costs half a `python -c pass` to import.
_FILE_NAME_CHARACTERS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-"


def lock_path(data_dir: FilePath, authorization_id: str) -> FilePath:
    """The lock file of one authorization."""
    if not (0 < len(authorization_id) <= 64 and not authorization_id.strip(_FILE_NAME_CHARACTERS)):
        # The id comes from the index, which a user may edit: never a path.
        import hashlib

        authorization_id = "h" + hashlib.sha256(authorization_id.encode()).hexdigest()[:24]
    return data_dir / LOCK_DIR / f"{authorization_id}.lock"


@contextmanager
def tokens_lock(data_dir: FilePath, authorization_id: str, name: str, timeout: float):
    """Hold the authorization's lock for the body; a lock that cannot be had
    within `timeout` seconds, or at all, is a StorageError, not a crash."""
    path = lock_path(data_dir, authorization_id)
    busy = f"another integray-auth process has been refreshing the token of {quoted(name)} for over {timeout:g} seconds"
    with hold_lock(path, StorageError, busy, f"cannot lock {path}", timeout, "Check the data folder's permissions."):
        yield
