"""Vault (or OpenBao) as a secret store: the token sets of the team's shared
authorizations, one KV v2 document each, written by check-and-set, and the
lease that makes a refresh single-flight across machines.

The metadata beside them is the shared index (shared_index.py); the
connection, configuration and transport rules are vault.py's.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import socket
import time
from datetime import datetime
from typing import TYPE_CHECKING

from ..errors import IntegrayAuthError, StorageError
from ..models import STORAGE_VAULT
from ..oauth.endpoint import request_deadline
from ..tokens import TokenSet
from .secrets import SecretStore
from .shared_index import SharedIndex
from .vault import LEASE_ENV, MAX_VAULT_ANSWER, CasConflict, Settings, Vault, checked_id, lease_seconds

if TYPE_CHECKING:
    from ..context import AppContext
    from ..models import Authorization

_TOKEN_KEY = re.compile(r"authorization:([0-9a-f]{1,32})")


class VaultStore(SecretStore):
    """The secret-store interface over Vault KV v2: the token sets of shared authorizations."""
    kind = STORAGE_VAULT
    chunk_size = None  # a KV document holds a token set of any size

    def __init__(self, settings: Settings, environ, deadline: float) -> None:
        self.settings = settings
        self.environ = environ
        self.vault = Vault(settings, environ, deadline)
        self.index = SharedIndex(self.vault)  # the metadata beside the tokens
        # The version each path was read at: a write goes over that one only.
        self._versions: dict[str, int] = {}

    @classmethod
    def open(cls, ctx: "AppContext", locator=None) -> "VaultStore":
        return cls(Settings.load(ctx, locator if isinstance(locator, dict) else None), ctx.environ, request_deadline(ctx.environ))

    def locator(self) -> dict[str, str]:
        return self.settings.locator()

    def label(self) -> str:
        return self.settings.where()

    def check_usable(self) -> None:
        self.vault.check()

    # -- get / set / remove: only token sets, by their key ------------------------------

    def _path(self, key: str) -> str:
        found = _TOKEN_KEY.fullmatch(key)
        if not found:
            # Client secrets, probes, chunks: none of them belongs in the team's Vault.
            raise StorageError(f"{self.settings.where()} keeps only the tokens of shared authorizations, not {key.split(':')[0]}")
        return f"authorizations/{found.group(1)}/tokens"

    def get(self, key: str) -> str | None:
        path = self._path(key)
        document, version = self.vault.read(path)
        self._versions[path] = version
        tokens = document.get("tokens") if document else None
        if tokens is None:
            return None
        if not isinstance(tokens, str) or len(tokens) > MAX_VAULT_ANSWER:
            raise StorageError(f"{self.settings.where()}: the tokens at {path} are not a token set of integray-auth's",
                               hint="Authorize it again: integray-auth authorize NAME.")
        return tokens

    def set(self, key: str, value: str) -> str | None:
        """Write the token set `value` over the version read (check-and-set).

        When another machine wrote meanwhile, its set is read back and `value`
        replaces it only if it is no older (the access token expires no
        sooner) and has no fewer scopes; otherwise the set in Vault stays and
        is returned, for the caller to use instead. None: `value` is stored.
        """
        path = self._path(key)
        if path not in self._versions:
            self.get(key)
        for _ in range(5):
            try:
                self._versions[path] = self.vault.write(path, {"schema_version": 1, "tokens": value}, cas=self._versions[path])
                return None
            except CasConflict:
                current = self.get(key)  # and its version, to write over if ours is better
                if current is not None and not replaces(value, current):
                    return current
        raise CasConflict(f"{self.settings.where()}: the tokens at {path} keep changing (check-and-set)",
                          hint="Run the command again; if it recurs, check for a machine looping on it.")

    def remove(self, key: str) -> None:
        path = self._path(key)
        folder = path.rsplit("/", 1)[0]
        authorization_id = folder.rsplit("/", 1)[1]
        recorded = self.index.load(authorization_id)
        for part in ("tokens", "meta", "health", "lease"):
            self.vault.destroy(f"{folder}/{part}")
        self._versions.pop(path, None)
        if recorded is not None:
            self.index.release_name(recorded.name, authorization_id)

    # -- metadata: the shared index beside the tokens ------------------------------------

    def record(self, authorization: "Authorization", health_only: bool = False) -> None:
        """The authorization's metadata next to its tokens, for other machines (SharedIndex.record)."""
        self.index.record(authorization, health_only)

    # -- the cross-machine refresh lock ---------------------------------------------------

    @property
    def hold_limit(self) -> float:
        """How long a refresh under lock() may take: less than the lease, so no
        other machine takes the lease over while this one still refreshes."""
        return max(1.0, lease_seconds(self.environ) * 0.8)

    @contextlib.contextmanager
    def lock(self, authorization_id: str):
        """Single flight across machines: a lease document taken by check-and-set.

        A live lease of another machine is waited for; an expired one (its holder
        died mid-refresh) is taken over. Clocks are compared, so machines sharing
        a Vault need synchronised clocks (NTP), as Vault itself does.
        """
        path = f"authorizations/{checked_id(authorization_id)}/lease"
        seconds = lease_seconds(self.environ)
        holder = f"{socket.gethostname()[:64]}:{os.getpid()}:{secrets.token_hex(4)}"
        give_up = time.monotonic() + seconds + self.vault.deadline
        conflicts, version = 0, 0
        while True:
            document, version = self.vault.read(path)
            now = time.time()
            other, until = _lease(document)
            if until <= now:
                try:
                    version = self.vault.write(path, {"holder": holder, "expires_at": now + seconds}, cas=version)
                    break
                except CasConflict:
                    conflicts += 1  # another machine took it first: wait for it like any holder
                    if conflicts > 50:
                        raise CasConflict(
                            f"{self.settings.where()}: the refresh lease of {authorization_id} keeps changing hands (check-and-set)",
                            hint="Run the command again; if it recurs, check for a machine looping on it.",
                        ) from None
            if time.monotonic() > give_up:
                raise StorageError(
                    f"{self.settings.where()}: {other[:80]!r} holds the refresh lease of {authorization_id} for "
                    f"{max(0, until - now):.0f} more seconds",
                    hint=f"Run the command again; a lease whose holder died expires by itself ({LEASE_ENV}).",
                )
            time.sleep(0.1 + secrets.randbelow(100) / 1000)
        try:
            yield
        finally:
            with contextlib.suppress(IntegrayAuthError):  # unreleased, it expires by itself
                self.vault.write(path, {"holder": holder, "expires_at": 0}, cas=version)


def replaces(new: str, current: str) -> bool:
    """Whether token set `new` may replace `current`, written by another machine
    since `new`'s writer read: never by an older one (its access token expires
    sooner) nor by one with fewer scopes. What cannot be compared (no expiry,
    no scope, not a token set) does not stop it."""
    try:
        ours, theirs = TokenSet.from_secret(new), TokenSet.from_secret(current)
    except (ValueError, TypeError):
        return True
    if ours.expires_at and theirs.expires_at:
        try:
            if datetime.fromisoformat(ours.expires_at) < datetime.fromisoformat(theirs.expires_at):
                return False
        except (TypeError, ValueError):
            pass
    if isinstance(ours.scope, list) and isinstance(theirs.scope, list) and set(ours.scope) < set(theirs.scope):
        return False
    return True


def _lease(document: dict | None) -> tuple[str, float]:
    """(holder, expires_at) of a lease document; a malformed one counts as expired."""
    if not isinstance(document, dict):
        return "", 0.0
    holder, until = document.get("holder"), document.get("expires_at")
    if not isinstance(holder, str) or type(until) not in (int, float) or until != until:
        return "", 0.0
    return holder, float(until)
