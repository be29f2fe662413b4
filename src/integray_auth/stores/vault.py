"""Shared authorizations in HashiCorp Vault (or OpenBao) KV version 2.

One authorization lives wholly under one path (docs/team.md):

    <mount>/data/<prefix>/authorizations/<id>/meta    what it is: name, provider, grant, client, connectors, scopes, endpoints
    <mount>/data/<prefix>/authorizations/<id>/health  what the last refresh found: status, expiry, granted scopes
    <mount>/data/<prefix>/authorizations/<id>/tokens  the token set
    <mount>/data/<prefix>/authorizations/<id>/lease   who refreshes it now, until when
    <mount>/data/<prefix>/names/<sha256 of the casefolded name>   which id has that name

Two types use it: VaultStore (vault_store.py), the SecretStore of the token
sets and the lease, and SharedIndex (shared_index.py), the team's index of
`meta`, `health` and `names/`. This module is what both stand on: the
settings, the transport rules and the KV client.

The metadata is the truth; a name document only says where to look first, so
finding a shared authorization by name costs two reads, not one per
authorization under the prefix (a pointer that disagrees with the metadata
is ignored, and the listing is read instead).

Who may write what is the trust boundary: `meta` decides what a refresh
asks for and with which client (this machine's own client secret), so only
those who may authorize write it; a refresh (CI's policy) writes the token
set, the lease and `health`, whose fields are read as health and nothing
else. docs/team.md publishes the two policies.

Nothing is read or written outside the prefix, and never a client secret.
Vault's own conventions configure it (VAULT_ADDR, VAULT_TOKEN or
~/.vault-token, VAULT_NAMESPACE, VAULT_CACERT; AppRole by VAULT_ROLE_ID and
VAULT_SECRET_ID), the mount and prefix come from config.toml's [vault].

Every exchange goes through oauth.endpoint.send(): one deadline for the whole
exchange (INTEGRAY_AUTH_HTTP_TIMEOUT) and a cap on the answer, which is
checked for its shape before use: a Vault answer is outside input like any.
hvac is imported only here, when the first request is made, so only shared
authorizations pay for it.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import requests
from requests.structures import CaseInsensitiveDict

from ..errors import (
    ConflictError,
    NetworkError,
    StorageError,
    UsageError,
)
from ..lean.filepath import FilePath
from ..lean.printable import shorten
from ..oauth.endpoint import send
from .files import UnsafePath, read_regular_file

if TYPE_CHECKING:
    from ..context import AppContext

ADDR_ENV, TOKEN_ENV, NAMESPACE_ENV, CACERT_ENV = "VAULT_ADDR", "VAULT_TOKEN", "VAULT_NAMESPACE", "VAULT_CACERT"
ROLE_ID_ENV, SECRET_ID_ENV = "VAULT_ROLE_ID", "VAULT_SECRET_ID"
LEASE_ENV = "INTEGRAY_AUTH_VAULT_LEASE_SECONDS"
# Opts in to a plain http:// VAULT_ADDR on another host (the token then crosses the network in the clear).
ALLOW_HTTP_ENV = "INTEGRAY_AUTH_VAULT_ALLOW_HTTP"
DEFAULT_LEASE = 30.0
DEFAULT_MOUNT, DEFAULT_PREFIX, DEFAULT_APPROLE = "secret", "integray-auth", "approle"
MAX_VAULT_ANSWER = 256 * 1024
MAX_SHARED = 1000  # authorizations listed from one prefix
_SEGMENTS = re.compile(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*")
AUTHORIZATION_ID = re.compile(r"[0-9a-f]{1,32}")  # an id is one plain path segment
# Kept out of the copy in Vault: they say where this machine found it.
LOCAL_FIELDS = ("storage", "locator", "keyring_backend")
# What a refresh learns and records (the `health` document, which CI may write): never
# what is asked for, nor with which client, nor where (those stay in `meta`).
HEALTH_FIELDS = ("status", "expires_at", "granted_scopes", "renewable", "refreshed_at", "refresh_rejected_at",
                 "rejected_at", "updated_at")

TEAM_HELP = "integray-auth help vault"  # the settings, credentials and policies, in the installed tool


def configured(environ) -> bool:
    """Whether this machine is pointed at a Vault (VAULT_ADDR): only then are shared ones looked up."""
    return bool((environ.get(ADDR_ENV) or "").strip())


class Settings:
    __slots__ = ("addr", "namespace", "mount", "prefix", "approle_mount", "role_id_file", "secret_id_file")

    def __init__(self, addr: str, namespace: str, mount: str, prefix: str, approle_mount: str = DEFAULT_APPROLE,
                 role_id_file: str | None = None, secret_id_file: str | None = None) -> None:
        self.addr, self.namespace, self.mount, self.prefix = addr, namespace, mount, prefix
        self.approle_mount, self.role_id_file, self.secret_id_file = approle_mount, role_id_file, secret_id_file

    @classmethod
    def load(cls, ctx: "AppContext", locator: dict | None = None) -> "Settings":
        """From the recorded locator when there is one, else from VAULT_* and config.toml."""
        config = _config(ctx)
        addr = (ctx.environ.get(ADDR_ENV) or "").strip()
        if isinstance(locator, dict):
            recorded, namespace = locator.get("addr", ""), locator.get("namespace", "")
            mount, prefix = locator.get("mount", ""), locator.get("prefix", "")
        else:
            recorded, namespace = None, (ctx.environ.get(NAMESPACE_ENV) or "").strip()
            mount, prefix = config.get("mount", DEFAULT_MOUNT), config.get("prefix", DEFAULT_PREFIX)
        if not addr:
            raise StorageError(
                "VAULT_ADDR is not set, so there is no Vault to keep shared authorizations in"
                + (f" (this one is kept in Vault at {_shown(recorded)})" if recorded else ""),
                hint=f"Set VAULT_ADDR (and VAULT_TOKEN, or VAULT_ROLE_ID and VAULT_SECRET_ID); see: {TEAM_HELP}",
            )
        if not re.fullmatch(r"https?://[^\s/]+/?", addr):
            raise UsageError(f"VAULT_ADDR must be http(s)://HOST[:PORT], not {addr[:80]!r}", hint="Fix VAULT_ADDR.")
        addr = addr.rstrip("/")
        if recorded is not None and not _same_vault(recorded, addr):
            # The credentials (VAULT_TOKEN, the AppRole) are the configured Vault's: never sent to another.
            raise StorageError(
                f"this authorization is kept in Vault at {_shown(recorded)}, but VAULT_ADDR is {addr}; "
                "Vault credentials go only to the Vault VAULT_ADDR names",
                hint=f"Set VAULT_ADDR to {_shown(recorded)} with that Vault's credentials, if it is your team's.",
            )
        _check_transport(addr, ctx.environ)
        for what, value in (("mount", mount), ("prefix", prefix), ("approle_mount", config.get("approle_mount", DEFAULT_APPROLE))):
            if not isinstance(value, str) or not _SEGMENTS.fullmatch(value) or ".." in value.split("/"):
                raise UsageError(
                    f"the Vault {what} {str(value)[:80]!r} is not a plain path (letters, digits, . _ - and /)",
                    hint=f"Fix [vault] {what} in {ctx.paths.config_file}.",
                )
        return cls(addr, namespace, mount, prefix, config.get("approle_mount", DEFAULT_APPROLE),
                   config.get("role_id_file"), config.get("secret_id_file"))

    def locator(self) -> dict[str, str]:
        located = {"addr": self.addr, "mount": self.mount, "prefix": self.prefix}
        if self.namespace:
            located["namespace"] = self.namespace
        return located

    def where(self) -> str:
        return f"Vault at {self.addr} ({self.mount}/{self.prefix})"


def _shown(addr) -> str:
    """A recorded address (the index's or Vault's: outside text) as it may be printed."""
    return shorten(addr if isinstance(addr, str) else repr(addr), 120)


def _origin(addr: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of http(s)://HOST[:PORT]; None when it is not one."""
    if not isinstance(addr, str) or not re.fullmatch(r"https?://[^\s/]+/?", addr):
        return None
    try:
        parts = urlsplit(addr)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), port or (443 if scheme == "https" else 80)


def _same_vault(recorded, configured: str) -> bool:
    """Whether a recorded Vault address names the configured one (scheme, host and port)."""
    theirs = _origin(recorded)
    return theirs is not None and theirs == _origin(configured)


def _check_transport(addr: str, environ) -> None:
    """A plain http:// Vault only on this machine (loopback), unless the user opts in:
    elsewhere the token would cross the network in the clear."""
    scheme, host, _ = _origin(addr) or ("", "", 0)
    if scheme != "http" or host == "localhost":
        return
    try:
        if ipaddress.ip_address(host.strip("[]")).is_loopback:
            return
    except ValueError:
        pass
    if (environ.get(ALLOW_HTTP_ENV) or "").strip().lower() in ("1", "true", "yes"):
        return
    raise StorageError(
        f"VAULT_ADDR {addr} is plain http to another host: the Vault token would cross the network unencrypted",
        hint=f"Use https:// (VAULT_CACERT for a private CA), or set {ALLOW_HTTP_ENV}=1 if that network is trusted.",
    )


def _config(ctx: "AppContext") -> dict:
    """config.toml's [vault] table; a broken file is a usage error, an absent one is defaults."""
    path = ctx.paths.config_file
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}", hint="Fix or remove that file.") from None
    table = data.get("vault", {})
    if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
        raise UsageError(f"[vault] in {path} must be a table of strings", hint=f"See: {TEAM_HELP}")
    return table


def lease_seconds(environ) -> float:
    raw = (environ.get(LEASE_ENV) or "").strip()
    if not raw:
        return DEFAULT_LEASE
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 1 <= value <= 3600:
        raise UsageError(f"{LEASE_ENV} must be a number of seconds from 1 to 3600, not {raw[:40]!r}", hint=f"Fix or unset {LEASE_ENV}.")
    return value


_NO_DEFAULT = object()
_MISSING = object()


class CasConflict(StorageError):
    """A check-and-set write found another version than the one read."""


class _BoundedSession:
    """What hvac calls its session: every request goes through endpoint.send(),
    so each has a whole-exchange deadline and a size cap, and never follows a redirect."""

    def __init__(self, deadline: float, verify) -> None:
        self._inner = requests.Session()
        self.deadline = deadline
        self.verify, self.cert, self.proxies = verify, None, {}

    def request(self, method, url, headers=None, allow_redirects=None, timeout=None, verify=None, cert=None,
                proxies=None, **kwargs):


        answer = send(self._inner, method.upper(), url, self.deadline, max_bytes=MAX_VAULT_ANSWER,
                      headers=headers, verify=self.verify, **kwargs)
        response = requests.Response()
        response.status_code, response._content = answer.status_code, answer.content
        response.headers, response.url, response.encoding = CaseInsensitiveDict(answer.headers), url, "utf-8"
        return response


class Vault:
    """KV v2 under one mount, for the secret store (vault_store.py) and the shared
    index (shared_index.py): reads with their version,
    check-and-set writes, and every failure as one of our errors."""

    def __init__(self, settings: Settings, environ, deadline: float) -> None:
        self.settings = settings
        self.environ = environ
        self.deadline = deadline
        self._client = None

    # -- the connection ------------------------------------------------------------------

    @property
    def client(self):
        if self._client is None:
            import hvac

            cacert = (self.environ.get(CACERT_ENV) or "").strip() or None
            session = _BoundedSession(self.deadline, cacert or True)
            client = hvac.Client(url=self.settings.addr, namespace=self.settings.namespace or None,
                                 session=session, verify=cacert or True, timeout=self.deadline)
            client.token = self._login(client)
            self._client = client  # only once logged in: a failed login is not retried tokenless
        return self._client

    def _login(self, client) -> str:
        token = (self.environ.get(TOKEN_ENV) or "").strip()
        if token:
            return token
        role_id = self._credential(ROLE_ID_ENV, self.settings.role_id_file)
        if role_id:
            secret_id = self._credential(SECRET_ID_ENV, self.settings.secret_id_file) or ""
            answer = self._call("log in with AppRole", lambda: client.auth.approle.login(
                role_id=role_id, secret_id=secret_id, mount_point=self.settings.approle_mount, use_token=False))
            auth = answer.get("auth") if isinstance(answer, dict) else None
            issued = auth.get("client_token") if isinstance(auth, dict) else None
            if not isinstance(issued, str) or not issued or len(issued) > 4096:
                raise StorageError(f"{self.settings.where()} answered the AppRole login without a token",
                                   hint="Check the AppRole's configuration.")
            return issued
        home_token = os.path.join(os.path.expanduser("~"), ".vault-token")
        try:
            with open(home_token, encoding="utf-8") as handle:
                token = handle.read(4096).strip()
        except OSError:
            token = ""
        if token:
            return token
        raise StorageError(
            f"no credentials for {self.settings.where()}",
            hint="Set VAULT_TOKEN (or log in with 'vault login' / 'bao login'), or VAULT_ROLE_ID and VAULT_SECRET_ID "
            f"for an AppRole; see: {TEAM_HELP}",
        )

    def _credential(self, env: str, file: str | None) -> str | None:
        """The environment's value, else the file's ([vault] role_id_file /
        secret_id_file: what CI mounts as a secret file, so the id never sits in
        an environment a child inherits). A file named but absent is an error."""
        value = (self.environ.get(env) or "").strip()
        if value or not file:
            return value or None
        path = FilePath(file).expanduser()
        what = "the AppRole " + ("role id" if env == ROLE_ID_ENV else "secret id") + " file"
        try:
            data = read_regular_file(path, 4096, what)  # never a FIFO that blocks, nor a huge file
        except UnsafePath as refused:
            raise StorageError(refused.message, hint=f"Fix [vault] in the config.toml (see: {TEAM_HELP}).") from None
        if data is None:
            raise StorageError(f"cannot read {what} {path}: it does not exist",
                               hint=f"Fix [vault] {'role_id_file' if env == ROLE_ID_ENV else 'secret_id_file'} in config.toml.")
        try:
            text = data.decode("utf-8").strip()
        except UnicodeDecodeError:
            text = ""
        if not text or any(c.isspace() or not c.isprintable() for c in text):
            raise StorageError(f"{what} {path} holds no AppRole id (one line of text)", hint=f"See: {TEAM_HELP}")
        return text

    def _call(self, what: str, call, missing=_NO_DEFAULT):
        """One hvac call; its exceptions become ours, with the next step.
        `missing` is what a 404 means, when it means something (an absent document)."""
        import hvac.exceptions as failures

        where = self.settings.where()
        try:
            return call()
        except failures.InvalidPath:
            if missing is not _NO_DEFAULT:
                return missing
            raise StorageError(f"{where} has nothing at the path to {what}",
                               hint=f"Check [vault] mount and prefix in config.toml (see: {TEAM_HELP}).") from None
        except NetworkError as failed:
            raise NetworkError(
                f"cannot {what}: {failed.message}",
                hint=f"Check VAULT_ADDR ({self.settings.addr}) and that Vault is running; then run the command again.",
            ) from None
        except failures.VaultDown:
            raise StorageError(f"{where} is sealed, so it cannot {what}",
                               hint="Unseal it ('vault operator unseal' / 'bao operator unseal'), then run the command again.") from None
        except failures.Forbidden as refused:
            raise StorageError(
                f"{where} refused to {what}: permission denied ({_said(refused)})",
                hint=f"Check the token or AppRole and its policy for {self.settings.mount}/data/{self.settings.prefix}/* (see: {TEAM_HELP}).",
            ) from None
        except failures.InvalidRequest as refused:
            said = _said(refused)
            if "check-and-set" in said:
                raise CasConflict(f"{where}: another machine changed it at the same time; cannot {what} (check-and-set)",
                                  hint="Run the command again.") from None
            if "no handler for route" in said:
                raise self._wrong_mount() from None
            raise StorageError(f"{where} refused to {what} ({said})") from None
        except failures.VaultError as refused:
            status = getattr(refused, "status_code", None) or ""
            raise StorageError(f"{where} could not {what} (HTTP {status}: {_said(refused)})",
                               hint="Check Vault's status and logs, then run the command again.") from None
        except ValueError:  # hvac's response.json() on a body that is not JSON
            raise StorageError(f"{where} answered {what} with something that is not JSON",
                               hint="Check VAULT_ADDR: it may not point at Vault.") from None

    def _wrong_mount(self) -> StorageError:
        return StorageError(
            f"{self.settings.addr} has no KV version 2 secrets engine at '{self.settings.mount}/' (that this token may use)",
            hint=f"Set [vault] mount in config.toml to a KV v2 mount, or enable one: vault secrets enable -path={self.settings.mount} kv-v2.",
        )

    # -- checks --------------------------------------------------------------------------

    def check(self) -> None:
        """Reachable, unsealed, the mount a KV v2 engine, and our prefix writable: before any browser opens."""
        status = self._call("report its seal status", lambda: self.client.sys.read_seal_status())
        if not isinstance(status, dict):
            raise StorageError(f"{self.settings.where()} answered its seal status with something unexpected")
        if status.get("sealed") is True:
            raise StorageError(f"{self.settings.where()} is sealed",
                               hint="Unseal it ('vault operator unseal' / 'bao operator unseal'), then run the command again.")
        # A token Vault does not know shows here, not as a mount it "cannot see" below.
        self._call("look up this token", lambda: self.client.adapter.get("/v1/auth/token/lookup-self"))
        self.check_mount()
        probe = f"{self.settings.mount}/data/{self.settings.prefix}/authorizations/probe/tokens"
        answer = self._call("report the token's capabilities", lambda: self.client.adapter.post(
            "/v1/sys/capabilities-self", json={"paths": [probe]}))
        capabilities = answer.get(probe) if isinstance(answer, dict) else None
        if not isinstance(capabilities, list) or not {"create", "update"} & set(capabilities) and "root" not in capabilities:
            raise StorageError(
                f"{self.settings.where()}: this token may not write under {self.settings.mount}/data/{self.settings.prefix}/",
                hint=f"Use a token or AppRole with the authorizers' policy (see: {TEAM_HELP}).",
            )

    def check_mount(self) -> None:
        try:
            answer = self._call("describe its mounts", lambda: self.client.adapter.get(
                f"/v1/sys/internal/ui/mounts/{self.settings.mount}"), missing=_MISSING)
        except CasConflict:
            raise
        except StorageError as failed:
            # Vault answers a mount the token has no access to, or none at all, alike.
            if "permission denied" in failed.message:
                raise self._wrong_mount() from None
            raise
        if answer is _MISSING:
            raise self._wrong_mount()
        data = answer.get("data") if isinstance(answer, dict) else None
        options = data.get("options") if isinstance(data, dict) else None
        version = options.get("version") if isinstance(options, dict) else None
        if not isinstance(data, dict) or data.get("type") not in ("kv", "generic"):
            raise self._wrong_mount()
        if version != "2":
            raise StorageError(
                f"{self.settings.addr} has a KV version 1 secrets engine at '{self.settings.mount}/'; shared "
                "authorizations need version 2 (check-and-set)",
                hint=f"Upgrade it ('vault kv enable-versioning {self.settings.mount}') or set [vault] mount to a KV v2 mount.",
            )

    # -- KV v2 ---------------------------------------------------------------------------

    def _full(self, path: str) -> str:
        return f"{self.settings.prefix}/{path}"

    def read(self, path: str) -> tuple[dict | None, int]:
        """The document at `path` under the prefix and its version (0: none yet)."""
        answer = self._call(f"read {path}", lambda: self.client.secrets.kv.v2.read_secret_version(
            path=self._full(path), mount_point=self.settings.mount, raise_on_deleted_version=False), missing=_MISSING)
        if answer is _MISSING:
            return None, 0
        data = answer.get("data") if isinstance(answer, dict) else None
        metadata = data.get("metadata") if isinstance(data, dict) else None
        version = metadata.get("version") if isinstance(metadata, dict) else None
        if type(version) is not int or version < 1:
            raise StorageError(f"{self.settings.where()} answered the read of {path} with something that is not a KV v2 document",
                               hint=f"Check that [vault] mount names a KV version 2 engine (see: {TEAM_HELP}).")
        document = data.get("data")
        if document is not None and not isinstance(document, dict):
            raise StorageError(f"{self.settings.where()}: {path} is not a document of integray-auth's")
        return document, version

    def write(self, path: str, document: dict, cas: int) -> int:
        """Write only over version `cas` (0: only if absent); the new version. CasConflict otherwise."""
        answer = self._call(f"write {path}", lambda: self.client.secrets.kv.v2.create_or_update_secret(
            path=self._full(path), secret=document, cas=cas, mount_point=self.settings.mount))
        data = answer.get("data") if isinstance(answer, dict) else None
        version = data.get("version") if isinstance(data, dict) else None
        if type(version) is not int or version < 1:
            raise StorageError(f"{self.settings.where()} answered the write of {path} without its version")
        return version

    def destroy(self, path: str) -> None:
        """Every version of `path`, and its metadata."""
        self._call(f"delete {path}", lambda: self.client.secrets.kv.v2.delete_metadata_and_all_versions(
            path=self._full(path), mount_point=self.settings.mount), missing=None)

    def list(self, path: str) -> list[str]:
        answer = self._call(f"list {path}", lambda: self.client.secrets.kv.v2.list_secrets(
            path=self._full(path), mount_point=self.settings.mount), missing=_MISSING)
        if answer is _MISSING:
            return []
        data = answer.get("data") if isinstance(answer, dict) else None
        keys = data.get("keys") if isinstance(data, dict) else None
        if not isinstance(keys, list):
            raise StorageError(f"{self.settings.where()} answered the listing of {path} with something unexpected")
        return [key for key in keys[:MAX_SHARED] if isinstance(key, str)]


def _said(error: Exception) -> str:
    text = " ".join(str(error).split())
    return text[:200] or type(error).__name__


def checked_id(authorization_id: str) -> str:
    # Ids come from the index or from Vault: never a path.
    if not AUTHORIZATION_ID.fullmatch(authorization_id):
        raise ConflictError(f"the id {authorization_id[:40]!r} cannot be a Vault path")
    return authorization_id
