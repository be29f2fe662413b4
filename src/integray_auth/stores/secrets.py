"""Where tokens and client secrets live: the OS keyring, or, only by the
explicit `--storage file` (`--insecure-storage`) opt-in, a 0600 JSON file
(stores/file_store.py), or a team's Vault (`--storage vault`, stores/vault_store.py).

Every backend is one class behind the same small interface (SecretStore
below), picked by name from BACKENDS (stores/__init__.py), the one table (pipx's way). The name is
recorded per authorization (`storage`) with the backend's `locator()`, and
both outrank the environment afterwards: a changed environment can never
silently retarget an authorization's tokens.

keyring is imported here only, so commands that never touch a secret
(`list`, `search`, `show`) never pay for it, and neither does `token` for a
file-stored token. hashlib and secrets are imported where used, for the
same reason: a token small enough for one entry needs neither.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod

TYPE_CHECKING = False

from ..errors import StorageError
from ..lean import jsonio
from ..lean.scoped import NoLock
from ..tokens import TokenSet, UnusableTokens
from . import BACKENDS, STORAGE_KEYRING
from .files import atomic_write_text

if TYPE_CHECKING:
    from typing import ContextManager

    from ..context import AppContext
    from ..models import Authorization


class SecretStore(ABC):
    """Where an authorization's token set (and a provider's client secret) is kept.

    One subclass per backend, named in BACKENDS; the index records `kind` and
    `locator()` per authorization. A store only this machine sees keeps the
    defaults of lock() and record(); a shared one (Vault) overrides both."""

    kind: str  # its name in BACKENDS, recorded in the index as `storage`
    chunk_size: int | None  # ChunkedTokens splits larger values; None: never
    hold_limit: float | None = None  # seconds a refresh under lock() may take; None: no limit of its own

    @classmethod
    @abstractmethod
    def open(cls, ctx: AppContext, locator=None) -> SecretStore:
        """The store for `ctx`, at `locator` (what the index recorded) when given."""

    @abstractmethod
    def locator(self) -> str | dict[str, str] | None:
        """What the index records, to find the secrets again."""

    @abstractmethod
    def label(self) -> str:
        """For people: "the keyring (SecretService)", "Vault at ..."."""

    @abstractmethod
    def check_usable(self) -> None:
        """Raise StorageError before any browser opens when secrets cannot be kept."""

    @abstractmethod
    def get(self, key: str) -> str | None: ...

    @abstractmethod
    def set(self, key: str, value: str) -> str | None:
        """Keep `value`; a shared store may keep a better value it has, and returns it."""

    @abstractmethod
    def remove(self, key: str) -> None: ...

    def lock(self, authorization_id: str) -> ContextManager:
        """Held around a refresh, inside the local tokens_lock (usecases/access_token.py):
        nothing more for a store only this machine sees, a lease for a shared one."""
        return NoLock()

    def record(self, authorization: Authorization, health_only: bool = False) -> None:
        """Keep the authorization's metadata next to its tokens, for a store other machines
        read (after authorize and each refresh; `health_only` for a refresh). The index
        is the metadata of a local store: nothing to do."""


SERVICE = "integray-auth"
# Windows Credential Manager takes 2,560 bytes of UTF-16, 1,280 characters
# (Windows Credential Manager's CRED_MAX_CREDENTIAL_BLOB_SIZE, 2,560 bytes, as UTF-16). Chunk above 1,000 on every platform so
# the path Windows needs is the one Linux CI exercises.
CHUNK_SIZE = 1000

# What the tokens need when the keyring fails; client secrets have their own
# ways (client_secret_help), and `client set` takes no --insecure-storage.
STORAGE_HELP = (
    "Run again with --insecure-storage (the tokens in a 0600 file) or --storage vault, "
    "or start a Secret Service: integray-auth help keyring"
)
KEYRING_ANY_HELP = (
    "Tokens: --insecure-storage or --storage vault on add/authorize; client secrets: "
    "INTEGRAY_AUTH_<PROVIDER>_CLIENT_SECRET or --client-secret-stdin on add/authorize; "
    "or start a Secret Service: integray-auth help keyring"
)


def client_secret_help(env_prefix: str) -> str:
    """The ways to give a client secret without a usable keyring."""
    return (
        f"Give the secret in {env_prefix}_CLIENT_SECRET or with --client-secret-stdin on add/authorize, "
        "or start a Secret Service: integray-auth help keyring"
    )

def token_key(authorization_id: str) -> str:
    return f"authorization:{authorization_id}"


def client_secret_key(provider_id: str) -> str:
    return f"client-secret:{provider_id}"


def client_private_key_key(provider_id: str) -> str:
    """Where `client set --private-key-file` keeps a client's PEM key (private_key_jwt)."""
    return f"client-private-key:{provider_id}"


class ChunkedTokens:
    """Tokens of one authorization in a store, split into chunks when large.

    A large value is written as chunks of a new generation first, then the
    primary entry is replaced by a manifest naming that generation and its
    sha256, then the old generation is deleted: a crash at any point leaves
    the previous tokens or the new ones readable, never a mix.
    """

    def __init__(self, store: SecretStore) -> None:
        self.store = store

    def save(self, authorization_id: str, tokens: TokenSet) -> TokenSet | None:
        """Store `tokens`; None, or the set a shared store kept instead (a newer
        or broader one another machine wrote meanwhile: vault_store.replaces)."""
        key = token_key(authorization_id)
        chunk = getattr(self.store, "chunk_size", CHUNK_SIZE)
        # A store that never chunks has no old chunks to delete, and reading it
        # again here would move a check-and-set past the version refreshed from.
        old = self._manifest(self.store.get(key)) if chunk is not None else None
        payload = tokens.to_secret()
        if chunk is None:
            kept = self.store.set(key, payload)
            return None if kept is None else TokenSet.from_secret(kept)
        if len(payload) <= chunk:
            self.store.set(key, payload)
        else:
            import hashlib
            import secrets

            generation = secrets.token_hex(4)
            parts = [payload[i : i + chunk] for i in range(0, len(payload), chunk)]
            for number, part in enumerate(parts):
                self.store.set(f"{key}#{generation}.{number}", part)
            manifest = {"manifest": {"v": 1, "chunks": len(parts), "gen": generation,
                                     "sha256": hashlib.sha256(payload.encode()).hexdigest()}}
            self.store.set(key, jsonio.dumps(manifest, separators=(",", ":")))
        if old is not None:
            self._delete_chunks(key, old)
        return None

    def load(self, authorization_id: str) -> TokenSet | None:
        key = token_key(authorization_id)
        primary = self.store.get(key)
        if primary is None:
            return None
        manifest = self._manifest(primary)
        payload = primary
        if manifest is not None:
            import hashlib

            keys = [f"{key}#{manifest['gen']}.{number}" for number in range(manifest["chunks"])]
            # One round trip for all chunks where the store can (KeyringStore on D-Bus).
            get_many = getattr(self.store, "get_many", None)
            parts = get_many(keys) if get_many else [self.store.get(k) for k in keys]
            if None in parts:
                return None
            payload = "".join(parts)
            if hashlib.sha256(payload.encode()).hexdigest() != manifest["sha256"]:
                return None
        try:
            return TokenSet.from_secret(payload)
        except UnusableTokens:
            raise  # readable, but not fit to use: the store's error (exit 8), not "missing"
        except (ValueError, TypeError, KeyError, AttributeError):  # AttributeError: JSON but not an object
            return None

    def delete(self, authorization_id: str) -> None:
        key = token_key(authorization_id)
        manifest = self._manifest(self.store.get(key))
        self.store.remove(key)
        if manifest is not None:
            self._delete_chunks(key, manifest)

    def _delete_chunks(self, key: str, manifest: dict) -> None:
        for number in range(manifest["chunks"]):
            self.store.remove(f"{key}#{manifest['gen']}.{number}")

    @staticmethod
    def _manifest(text: str | None) -> dict | None:
        if not text or not text.startswith('{"manifest"'):
            return None
        try:
            manifest = jsonio.loads(text)["manifest"]
            if type(manifest["chunks"]) is not int or not 0 < manifest["chunks"] <= 1000:
                return None  # range() below needs a (sane) int, not "3" or true
            str(manifest["gen"]), str(manifest["sha256"])
            return manifest
        except (ValueError, KeyError, TypeError):
            return None


class RescuedTokens:
    """A token set the provider issued that the store would not keep.

    After a rotation the stored refresh token is spent, so dropping the new
    set would lose the grant. It waits in a 0600 file in the data folder,
    named in the exit-8 message, never silently: the next `token` moves it
    into the store (if the store still holds the set it replaces) and deletes
    the file; `remove` revokes and deletes it.
    """

    def __init__(self, data_dir, authorization_id: str) -> None:
        # The id comes from the index, which a user may edit: never a path.
        # (1-32 lower-case hex digits, checked without `re`: `token` passes here.)
        if not (0 < len(authorization_id) <= 32 and not authorization_id.strip("0123456789abcdef")):
            import hashlib

            authorization_id = hashlib.sha256(authorization_id.encode()).hexdigest()[:16]
        self.path = data_dir / f"tokens-rescued-{authorization_id}.json"

    def exists(self) -> bool:
        return os.path.lexists(self.path)

    def keep(self, tokens: TokenSet, replaces: TokenSet | None) -> None:
        """Write atomically, 0600; raises OSError."""
        data = {"schema_version": 1, "replaces": digest(replaces), "tokens": tokens.to_secret()}
        atomic_write_text(self.path, jsonio.dumps(data) + "\n")

    def load(self) -> tuple[TokenSet, str | None]:
        """The rescued set and the digest of the one it replaces; StorageError if unreadable."""
        from .files import MiB, UnsafePath, read_regular_file

        try:
            raw = read_regular_file(self.path, MiB, "the rescued tokens", own=True, follow_symlinks=False)
            if raw is None:
                raise FileNotFoundError(2, "No such file or directory")
            data = jsonio.loads(raw)
            return TokenSet.from_secret(data["tokens"]), data.get("replaces")
        except UnsafePath as exc:
            problem = exc.reason
        except OSError as exc:
            problem = exc.strerror or str(exc)
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
            problem = "not a rescued token set"
        raise StorageError(
            f"cannot read the rescued tokens in {self.path}: {problem}",
            hint="Delete that file, then run 'integray-auth authorize NAME'.",
        )

    def discard(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StorageError(f"cannot delete {self.path}: {exc.strerror or exc}") from None


def digest(tokens: TokenSet | None) -> str | None:
    """Identifies a stored token set without holding any of its secrets."""
    if tokens is None:
        return None
    import hashlib

    return hashlib.sha256(tokens.to_secret().encode()).hexdigest()


class KeyringStore(SecretStore):
    """The OS keyring through `keyring`; every failure becomes a StorageError."""

    kind = STORAGE_KEYRING
    chunk_size = CHUNK_SIZE

    def __init__(self, backend=None, preferred: str | None = None) -> None:
        self._backend = backend
        self.preferred = preferred
        self._direct = None  # secret_service.SecretServiceReader, False once it cannot answer

    @classmethod
    def open(cls, ctx: "AppContext", locator=None) -> "KeyringStore":
        return cls(preferred=locator if isinstance(locator, str) else None)

    def locator(self) -> str:
        """The keyring class, so reading the tokens back can skip keyring's discovery."""
        return self.describe()

    def label(self) -> str:
        return f"the keyring ({self.describe()})"

    @property
    def backend(self):
        if self._backend is None:
            try:
                self._backend = _choose_backend(self.preferred)
            except Exception as exc:  # noqa: BLE001 - keyring raises plain RuntimeErrors here
                raise StorageError(f"the keyring cannot be loaded: {_describe(exc)}", hint=STORAGE_HELP) from None
        return self._backend

    def describe(self) -> str:
        backend = self.backend
        return f"{type(backend).__module__}.{type(backend).__name__}"

    def check_usable(self) -> None:
        """Fail before any browser opens if tokens could not be kept."""
        from keyring.backends import chainer, fail, null

        backend = self.backend
        if isinstance(backend, (fail.Keyring, null.Keyring)):
            raise StorageError(f"no usable OS keyring ({self.describe()})", hint=STORAGE_HELP)
        if isinstance(backend, chainer.ChainerBackend) and not backend.backends:
            raise StorageError("no usable OS keyring (no backend in the chain)", hint=STORAGE_HELP)
        # A locked collection that cannot be unlocked, or a Secret Service
        # that cannot create its default collection, only shows on a write.
        import secrets

        probe = f"probe:{secrets.token_hex(4)}"
        self.set(probe, "probe")
        try:
            if self.get(probe) != "probe":
                raise StorageError(
                    f"the keyring ({self.describe()}) does not keep what is written to it", hint=STORAGE_HELP
                )
        finally:
            self.remove(probe)

    def get(self, key: str) -> str | None:
        direct = self._read_directly([key])
        if direct is not None:
            return direct[0]
        try:
            return self.backend.get_password(SERVICE, key)
        except Exception as exc:  # noqa: BLE001
            raise StorageError(f"cannot read from the keyring: {_describe(exc)}", hint=STORAGE_HELP) from None

    def get_many(self, keys: list[str]) -> list[str | None]:
        direct = self._read_directly(keys)
        return direct if direct is not None else [self.get(key) for key in keys]

    def _read_directly(self, keys: list[str]) -> list[str] | None:
        """The secrets straight from the Secret Service (secret_service.py), or
        None: then keyring reads, as it would have without this shortcut."""
        if self._direct is None:
            from ..lean import secret_service

            usable = self._backend is None and secret_service.applicable(self.preferred)
            self._direct = secret_service.SecretServiceReader() if usable else False
        if self._direct is False:
            return None
        from ..lean.secret_service import BrokenBus, Unavailable

        try:
            return self._direct.get_many(SERVICE, keys)
        except BrokenBus as exc:
            # Not keyring's path: it would parse the same bytes unchecked and wait with no deadline.
            self._direct = False
            raise StorageError(f"cannot read from the keyring: {exc}", hint=STORAGE_HELP) from None
        except Unavailable:
            self._direct = False
            return None

    def set(self, key: str, value: str) -> None:
        try:
            self.backend.set_password(SERVICE, key, value)
        except Exception as exc:  # noqa: BLE001
            raise StorageError(f"cannot write to the keyring: {_describe(exc)}", hint=STORAGE_HELP) from None

    def remove(self, key: str) -> None:
        from keyring.errors import PasswordDeleteError

        try:
            self.backend.delete_password(SERVICE, key)
        except PasswordDeleteError:
            pass  # already gone
        except Exception as exc:  # noqa: BLE001
            raise StorageError(f"cannot delete from the keyring: {_describe(exc)}", hint=STORAGE_HELP) from None


def default_secret_store(ctx: "AppContext", storage: str, locator=None) -> SecretStore:
    """The backend named `storage` in BACKENDS, opened at `locator`."""
    try:
        backend = BACKENDS[storage]
        module_name, class_name = backend.module, backend.store_class
    except KeyError:
        from ..errors import IndexError_

        raise IndexError_(
            f"unknown storage {storage!r} in the index (known: {', '.join(BACKENDS)})",
            hint="Upgrade integray-auth, or authorize it again with --storage keyring.",
        ) from None
    # __import__, not importlib.import_module: the `importlib` package imports
    # `warnings`, on `token`'s path. With a fromlist it returns the module itself.
    return getattr(__import__(module_name, fromlist=[class_name]), class_name).open(ctx, locator)


def store_of(ctx: "AppContext", authorization: "Authorization") -> SecretStore:
    """The store holding an authorization's tokens, as its index entry recorded it."""
    locator = authorization.locator if authorization.locator is not None else authorization.keyring_backend
    return ctx.secret_store(authorization.storage, locator)


def _choose_backend(preferred: str | None):
    """keyring's own choice, unless we know which backend stored the tokens.

    keyring's discovery imports every backend it can find (~50 ms, a third of
    `token`). The backend a user picked (PYTHON_KEYRING_BACKEND, keyringrc.cfg)
    or one set in this process still wins; a recorded class that cannot be
    loaded now falls back to discovery.
    """
    import keyring
    import keyring.core

    if preferred and getattr(keyring.core, "_keyring_backend", None) is None:
        chosen = keyring.core.load_env() or keyring.core.load_config() or _load_backend(preferred)
        if chosen is not None:
            return chosen
    return keyring.get_keyring()


def _load_backend(name: str):
    module, _, class_name = name.rpartition(".")
    if not (module.startswith("keyring.backends.") or module.startswith("keyrings.")):
        return None  # only keyring backends, whatever the index says
    try:
        import importlib

        backend_class = getattr(importlib.import_module(module), class_name)
        if backend_class.priority < 1:  # raises, or is low, where it is not viable now
            return None
        return backend_class()
    except Exception:  # noqa: BLE001 - any failure here means "let keyring decide"
        return None


def keyring_status(ctx: "AppContext") -> str:
    store = ctx.secret_store(STORAGE_KEYRING)
    try:
        store.check_usable()
    except StorageError as error:
        raise StorageError(error.message, hint=KEYRING_ANY_HELP) from None
    return f"usable ({store.describe()})"


def _describe(exc: Exception) -> str:
    if type(exc).__name__ == "NoKeyringError":  # its own text advises packages, not what we need
        return "no keyring backend is available here (no Secret Service on the session bus)"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
