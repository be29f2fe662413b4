"""The team's shared index: the metadata of each authorization shared through
Vault, which every machine of the team reads like its own index.json.

Vault keeps two things for integray-auth, and each has its type: the token
sets, behind the SecretStore interface (vault_store.VaultStore), and this
index beside them under the same prefix — per authorization a `meta`
document (what is asked for, with which client: written by whoever may
authorize) and a `health` document (what a refresh learnt: CI may write it),
and per name a `names/` document pointing at its id, so names stay unique
across the team. Every read goes through vault.Vault: one deadline, a
capped answer, every failure one of our errors.
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import TYPE_CHECKING

from ..errors import ConflictError, IntegrayAuthError, StorageError
from ..lean.printable import quoted
from ..models import STORAGE_VAULT, Authorization
from ..oauth.endpoint import request_deadline
from .index import entry_problem
from .vault import AUTHORIZATION_ID, HEALTH_FIELDS, LOCAL_FIELDS, CasConflict, Settings, Vault, checked_id, configured

if TYPE_CHECKING:
    from ..context import AppContext


class SharedIndex:
    """The shared authorizations under one Vault prefix: find, list, load, record, names."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault
        self.settings = vault.settings

    @classmethod
    def open(cls, ctx: "AppContext", locator=None) -> "SharedIndex":
        settings = Settings.load(ctx, locator if isinstance(locator, dict) else None)
        return cls(Vault(settings, ctx.environ, request_deadline(ctx.environ)))

    def locator(self) -> dict[str, str]:
        return self.settings.locator()

    def label(self) -> str:
        return self.settings.where()

    def record(self, authorization: "Authorization", health_only: bool = False) -> None:
        """The authorization's metadata next to its tokens, for other machines.

        `health_only` (a refresh: what the CI policy allows) writes the health
        document alone. Otherwise (authorize, share, rename, connectors:
        someone who may authorize) the metadata and then the health: a new
        one, or a new name, first claims its name (ConflictError when another
        shared authorization under the prefix has it); the old name is
        released after."""
        if not health_only:
            self._record_meta(authorization)
        self._record_health(authorization)

    def _record_health(self, authorization: "Authorization") -> None:
        data = {field: getattr(authorization, field) for field in HEALTH_FIELDS}
        path = f"authorizations/{checked_id(authorization.id)}/health"
        for _ in range(5):  # last writer wins, as the metadata
            _, version = self.vault.read(path)
            try:
                self.vault.write(path, {"schema_version": 1, "health": data}, cas=version)
                return
            except CasConflict:
                continue
        raise CasConflict(f"{self.settings.where()}: the health of {authorization.name!r} keeps changing (check-and-set)",
                          hint="Run the command again.")

    def _record_meta(self, authorization: "Authorization") -> None:
        data = {k: v for k, v in authorization.to_json().items() if k not in LOCAL_FIELDS}
        path = f"authorizations/{checked_id(authorization.id)}/meta"
        for _ in range(5):  # metadata is last writer wins; the check-and-set only keeps cas_required mounts happy
            document, version = self.vault.read(path)
            before = document.get("authorization") if isinstance(document, dict) else None
            old_name = before.get("name") if isinstance(before, dict) else None
            renamed = not isinstance(old_name, str) or old_name.casefold() != authorization.name.casefold()
            if renamed:
                self.claim_name(authorization.name, authorization.id)
            try:
                self.vault.write(path, {"schema_version": 1, "authorization": data}, cas=version)
            except CasConflict:
                continue
            except IntegrayAuthError:
                if renamed:
                    with contextlib.suppress(IntegrayAuthError):  # the claim goes with the change it was for
                        self.release_name(authorization.name, authorization.id)
                raise
            if renamed and isinstance(old_name, str):
                with contextlib.suppress(IntegrayAuthError):  # a pointer left behind is ignored, never trusted
                    self.release_name(old_name, authorization.id)
            return
        raise CasConflict(f"{self.settings.where()}: the metadata of {authorization.name!r} keeps changing (check-and-set)",
                          hint="Run the command again.")

    # -- names: unique under the prefix, found in two reads --------------------------------

    def find(self, name: str) -> "Authorization | None":
        """The shared authorization named `name` (case-insensitive) or with that id.

        The name document points at an id, whose metadata must say the same
        name; otherwise (none yet: shared by an older version, or a pointer
        left by a crash) every authorization's metadata is read, as before."""
        if AUTHORIZATION_ID.fullmatch(name):
            by_id = self.load(name)
            if by_id is not None:
                return by_id
        try:
            found, _ = self._named(name)
        except StorageError as refused:
            if "permission denied" not in refused.message:
                raise
            found = None  # a policy without read on names/: the listing still tells
        if found is not None:
            return found
        wanted = name.strip().casefold()
        return next((a for a in self.shared() if a.name.casefold() == wanted), None)

    def _named(self, name: str) -> tuple["Authorization | None", int]:
        """What the name document points at, if its metadata agrees; and the document's version."""
        document, version = self.vault.read(name_path(name))
        pointed = document.get("id") if isinstance(document, dict) else None
        if not isinstance(pointed, str) or not AUTHORIZATION_ID.fullmatch(pointed):
            return None, version
        authorization = self.load(pointed)
        if authorization is not None and authorization.name.casefold() == name.strip().casefold():
            return authorization, version
        return None, version

    def check_name(self, name: str, authorization_id: str | None = None) -> None:
        """ConflictError when another shared authorization under the prefix is named `name`."""
        other = self.find(name)
        if other is not None and other.id != authorization_id:
            self._taken(other)

    def _taken(self, other: "Authorization"):

        raise ConflictError(
            f"a shared authorization named {quoted(other.name)} already exists in {self.label()}",
            hint="Choose another name: names are unique across the team's shared authorizations.",
        )

    def claim_name(self, name: str, authorization_id: str) -> None:
        """Point the name's document at `authorization_id`, by check-and-set, so two
        machines claiming one name at once cannot both win."""
        for _ in range(5):
            owner, version = self._named(name)
            if owner is not None and owner.id == authorization_id:
                return
            if owner is None:
                # No pointer to trust (shared by an older version, or left by a crash): the listing decides.
                wanted = name.strip().casefold()
                owner = next((a for a in self.shared() if a.name.casefold() == wanted and a.id != authorization_id), None)
            if owner is not None:
                self._taken(owner)
            try:
                self.vault.write(name_path(name), {"schema_version": 1, "id": authorization_id, "name": name}, cas=version)
                return
            except CasConflict:
                continue  # another machine claimed it meanwhile: look again
        raise CasConflict(f"{self.settings.where()}: the name {name!r} keeps changing hands (check-and-set)",
                          hint="Run the command again.")

    def release_name(self, name: str, authorization_id: str) -> None:
        document, _ = self.vault.read(name_path(name))
        if isinstance(document, dict) and document.get("id") == authorization_id:
            self.vault.destroy(name_path(name))

    def shared(self) -> list["Authorization"]:
        """Every authorization kept under the prefix (those whose metadata is complete)."""
        return self.listing()[0]

    def listing(self) -> tuple[list["Authorization"], set[str]]:
        """The complete authorizations under the prefix, and the ids of every
        folder there (a folder without usable metadata is not an absent one)."""
        found, ids = [], set()
        for key in self.vault.list("authorizations"):
            authorization_id = key.rstrip("/")
            if key.endswith("/") and AUTHORIZATION_ID.fullmatch(authorization_id):
                ids.add(authorization_id)
                authorization = self.load(authorization_id)
                if authorization is not None:
                    found.append(authorization)
        return found, ids

    def load(self, authorization_id: str, absent=None) -> "Authorization | None":
        """Vault's copy of the metadata; `absent` when there is no metadata
        document at all, None when there is one but it is not a complete one of ours."""
        document, _ = self.vault.read(f"authorizations/{checked_id(authorization_id)}/meta")
        if document is None:
            return absent
        data = document.get("authorization")
        if not isinstance(data, dict):
            return None
        data = {k: v for k, v in data.items() if k not in LOCAL_FIELDS}
        health = self._health(authorization_id, data.get("updated_at"))
        # Health that does not pass the index's checks is ignored, not the authorization.
        for fields in ({**data, **health}, data) if health else (data,):
            try:
                authorization = Authorization.from_json(fields)
            except TypeError:  # a required field missing: not a (complete) document of ours
                return None
            if authorization.id != authorization_id:
                return None
            if not entry_problem(authorization):
                break
        else:
            return None
        if not isinstance(authorization.name, str) or not authorization.name:
            return None
        authorization.storage, authorization.locator, authorization.keyring_backend = STORAGE_VAULT, self.locator(), None
        return authorization

    def _health(self, authorization_id: str, meta_updated_at) -> dict:
        """The health fields of the health document (written by refreshes, CI's
        among them), and only those: nothing there changes what is asked for.
        None when absent (shared by an older version: `meta` holds its health)
        or older than the metadata (written since by an older version)."""
        document, _ = self.vault.read(f"authorizations/{authorization_id}/health")
        health = document.get("health") if isinstance(document, dict) else None
        if not isinstance(health, dict):
            return {}
        updated_at = health.get("updated_at")
        if isinstance(meta_updated_at, str) and (not isinstance(updated_at, str) or updated_at < meta_updated_at):
            return {}
        return {field: health[field] for field in HEALTH_FIELDS if field in health}


def name_path(name: str) -> str:
    """Where the name's document is: a digest, so any name (spaces, slashes,
    any script) is one plain path segment, and names equal up to case share it."""
    return "names/" + hashlib.sha256(name.strip().casefold().encode("utf-8")).hexdigest()[:32]


def shared_authorizations(ctx: "AppContext") -> list["Authorization"]:
    """The authorizations under the configured prefix (VAULT_ADDR set), else none."""
    if not configured(ctx.environ):
        return []
    return SharedIndex.open(ctx).shared()
