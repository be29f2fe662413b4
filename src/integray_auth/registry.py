"""The provider registry: providers, their connectors and scopes, from TOML.

The bundled `providers.toml` is read first; a user overlay (the
`providers.toml` in the config folder, then `--registry PATH` or
`INTEGRAY_AUTH_REGISTRY`) may add providers or override fields of bundled
ones. Every problem becomes a `RegistryError` naming the file, the provider or
connector and the field, never a traceback.
"""

from __future__ import annotations

import re
from pathlib import Path
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Mapping
from urllib.parse import urlsplit

from .errors import RegistryError
from .record import Record

SCHEMA_VERSION = 1
ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]*")  # used with fullmatch: "$" would let "id\n" through
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}

PKCE_MODES = ("required", "supported", "unsupported")
CLIENT_AUTH_METHODS = ("none", "client_secret_post", "client_secret_basic")
REDIRECT_HOSTS = ("127.0.0.1", "localhost")
VARIANTS = ("authorization_code", "reservanto_long_time_token")
SCOPE_PARAMETERS = ("scope", "user_scope", "none")
# Set by the flow itself; an overlay must not be able to replace state or PKCE.
RESERVED_AUTHORIZATION_PARAMS = frozenset(
    {"response_type", "client_id", "redirect_uri", "scope", "user_scope", "state", "code_challenge", "code_challenge_method"}
)
SCOPE_SEPARATORS = (" ", ",")

_URL_FIELDS = (
    "authorization_url",
    "token_url",
    "revocation_url",
    "device_authorization_url",
    "issuer",
    "userinfo_url",
    "docs_url",
)
_PROVIDER_KEYS = {
    "name": str,
    "authorization_url": str,
    "token_url": str,
    "revocation_url": str,
    "device_authorization_url": str,
    "issuer": str,
    "userinfo_url": str,
    "scope_separator": str,
    "scope_parameter": str,
    "token_path": str,
    "pkce": str,
    "client_auth": str,
    "client_secret_required": bool,
    "client_id": str,
    "authorization_params": dict,
    "redirect_host": str,
    "redirect_ports": list,
    "redirect_path": str,
    "iss_parameter": bool,
    "variant": str,
    "docs_url": str,
    "notes": str,
    "scopes": dict,
    "connectors": dict,
}
_CONNECTOR_KEYS = {"name": str, "description": str, "scopes": list}
_REQUIRED_PROVIDER_KEYS = ("name", "authorization_url", "token_url")


class Connector(Record):
    __slots__ = ("id", "name", "description", "scopes")

    def __init__(self, id: str, name: str, description: str, scopes: tuple[str, ...]) -> None:
        self.id = id
        self.name = name
        self.description = description
        self.scopes = scopes


class Provider(Record):
    __slots__ = (
        "id",
        "name",
        "authorization_url",
        "token_url",
        "scopes",
        "connectors",
        "revocation_url",
        "device_authorization_url",
        "issuer",
        "userinfo_url",
        "scope_separator",
        "scope_parameter",
        "token_path",
        "pkce",
        "client_auth",
        "client_secret_required",
        "client_id",
        "authorization_params",
        "redirect_host",
        "redirect_ports",
        "redirect_path",
        "iss_parameter",
        "variant",
        "docs_url",
        "notes",
        "source",
    )

    def __init__(
        self,
        id: str,
        name: str,
        authorization_url: str,
        token_url: str,
        scopes: Mapping[str, str],  # scope -> what it permits
        connectors: Mapping[str, Connector],
        revocation_url: str | None = None,
        device_authorization_url: str | None = None,
        issuer: str | None = None,
        userinfo_url: str | None = None,
        scope_separator: str = " ",
        # Where the scopes go in the authorization request: "scope" (RFC 6749),
        # "user_scope" (Slack user tokens) or "none" (providers without scopes).
        scope_parameter: str = "scope",
        token_path: str | None = None,  # the token response's sub-object holding the tokens (Slack: authed_user)
        pkce: str = "supported",
        client_auth: str = "none",
        client_secret_required: bool = False,
        client_id: str | None = None,
        authorization_params: Mapping[str, str] | None = None,
        redirect_host: str = "127.0.0.1",
        redirect_ports: tuple[int, ...] = (),
        redirect_path: str = "/callback",
        iss_parameter: bool = False,
        variant: str = "authorization_code",
        docs_url: str | None = None,
        notes: str | None = None,
        source: str = "",  # the file that defined or last changed this provider
    ) -> None:
        self.id = id
        self.name = name
        self.authorization_url = authorization_url
        self.token_url = token_url
        self.scopes = scopes
        self.connectors = connectors
        self.revocation_url = revocation_url
        self.device_authorization_url = device_authorization_url
        self.issuer = issuer
        self.userinfo_url = userinfo_url
        self.scope_separator = scope_separator
        self.scope_parameter = scope_parameter
        self.token_path = token_path
        self.pkce = pkce
        self.client_auth = client_auth
        self.client_secret_required = client_secret_required
        self.client_id = client_id
        self.authorization_params = {} if authorization_params is None else authorization_params
        self.redirect_host = redirect_host
        self.redirect_ports = redirect_ports
        self.redirect_path = redirect_path
        self.iss_parameter = iss_parameter
        self.variant = variant
        self.docs_url = docs_url
        self.notes = notes
        self.source = source

    def connector(self, connector_id: str) -> Connector | None:
        return self.connectors.get(connector_id)

    def scopes_for(self, connector_ids: list[str]) -> list[str]:
        """The union of the connectors' scopes, in first-seen order."""
        seen: dict[str, None] = {}
        for cid in connector_ids:
            for scope in self.connectors[cid].scopes:
                seen.setdefault(scope, None)
        return list(seen)


class Registry(Record):
    __slots__ = ("providers", "sources")

    def __init__(self, providers: Mapping[str, Provider], sources: tuple[str, ...]) -> None:
        self.providers = providers
        self.sources = sources

    def get(self, provider_id: str) -> Provider | None:
        return self.providers.get(provider_id)


def bundled_registry_path() -> Path:
    """The providers.toml shipped in the wheel, or the repo's for a source checkout."""
    here = Path(__file__).resolve().parent
    packaged = here / "providers.toml"
    if packaged.is_file():
        return packaged
    return here.parent.parent / "providers.toml"


def load_registry(overlays: list[Path] | tuple[Path, ...] = (), cache_dir: Path | None = None) -> Registry:
    """Read the bundled registry, then apply each existing overlay in order.

    With `cache_dir`, the checked and merged result is kept as JSON keyed by
    each file's size and modification time: parsing and checking the TOML
    costs more than all of `list` otherwise does.
    """
    paths = (bundled_registry_path(), *overlays)
    key = _cache_key(paths) if cache_dir else None
    cached = _read_cache(cache_dir, key) if key else None
    if cached is not None:
        merged, origin = cached
    else:
        merged, origin = _merge_files(paths)
        if key:
            _write_cache(cache_dir, key, merged, origin)
    providers = {pid: _build_provider(pid, entry, origin[pid]) for pid, entry in merged.items()}
    return Registry(providers=providers, sources=tuple(str(p) for p in paths))


def _merge_files(paths) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    merged: dict[str, dict[str, Any]] = {}
    origin: dict[str, str] = {}
    for path in paths:
        for pid, entry in _check_file(_read_toml(path), path).items():
            merged[pid] = _merge(merged[pid], entry) if pid in merged else entry
            origin[pid] = str(path)
    return merged, origin


def _cache_key(paths) -> list | None:
    from . import __version__

    key: list = [__version__, SCHEMA_VERSION]
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            return None  # reading it will say what is wrong
        key.append([str(path), stat.st_size, stat.st_mtime_ns, stat.st_ino])
    return key


def _cache_file(cache_dir: Path) -> Path:
    return cache_dir / "registry.json"


def _read_cache(cache_dir: Path, key: list):
    import json

    try:
        data = json.loads(_cache_file(cache_dir).read_bytes())
        if data["key"] == key:
            return data["providers"], data["origin"]
    except (OSError, ValueError, KeyError, TypeError):
        pass  # no cache, or an unusable one: read the TOML
    return None


def _write_cache(cache_dir: Path, key: list, merged: dict, origin: dict) -> None:
    import json

    from .fileutil import atomic_write_text

    try:
        atomic_write_text(_cache_file(cache_dir), json.dumps({"key": key, "providers": merged, "origin": origin}))
    except (OSError, TypeError, ValueError):
        pass  # a cache is an optimisation; a read-only folder is fine


def _read_toml(path: Path) -> dict[str, Any]:
    import tomllib

    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise RegistryError(
            f"{path}: registry file not found",
            hint="Check --registry / INTEGRAY_AUTH_REGISTRY.",
        ) from None
    except OSError as exc:
        raise RegistryError(
            f"{path}: cannot read registry file: {exc.strerror}", hint="Check --registry / INTEGRAY_AUTH_REGISTRY."
        ) from None
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message already ends with "(at line L, column C)".
        raise RegistryError(
            f"{path}: invalid TOML: {exc}", hint="Fix the file, then run the command again."
        ) from None
    except UnicodeDecodeError:
        raise RegistryError(f"{path}: invalid TOML: not UTF-8 text", hint="Save the file as UTF-8.") from None


def _fail(path: Path, where: str, message: str) -> RegistryError:
    return RegistryError(f"{path}: {where}: {message}", hint="Fix the file, then run the command again.")


def _check_file(raw: dict[str, Any], path: Path) -> dict[str, dict[str, Any]]:
    """Check one file's shape (types, keys, URL rules); return its providers."""
    for key in raw:
        if key not in ("schema_version", "providers"):
            raise _fail(path, "top level", f"unknown key {key!r} (expected 'schema_version', 'providers')")
    version = raw.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise _fail(path, "schema_version", f"unsupported value {version!r} (this integray-auth reads {SCHEMA_VERSION})")
    providers = raw.get("providers", {})
    if not isinstance(providers, dict):
        raise _fail(path, "providers", "must be a table of [providers.<id>] tables")
    for pid, entry in providers.items():
        where = f"provider {pid!r}"  # repr: a quoted TOML key may hold a newline
        _check_table(path, where, pid, entry, _PROVIDER_KEYS)
        for key in _URL_FIELDS:
            if key in entry:
                _check_url(path, f"{where}, field '{key}'", entry[key])
        _check_choice(path, where, entry, "pkce", PKCE_MODES)
        _check_choice(path, where, entry, "client_auth", CLIENT_AUTH_METHODS)
        _check_choice(path, where, entry, "redirect_host", REDIRECT_HOSTS)
        _check_choice(path, where, entry, "variant", VARIANTS)
        _check_choice(path, where, entry, "scope_separator", SCOPE_SEPARATORS)
        _check_choice(path, where, entry, "scope_parameter", SCOPE_PARAMETERS)
        for port in entry.get("redirect_ports", []):
            if isinstance(port, bool) or not isinstance(port, int) or not 1024 <= port <= 65535:
                raise _fail(path, f"{where}, field 'redirect_ports'", f"{port!r} is not a port from 1024 to 65535")
        rpath = entry.get("redirect_path")
        if rpath is not None and (not rpath.startswith("/") or "?" in rpath or "#" in rpath):
            raise _fail(path, f"{where}, field 'redirect_path'", "must start with '/' and have no query or fragment")
        for key, value in entry.get("authorization_params", {}).items():
            if not isinstance(value, str):
                raise _fail(path, f"{where}, field 'authorization_params.{key}'", "must be a string")
            if key in RESERVED_AUTHORIZATION_PARAMS:
                raise _fail(path, f"{where}, field 'authorization_params.{key}'", "is set by integray-auth itself")
        for scope, description in entry.get("scopes", {}).items():
            if not isinstance(description, str):
                raise _fail(path, f"{where}, scope {scope!r}", "the description must be a string")
        for cid, connector in entry.get("connectors", {}).items():
            _check_connector(path, f"{where}, connector {cid!r}", cid, connector)
    return providers


def _check_table(path: Path, where: str, table_id: str, table: Any, keys: dict[str, type]) -> None:
    """A provider's or connector's id, and each field's name and type."""
    if not ID_PATTERN.fullmatch(table_id):
        raise _fail(path, where, "id must be lowercase letters, digits and '-'")
    if not isinstance(table, dict):
        raise _fail(path, where, "must be a table")
    for key, value in table.items():
        expected = keys.get(key)
        if expected is None:
            raise _fail(path, f"{where}, field {key!r}", "unknown key")
        # bool is an int, and TOML's true must not pass for a port or a string.
        if not isinstance(value, expected) or (expected is not bool and isinstance(value, bool)):
            raise _fail(path, f"{where}, field '{key}'", f"must be a {_type_name(expected)}")


def _check_connector(path: Path, where: str, cid: str, connector: Any) -> None:
    _check_table(path, where, cid, connector, _CONNECTOR_KEYS)
    for scope in connector.get("scopes", []):
        if not isinstance(scope, str) or not scope:
            raise _fail(path, f"{where}, field 'scopes'", f"{scope!r} is not a scope string")


def _check_url(path: Path, where: str, url: str) -> None:
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        raise _fail(path, where, f"{url!r} is not a URL") from None
    if parts.scheme == "https" and host:
        return
    if parts.scheme == "http" and host in LOOPBACK_HOSTS:
        return  # a local test or development server
    raise _fail(path, where, f"{url!r} must be an https:// URL (http:// only for a loopback host)")


def _check_choice(path: Path, where: str, entry: dict, key: str, choices: tuple[str, ...]) -> None:
    if key in entry and entry[key] not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise _fail(path, f"{where}, field '{key}'", f"{entry[key]!r} is not one of {allowed}")


def _type_name(kind: type) -> str:
    return {str: "string", bool: "boolean (true/false)", dict: "table", list: "list"}[kind]


def _merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Overlay fields win; scopes, connectors and parameters merge key by key."""
    merged = dict(base)
    for key, value in overlay.items():
        if key in ("scopes", "authorization_params"):
            merged[key] = {**base.get(key, {}), **value}
        elif key == "connectors":
            connectors = dict(base.get("connectors", {}))
            for cid, connector in value.items():
                connectors[cid] = {**connectors.get(cid, {}), **connector}
            merged[key] = connectors
        else:
            merged[key] = value
    return merged


def _build_provider(pid: str, entry: dict[str, Any], source: str) -> Provider:
    path = Path(source)
    where = f"provider '{pid}'"
    for key in _REQUIRED_PROVIDER_KEYS:
        if not entry.get(key):
            raise _fail(path, where, f"missing required field '{key}'")
    if entry.get("iss_parameter") and not entry.get("issuer"):
        # Without it the RFC 9207 check (mix-up defence) would be silently skipped.
        raise _fail(path, f"{where}, field 'iss_parameter'", "needs 'issuer', the value every answer's iss must equal")
    scopes = entry.get("scopes", {})
    connectors = {}
    for cid, raw in entry.get("connectors", {}).items():
        cwhere = f"{where}, connector '{cid}'"
        for key in _CONNECTOR_KEYS:
            if key not in raw:
                raise _fail(path, cwhere, f"missing required field '{key}'")
        if not raw["scopes"]:
            raise _fail(path, f"{cwhere}, field 'scopes'", "must list at least one scope")
        for scope in raw["scopes"]:
            if scope not in scopes:
                raise _fail(
                    path,
                    f"{cwhere}, field 'scopes'",
                    f"scope {scope!r} is not in the provider's [providers.{pid}.scopes] table",
                )
        connectors[cid] = Connector(
            id=cid, name=raw["name"], description=raw["description"], scopes=tuple(raw["scopes"])
        )
    names: dict[str, str] = {}
    for connector in connectors.values():
        other = names.setdefault(connector.name.casefold(), connector.id)
        if other != connector.id:
            raise _fail(path, f"{where}, connector '{connector.id}'", f"duplicate name {connector.name!r} (also '{other}')")
    simple = {k: v for k, v in entry.items() if k not in ("scopes", "connectors", "redirect_ports", "authorization_params")}
    return Provider(
        id=pid,
        scopes=dict(scopes),
        connectors=connectors,
        redirect_ports=tuple(entry.get("redirect_ports", ())),
        authorization_params=dict(entry.get("authorization_params", {})),
        source=source,
        **simple,
    )
