"""The provider registry: providers, their connectors and scopes, from TOML.

The bundled `providers.toml` is read first; a user overlay (the
`providers.toml` in the config folder, then `--registry PATH` or
`INTEGRAY_AUTH_REGISTRY`) may add providers or override fields of bundled
ones. Every problem becomes a `RegistryError` naming the file, the provider or
connector and the field, never a traceback.
"""

from __future__ import annotations

import os

from ..errors import RegistryError
from ..lean.filepath import FilePath
from ..grants import DEFAULT_GRANT, GRANTS, WITHOUT_PKCE
from ..lean.record import Record
from ..lean.urlparts import split_plain

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path  # or a FilePath (filepath.py): what the read path passes
    from re import Pattern
    from typing import Any, Callable, Mapping

SCHEMA_VERSION = 1
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}

PKCE_MODES = ("required", "supported", "unsupported")
# private_key_jwt: a JWT signed with the client's key (RFC 7523 §2.2), the key
# in the keyring or a 0600 file (usecases/clients.py), never in the registry.
CLIENT_AUTH_METHODS = ("none", "client_secret_post", "client_secret_basic", "private_key_jwt")
# Grants only a client that authenticates itself may use (a confidential client).
CONFIDENTIAL_GRANTS = ("client_credentials",)
REDIRECT_HOSTS = ("127.0.0.1", "localhost")
GRANT_NAMES = tuple(GRANTS)
SCOPE_PARAMETERS = ("scope", "user_scope", "none")
# Set by the flow itself; an overlay must not be able to replace state or PKCE.
RESERVED_AUTHORIZATION_PARAMS = frozenset(
    {"response_type", "client_id", "redirect_uri", "scope", "user_scope", "state", "code_challenge", "code_challenge_method"}
)
SCOPE_SEPARATORS = (" ", ",")
# Endpoints that need a client secret whatever the provider's client_auth says
# (Zoom: revocation and device authorization take HTTP Basic even for a public client).
ENDPOINT_AUTH_METHODS = ("client_secret_basic", "client_secret_post")
REFRESH_BEHAVIOURS = ("rotating", "reused", "none", "unconfirmed")  # for the fact table (docs/providers.md)
# What ids, names and values may be made of. `list` reads the registry from its JSON
# cache and checks it again on every run: these are checked with str methods, not
# `re` (which, with enum, costs a quarter of `python -c pass` to import); each check
# equals the regular expression in _PATTERNS (tests/test_registry_checks.py).
_LOWER = "abcdefghijklmnopqrstuvwxyz"
_LETTERS = _LOWER + _LOWER.upper()
_DIGITS = "0123456789"
# A template value lands in a host name or a path segment: only RFC 3986
# unreserved characters, so nothing (/ ? # @ : % whitespace, control
# characters, braces) can change which host or path the URL names.
PARAMETER_VALUE_CHARS = frozenset(_LETTERS + _DIGITS + "._~-")
_PATTERNS = {  # name -> (regular expression, used with fullmatch: "$" would let "id\n" through)
    "ID_PATTERN": r"[a-z0-9][a-z0-9-]*",
    "TOKEN_TYPE_PATTERN": r"[A-Za-z0-9._-]+",
    "PARAMETER_NAME_PATTERN": r"[a-z][a-z0-9_]*",
    "PARAMETER_VALUE_PATTERN": r"[A-Za-z0-9._~-]{1,253}",
    "PLACEHOLDER": r"\{([^{}]*)\}",  # with sub / findall
}


def __getattr__(name: str):
    # The compiled expressions, made when another module asks for one (discovery, the consent page).
    if name in _PATTERNS:
        import re

        compiled = globals()[name] = re.compile(_PATTERNS[name])
        return compiled
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _made_of(text: str, first: str, rest: str) -> bool:
    """Whether `text` is one character of `first`, then any of `rest` (ASCII sets)."""
    return text[:1] != "" and text[0] in first and not text[1:].strip(rest)


def is_id(text: str) -> bool:
    """A provider's or connector's id: ID_PATTERN.fullmatch."""
    return _made_of(text, _LOWER + _DIGITS, _LOWER + _DIGITS + "-")


def is_parameter_name(text: str) -> bool:
    return _made_of(text, _LOWER, _LOWER + _DIGITS + "_")


def _is_token_type(text: str) -> bool:
    # RFC 6749 §A.13: type-name = 1*name-char (letters, digits, "-", ".", "_")
    return text != "" and not text.strip(_LETTERS + _DIGITS + "._-")


def _is_callback_parameter(text: str) -> bool:
    return _made_of(text, _LETTERS, _LETTERS + _DIGITS + "_")


def placeholders(text: str):
    """(start, end, name) of each {name} in `text`, as PLACEHOLDER.finditer finds them."""
    start = text.find("{")
    while start >= 0:
        end = text.find("}", start + 1)
        if end < 0:
            return
        inner = text.find("{", start + 1, end)
        if inner >= 0:  # "{a{b}": the match can only start at the inner brace
            start = inner
            continue
        yield start, end + 1, text[start + 1 : end]
        start = text.find("{", end + 1)


def _with_samples(text: str) -> str:
    """PLACEHOLDER.sub("x", text): each {name} replaced by a sample value."""
    pieces, last = [], 0
    for start, end, _ in placeholders(text):
        pieces += [text[last:start], "x"]
        last = end
    return "".join(pieces) + text[last:]


_COMPILED: dict[str, Pattern] = {}  # parameters' own expressions, compiled once

_URL_FIELDS = (
    "authorization_url",
    "token_url",
    "revocation_url",
    "device_authorization_url",
    "issuer",
    "userinfo_url",
    "revoke_page_url",
    "docs_url",
    "console_url",
)
# The URLs a provider's parameters may be used in ({tenant}); the last three are for people.
TEMPLATED_FIELDS = _URL_FIELDS[:-3]
# What decides where secrets go and how the flow is protected. An overlay that
# changes one of these for a bundled provider is shown by `providers show` and
# warned about on every command that reads the registry.
WATCHED_FIELDS = (
    "authorization_url",
    "token_url",
    "revocation_url",
    "userinfo_url",
    "device_authorization_url",
    "issuer",
    "pkce",
    "grants",
    "iss_parameter",
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
    "token_types": list,
    "pkce": str,
    "client_auth": str,
    "client_secret_required": bool,
    "client_id": str,
    "authorization_params": dict,
    "incremental_consent_params": dict,
    "refresh_narrows_scope": bool,
    "redirect_host": str,
    "redirect_ports": list,
    "redirect_path": str,
    "iss_parameter": bool,
    "grants": list,
    "public_grants": list,
    "variant": str,  # the former name of `grants`, for one grant; still read in overlays
    "docs_url": str,
    "console_url": str,
    "revoke_page_url": str,  # the provider's page where a user revokes an app's access by hand
    "notes": str,
    "revocation_auth": str,
    "device_auth": str,
    "callback_parameters": list,
    "account_field": str,
    "refresh_tokens": str,
    "parameters": dict,
    "scopes": dict,
    "connectors": dict,
}
_CONNECTOR_KEYS = {"name": str, "description": str, "scopes": list}
_PARAMETER_KEYS = {"description": str, "default": str, "pattern": str}
_REQUIRED_PROVIDER_KEYS = ("name", "authorization_url", "token_url")


class Connector(Record):
    __slots__ = ("id", "name", "description", "scopes")

    def __init__(self, id: str, name: str, description: str, scopes: tuple[str, ...]) -> None:
        self.id = id
        self.name = name
        self.description = description
        self.scopes = scopes


class ParameterError(ValueError):
    """A template parameter's value is missing, unknown or not allowed."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message


class Parameter(Record):
    """A value an authorization supplies for a provider's URLs ({tenant}, {shop})."""

    __slots__ = ("name", "description", "default", "pattern")

    def __init__(self, name: str, description: str, default: str | None = None, pattern: str | None = None) -> None:
        self.name = name
        self.description = description
        self.default = default
        self.pattern = pattern  # a regular expression the whole value must match

    def problem(self, value: str) -> str | None:
        """Why `value` may not be used, or None."""
        if not isinstance(value, str) or not value:
            return "the value is empty"
        bad = next((ch for ch in value if ch not in PARAMETER_VALUE_CHARS), None)
        if bad is not None:
            return f"{bad!r} is not allowed (only letters, digits, '.', '-', '_' and '~')"
        if len(value) > 253:
            return "the value is longer than 253 characters"
        if ".." in value or value.startswith(".") or value.endswith("."):
            return f"{value!r} is not a host label or path segment"
        if self.pattern is not None and not self._matches(value):
            return f"{value!r} is not a valid value: {self.description}"
        return None

    def _matches(self, value: str) -> bool:
        compiled = _COMPILED.get(self.pattern)
        if compiled is None:
            import re

            try:
                compiled = _COMPILED[self.pattern] = re.compile(self.pattern)
            except re.error as exc:
                # Compiled when the TOML was read; read back from the cache it is compiled
                # here, where it is first used (_read_cache): only an edited cache gets here.
                raise RegistryError(
                    f"the registry cache: parameter {self.name!r}: pattern {self.pattern!r} "
                    f"is not a regular expression: {exc}",
                    hint="Delete registry.json in the cache folder, then run the command again.",
                ) from None
        return compiled.fullmatch(value) is not None


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
        "token_types",
        "pkce",
        "client_auth",
        "client_secret_required",
        "client_id",
        "authorization_params",
        "incremental_consent_params",
        "refresh_narrows_scope",
        "redirect_host",
        "redirect_ports",
        "redirect_path",
        "iss_parameter",
        "grants",
        "public_grants",
        "docs_url",
        "console_url",
        "revoke_page_url",
        "notes",
        "revocation_auth",
        "device_auth",
        "callback_parameters",
        "account_field",
        "refresh_tokens",
        "parameters",
        "source",
        "overrides",
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
        token_types: tuple[str, ...] = (),  # token_type values accepted besides Bearer, used like it
        pkce: str = "supported",
        client_auth: str = "none",
        client_secret_required: bool = False,
        client_id: str | None = None,
        authorization_params: Mapping[str, str] | None = None,
        # Added to the consent URL when it extends an existing grant (Google's
        # include_granted_scopes=true): the provider then keeps what was granted.
        incremental_consent_params: Mapping[str, str] | None = None,
        # A refresh with a narrower `scope` narrows the grant itself (RFC 6749 §6),
        # so removing a connector can give back its scopes without a new consent.
        refresh_narrows_scope: bool = False,
        redirect_host: str = "127.0.0.1",
        redirect_ports: tuple[int, ...] = (),
        redirect_path: str = "/callback",
        iss_parameter: bool = False,
        grants: tuple[str, ...] = (DEFAULT_GRANT,),  # the ways to obtain tokens (grants/), the default first
        # Grants the provider runs with a public client although its code exchange
        # needs the client secret (client_secret_required): GitHub's device flow.
        public_grants: tuple[str, ...] = (),
        docs_url: str | None = None,
        console_url: str | None = None,  # where a developer registers the OAuth client ("app")
        # Named when revoking fails (`remove`, `deactivate --revoke`): https, checked like the others.
        revoke_page_url: str | None = None,
        notes: str | None = None,
        # Client authentication the revocation / device endpoint insists on, when it
        # differs from client_auth; a client without a secret cannot use that endpoint.
        revocation_auth: str | None = None,
        device_auth: str | None = None,
        callback_parameters: tuple[str, ...] = (),  # redirect query values kept with the authorization (realmId)
        account_field: str | None = None,  # the userinfo_url answer's field naming the account (Fakturoid: default_account)
        refresh_tokens: str = "unconfirmed",  # "rotating" | "reused" | "none": what a refresh does, as documented
        parameters: Mapping[str, Parameter] | None = None,  # template values its URLs use ({tenant})
        source: str = "",  # the file that defined or last changed this provider
        # For a bundled provider: each WATCHED_FIELDS field an overlay changed ->
        # {"source": the overlay that set it last, "bundled": the bundled value}.
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
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
        self.token_types = token_types
        self.pkce = pkce
        self.client_auth = client_auth
        self.client_secret_required = client_secret_required
        self.client_id = client_id
        self.authorization_params = {} if authorization_params is None else authorization_params
        self.incremental_consent_params = {} if incremental_consent_params is None else incremental_consent_params
        self.refresh_narrows_scope = refresh_narrows_scope
        self.redirect_host = redirect_host
        self.redirect_ports = redirect_ports
        self.redirect_path = redirect_path
        self.iss_parameter = iss_parameter
        self.grants = grants
        self.public_grants = public_grants
        self.docs_url = docs_url
        self.console_url = console_url
        self.revoke_page_url = revoke_page_url
        self.notes = notes
        self.revocation_auth = revocation_auth
        self.device_auth = device_auth
        self.callback_parameters = callback_parameters
        self.account_field = account_field
        self.refresh_tokens = refresh_tokens
        self.parameters = {} if parameters is None else parameters
        self.source = source
        self.overrides = {} if overrides is None else overrides

    @property
    def revocation_needs_secret(self) -> bool:
        method = self.revocation_auth or self.client_auth
        return method in ENDPOINT_AUTH_METHODS

    def parameter_values(self, given: Mapping[str, str]) -> dict[str, str]:
        """Every declared parameter's value: given, else its default.

        Raises ParameterError (a ValueError) naming the parameter for an unknown
        name, a missing value without a default, or a value that is not allowed.
        """
        for name in given:
            if name not in self.parameters:
                known = ", ".join(self.parameters) or "none"
                raise ParameterError(name, f"provider '{self.id}' has no parameter '{name}' (its parameters: {known})")
        values = {}
        for name, parameter in self.parameters.items():
            value = given.get(name, parameter.default)
            if value is None:
                raise ParameterError(name, f"provider '{self.id}' needs a value for parameter '{name}' ({parameter.description})")
            problem = parameter.problem(value)
            if problem:
                raise ParameterError(name, f"parameter '{name}' of provider '{self.id}': {problem}")
            values[name] = value
        return values

    def with_parameters(self, given: Mapping[str, str]) -> "Provider":
        """This provider with its URLs filled in for one authorization's values.

        Stdlib string work only: `token` renders the token URL on its fast path.
        Anything derived from a URL (its origin, say) must be taken from the result.
        """
        if not self.parameters:
            return self
        values = self.parameter_values(given)
        changes = {}
        for field in TEMPLATED_FIELDS:
            url = getattr(self, field)
            if url and "{" in url:
                for name, value in values.items():
                    url = url.replace("{" + name + "}", value)
                changes[field] = url
        return self.copy(**changes)

    @property
    def default_grant(self) -> str:
        return self.grants[0]

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

    def override_warnings(self) -> list[str]:
        """One line per overlay and bundled provider whose watched fields it changes."""
        lines = []
        for provider in self.providers.values():
            by_source: dict[str, list[str]] = {}
            for field, fact in provider.overrides.items():
                by_source.setdefault(fact["source"], []).append(field)
            for source, fields in by_source.items():
                lines.append(
                    f"warning: {source} overrides {', '.join(fields)} of the bundled provider '{provider.id}'; "
                    f"check that it is yours (integray-auth providers show {provider.id})"
                )
        return lines

    def __init__(self, providers: Mapping[str, Provider], sources: tuple[str, ...]) -> None:
        self.providers = providers
        self.sources = sources

    def get(self, provider_id: str) -> Provider | None:
        return self.providers.get(provider_id)


def bundled_registry_path() -> Path:
    """The providers.toml shipped in the wheel, or the repo's for a source checkout.

    A FilePath: pathlib.Path's spelling and methods, without importing pathlib
    (what Path(__file__).resolve() did, os.path.realpath does)."""
    here = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))  # the integray_auth package
    packaged = os.path.join(here, "providers.toml")
    if os.path.isfile(packaged):
        return FilePath(packaged)
    return FilePath(os.path.join(os.path.dirname(os.path.dirname(here)), "providers.toml"))


def load_registry(
    overlays: list[Path] | tuple[Path, ...] = (), cache_dir: Path | None = None, own_dir: Path | None = None
) -> Registry:
    """Read the bundled registry, then apply each existing overlay in order.

    With `cache_dir`, the checked and merged result is kept as JSON keyed by
    each file's size and modification time: parsing and checking the TOML
    costs more than all of `list` otherwise does. What is read back from the
    cache is checked again like a registry file (cheap next to parsing TOML,
    and without `re` or `urllib.parse`): an edited cache must never be a way
    around the checks. Only a parameter's own regular expression is compiled
    where it is first used (Parameter.problem) rather than here. Overlays in
    `own_dir` (the config folder) are the tool's own files: they and the
    folder must be the user's, not writable by others (fileutil.check_own_dir).
    """
    paths = (bundled_registry_path(), *overlays)
    if own_dir is not None and any(path.parent == own_dir for path in overlays):
        # Checked even when the cache answers: one stat, and the cache must not
        # keep serving what a now-writable folder may have had planted in it.
        _check_own_dir(own_dir, "the config folder")
    sources = tuple(str(p) for p in paths)
    key = _cache_key(paths) if cache_dir else None
    if key:
        providers = _read_cache(cache_dir, key)
        if providers is not None:
            return Registry(providers=providers, sources=sources)
    merged, origin, overrides = _merge_files(paths, own_dir)
    providers = _build_providers(merged, origin, overrides)
    if key:
        _write_cache(cache_dir, key, merged, origin, overrides)
    return Registry(providers=providers, sources=sources)


def read_bundled_entry(provider_id: str) -> dict[str, Any] | None:
    """The bundled file's own entry for a provider, read from the package, never from the cache."""
    path = bundled_registry_path()
    entry = _check_file(read_toml(path), path).get(provider_id)
    if entry is not None:
        _rename_variant(entry)
    return entry


def _build_providers(merged: dict, origin: dict, overrides: dict, patterns: bool = True) -> dict[str, Provider]:
    """With `patterns` False, parameters' defaults are not matched against their
    regular expressions here: Parameter.problem does it wherever one is used."""
    return {
        pid: _build_provider(pid, entry, origin[pid], overrides.get(pid), patterns) for pid, entry in merged.items()
    }


def _merge_files(
    paths, own_dir: Path | None = None
) -> tuple[dict[str, dict[str, Any]], dict[str, str], dict[str, dict[str, Any]]]:
    merged: dict[str, dict[str, Any]] = {}
    origin: dict[str, str] = {}
    overrides: dict[str, dict[str, Any]] = {}
    bundled: dict[str, dict[str, Any]] = {}
    for n, path in enumerate(paths):
        raw = read_toml(path, own=own_dir is not None and path.parent == own_dir)
        try:
            _merge_file(path, n == 0, raw, merged, origin, overrides, bundled)
        except RecursionError:  # a value nested too deeply for the checks (or repr) to walk
            raise _fail(path, "a value", "is nested too deeply") from None
    return merged, origin, {pid: fields for pid, fields in overrides.items() if fields}


def _merge_file(path: Path, is_bundled: bool, raw: dict, merged: dict, origin: dict, overrides: dict, bundled: dict) -> None:
    for pid, entry in _check_file(raw, path).items():
        spelled = _rename_variant(entry)
        if is_bundled:
            bundled[pid] = entry
        elif pid in bundled:
            _check_pkce_kept(path, pid, bundled[pid], {**merged[pid], **entry}, entry, spelled)
            for field in WATCHED_FIELDS:
                if field in entry and entry[field] != bundled[pid].get(field):
                    overrides.setdefault(pid, {})[field] = {"source": str(path), "bundled": bundled[pid].get(field)}
                elif field in entry:
                    overrides.get(pid, {}).pop(field, None)  # a later overlay set it back
        merged[pid] = _merge(merged[pid], entry) if pid in merged else entry
        origin[pid] = str(path)


def _check_own_dir(folder: Path, what: str) -> None:
    from ..stores.files import UnsafePath, check_own_dir

    try:
        check_own_dir(folder, what)
    except UnsafePath as exc:
        raise RegistryError(exc.message, hint=exc.hint) from None


def _rename_variant(entry: dict[str, Any]) -> str:
    """`variant = X` (checked by _check_grants) becomes `grants = [X]`, before
    merging and caching; returns the field's name as the file spelled it."""
    if "variant" not in entry:
        return "grants"
    entry["grants"] = [entry.pop("variant")]
    return "variant"


def _uses_pkce(entry: Mapping[str, Any]) -> bool:
    # Reservanto's protocol has no PKCE at all: allowing its grant turns it off too.
    grants = entry.get("grants", (DEFAULT_GRANT,))
    return not any(g in WITHOUT_PKCE for g in grants) and entry.get("pkce", "supported") != "unsupported"


def _check_pkce_kept(
    path: Path, pid: str, bundled: Mapping[str, Any], merged: Mapping[str, Any], changed: Mapping, grants_field: str = "grants"
) -> None:
    """An overlay may never turn PKCE off for a bundled provider that has it (RFC 9700 §2.1.1)."""
    if _uses_pkce(bundled) and not _uses_pkce(merged):
        if "pkce" in changed:
            field, value = "pkce", changed["pkce"]
        else:
            field, value = grants_field, changed.get("grants")
            if grants_field == "variant" and value:
                value = value[0]
        raise _fail(
            path,
            f"provider '{pid}', field '{field}'",
            f"{value!r} would turn PKCE off, which the bundled provider uses ({bundled.get('pkce', 'supported')!r}); "
            "an overlay may not",
        )


def _cache_key(paths) -> list | None:
    from .. import __version__

    key: list = [__version__, SCHEMA_VERSION]
    for path in paths:
        try:
            stat = os.stat(path)
        except OSError:
            return None  # reading it will say what is wrong
        key.append([str(path), stat.st_size, stat.st_mtime_ns, stat.st_ino])
    return key


def _cache_file(cache_dir: Path) -> Path:
    return cache_dir / "registry.json"


def _read_cache(cache_dir: Path, key: list) -> dict[str, Provider] | None:
    """The cached providers, checked again as a registry file is; None when unusable."""
    from ..lean import jsonio
    from ..stores.files import UnsafePath, read_regular_file

    path = _cache_file(cache_dir)
    try:
        raw = read_regular_file(path, MAX_CACHE_BYTES, "the registry cache", own=True, follow_symlinks=False)
        if raw is None:
            return None
        data = jsonio.loads(raw)
        if data["key"] != key:
            return None
        merged, origin, overrides = data["providers"], data["origin"], data["overrides"]
        # Every check of a registry file, except that a parameter's own regular
        # expression is compiled where it is first used (Parameter.problem), not here.
        _check_file({"providers": merged}, path, patterns=False)
        if set(origin) != set(merged) or not all(type(v) is str for v in origin.values()):
            return None
        for pid, fields in overrides.items():
            for field, fact in fields.items():
                if field not in WATCHED_FIELDS or type(fact["source"]) is not str:
                    return None
            bundled = {f: fact["bundled"] for f, fact in fields.items() if f in ("pkce", "grants")}
            _check_pkce_kept(path, pid, {**merged[pid], **bundled}, merged[pid], merged[pid])
        return _build_providers(merged, origin, overrides, patterns=False)
    except (UnsafePath, OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError, RegistryError):
        # No cache, or an unusable or edited one: read the TOML (and say what is
        # wrong with it, if anything is).
        return None


def _write_cache(cache_dir: Path, key: list, merged: dict, origin: dict, overrides: dict) -> None:
    import json

    from ..stores.files import UnsafePath, atomic_write_text, check_own_dir

    try:
        check_own_dir(cache_dir, "the cache folder")  # never write into another user's folder
        document = {"key": key, "providers": merged, "origin": origin, "overrides": overrides}
        atomic_write_text(_cache_file(cache_dir), json.dumps(document))
    except (OSError, TypeError, ValueError, RecursionError, UnsafePath):
        pass  # a cache is an optimisation; a read-only folder is fine


# What one TOML file may be: the bundled registry is ~50 KB.
MAX_TOML_BYTES = 4 * 1024 * 1024
MAX_CACHE_BYTES = 16 * 1024 * 1024
REGISTRY_HINT = "Check --registry / INTEGRAY_AUTH_REGISTRY."


def read_toml(path: Path, own: bool = False, what: str = "registry file", hint: str = REGISTRY_HINT) -> dict[str, Any]:
    """One TOML file (a registry overlay or config.toml), or a RegistryError naming it.

    Only a regular file is opened (a FIFO would hang us), at most
    MAX_TOML_BYTES; with `own` it is the tool's own file (fileutil.read_regular_file).
    Symlinks are followed: a config kept in a dotfiles repository is common.
    """
    import tomllib

    from ..stores.files import UnsafePath, read_regular_file

    if own:
        _check_own_dir(path.parent, "the config folder")
    try:
        raw = read_regular_file(path, MAX_TOML_BYTES, f"the {what}", own=own)
    except UnsafePath as exc:
        if exc.folder:  # the message names the folder
            raise RegistryError(exc.message, hint=exc.hint or hint) from None
        raise RegistryError(f"{path}: cannot read {what}: {exc.reason}", hint=exc.hint or hint) from None
    if raw is None:
        raise RegistryError(f"{path}: {what} not found", hint=hint) from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message already ends with "(at line L, column C)".
        raise RegistryError(f"{path}: invalid TOML: {exc}", hint="Fix the file, then run the command again.") from None
    except UnicodeDecodeError:
        raise RegistryError(f"{path}: invalid TOML: not UTF-8 text", hint="Save the file as UTF-8.") from None
    except RecursionError:
        raise RegistryError(
            f"{path}: invalid TOML: nested too deeply", hint="Fix the file, then run the command again."
        ) from None


def _fail(path: Path, where: str, message: str) -> RegistryError:
    return RegistryError(f"{path}: {where}: {message}", hint="Fix the file, then run the command again.")


def _check_file(raw: dict[str, Any], path: Path, patterns: bool = True) -> dict[str, dict[str, Any]]:
    """Check one file's shape (types, keys, URL rules); return its providers.

    With `patterns` False, parameters' regular expressions are left for
    Parameter.problem to compile where one is used (the cache, read without `re`)."""
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
                # A placeholder stands for a checked value; check the URL with a sample one.
                sample = _with_samples(entry[key])
                if "{" in sample or "}" in sample:
                    raise _fail(path, f"{where}, field '{key}'", f"{entry[key]!r} has an unmatched '{{' or '}}'")
                _check_url(path, f"{where}, field '{key}'", sample)
        _check_choice(path, where, entry, "pkce", PKCE_MODES)
        _check_choice(path, where, entry, "client_auth", CLIENT_AUTH_METHODS)
        _check_choice(path, where, entry, "redirect_host", REDIRECT_HOSTS)
        _check_grants(path, where, entry)
        _check_choice(path, where, entry, "scope_separator", SCOPE_SEPARATORS)
        _check_choice(path, where, entry, "scope_parameter", SCOPE_PARAMETERS)
        _check_choice(path, where, entry, "revocation_auth", ENDPOINT_AUTH_METHODS)
        _check_choice(path, where, entry, "device_auth", ENDPOINT_AUTH_METHODS)
        _check_choice(path, where, entry, "refresh_tokens", REFRESH_BEHAVIOURS)
        for name in entry.get("callback_parameters", []):
            if not isinstance(name, str) or not _is_callback_parameter(name) or name in ("code", "state", "error", "iss"):
                raise _fail(path, f"{where}, field 'callback_parameters'", f"{name!r} is not a redirect parameter name to keep")
        for name, parameter in entry.get("parameters", {}).items():
            _check_parameter(path, f"{where}, parameter {name!r}", name, parameter, patterns)
        for port in entry.get("redirect_ports", []):
            if isinstance(port, bool) or not isinstance(port, int) or not 1024 <= port <= 65535:
                raise _fail(path, f"{where}, field 'redirect_ports'", f"{port!r} is not a port from 1024 to 65535")
        for token_type in entry.get("token_types", []):
            if not isinstance(token_type, str) or not _is_token_type(token_type):
                raise _fail(path, f"{where}, field 'token_types'", f"{token_type!r} is not a token type name")
        rpath = entry.get("redirect_path")
        if rpath is not None and (not rpath.startswith("/") or "?" in rpath or "#" in rpath):
            raise _fail(path, f"{where}, field 'redirect_path'", "must start with '/' and have no query or fragment")
        for table in ("authorization_params", "incremental_consent_params"):
            for key, value in entry.get(table, {}).items():
                if not isinstance(value, str):
                    raise _fail(path, f"{where}, field '{table}.{key}'", "must be a string")
                if key in RESERVED_AUTHORIZATION_PARAMS:
                    raise _fail(path, f"{where}, field '{table}.{key}'", "is set by integray-auth itself")
        _check_text(path, f"{where}, field 'name'", entry.get("name"))
        _check_text(path, f"{where}, field 'notes'", entry.get("notes"), lines=True)
        for scope, description in entry.get("scopes", {}).items():
            if not isinstance(description, str):
                raise _fail(path, f"{where}, scope {scope!r}", "the description must be a string")
            _check_text(path, f"{where}, scope {scope!r}", scope)
            _check_text(path, f"{where}, scope {scope!r}, its description", description)
        for cid, connector in entry.get("connectors", {}).items():
            _check_connector(path, f"{where}, connector {cid!r}", cid, connector)
    return providers


def _check_parameter(path: Path, where: str, name: str, parameter: Any, patterns: bool = True) -> None:
    if not is_parameter_name(name):
        raise _fail(path, where, "name must be lowercase letters, digits and '_', starting with a letter")
    _check_table(path, where, name, parameter, _PARAMETER_KEYS, is_valid_id=is_parameter_name)
    _check_text(path, f"{where}, field 'description'", parameter.get("description"))
    pattern = parameter.get("pattern")
    if pattern is not None and patterns:
        import re

        try:
            re.compile(pattern)
        except re.error as exc:
            raise _fail(path, f"{where}, field 'pattern'", f"not a regular expression: {exc}") from None
    default = parameter.get("default")
    if default is not None:
        problem = Parameter(name, parameter.get("description", ""), None, pattern if patterns else None).problem(default)
        if problem:
            raise _fail(path, f"{where}, field 'default'", problem)


def _check_table(
    path: Path, where: str, table_id: str, table: Any, keys: dict[str, type], is_valid_id: Callable[[str], bool] = is_id
) -> None:
    """A provider's or connector's id, and each field's name and type."""
    if not is_valid_id(table_id):
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
        _check_text(path, f"{where}, field 'scopes'", scope)
    _check_text(path, f"{where}, field 'name'", connector.get("name"))
    _check_text(path, f"{where}, field 'description'", connector.get("description"))


def _check_text(path: Path, where: str, text: str | None, lines: bool = False) -> None:
    """Names, descriptions and notes are shown in tables, `show` and completion
    menus: no control, format or line-separator character (an ESC sequence
    would retitle or clear the terminal, a bidi override reverse a name), and
    no line break except between the lines of `notes`. Checked when the
    registry is read, the cache included; the output escapes them besides."""
    if text is None or text.isprintable() or (lines and all(map(str.isprintable, text.split("\n")))):
        return  # all the bundled file holds: a C call or a few (`list` checks its cache on every run)
    from ..lean.printable import escape, has_unsafe

    for ch in text:
        if has_unsafe(ch) and not (lines and ch == "\n"):
            raise _fail(path, where, f"holds the control character '{escape(ch)}', which a terminal would act on; remove it")


def _check_url(path: Path, where: str, url: str) -> None:
    plain = split_plain(url)  # what urlsplit would say, for the common spelling (urlparts.py)
    if plain is not None:
        scheme, host, _ = plain
        if (scheme == "https" and host) or (scheme == "http" and host in LOOPBACK_HOSTS):
            return
    from urllib.parse import urlsplit  # the rest, and every refusal, as before

    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        raise _fail(path, where, f"{url!r} is not a URL") from None
    if "@" in parts.netloc:
        # https://user:pw@host: a credential in a file, sent to whoever that host is
        # (and shown by `providers show`); never echo it.
        shown = f"{parts.scheme}://***@{parts.netloc.rpartition('@')[2]}"
        raise _fail(path, where, f"{shown!r} carries a user name or password (userinfo); remove it")
    if parts.scheme == "https" and host:
        return
    if parts.scheme == "http" and host in LOOPBACK_HOSTS:
        return  # a local test or development server
    raise _fail(path, where, f"{url!r} must be an https:// URL (http:// only for a loopback host)")


def _check_choice(path: Path, where: str, entry: dict, key: str, choices: tuple[str, ...]) -> None:
    if key in entry and entry[key] not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise _fail(path, f"{where}, field '{key}'", f"{entry[key]!r} is not one of {allowed}")


def _check_grants(path: Path, where: str, entry: dict) -> None:
    """`grants`: known names, no repeats, at least one; or `variant`, its former one-grant name."""
    if "variant" in entry:
        if "grants" in entry:
            raise _fail(path, f"{where}, field 'variant'", "is the former name of 'grants'; keep only 'grants'")
        _check_choice(path, where, entry, "variant", GRANT_NAMES)
    if "grants" not in entry:
        return
    field = f"{where}, field 'grants'"
    names = entry["grants"]
    if not names:
        raise _fail(path, field, "must name at least one grant (the first is the default)")
    allowed = ", ".join(repr(c) for c in GRANT_NAMES)
    for name in names:
        if not isinstance(name, str) or name not in GRANTS:
            raise _fail(path, field, f"{name!r} is not one of {allowed}")
    if len(set(names)) < len(names):
        raise _fail(path, field, "names a grant twice")
    for name in names:
        if name in CONFIDENTIAL_GRANTS and entry.get("client_auth", "none") == "none":
            # RFC 6749 §4.4: the client authenticates itself, there is no user.
            raise _fail(
                path, field,
                f"'{name}' needs a confidential client: set client_auth to "
                "'client_secret_basic', 'client_secret_post' or 'private_key_jwt'",
            )


def _type_name(kind: type) -> str:
    return {str: "string", bool: "boolean (true/false)", dict: "table", list: "list"}[kind]


def _merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Overlay fields win; scopes, connectors and parameters merge key by key."""
    merged = dict(base)
    for key, value in overlay.items():
        if key in ("scopes", "authorization_params", "incremental_consent_params"):
            merged[key] = {**base.get(key, {}), **value}
        elif key == "parameters":
            parameters = dict(base.get("parameters", {}))
            for name, parameter in value.items():
                parameters[name] = {**parameters.get(name, {}), **parameter}
            merged[key] = parameters
        elif key == "connectors":
            connectors = dict(base.get("connectors", {}))
            for cid, connector in value.items():
                connectors[cid] = {**connectors.get(cid, {}), **connector}
            merged[key] = connectors
        else:
            merged[key] = value
    return merged


def _build_provider(
    pid: str, entry: dict[str, Any], source: str, overrides: dict | None = None, patterns: bool = True
) -> Provider:
    path = FilePath(source)
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
    parameters = _build_parameters(path, where, entry, patterns)
    if entry.get("revocation_auth") and not entry.get("revocation_url"):
        raise _fail(path, f"{where}, field 'revocation_auth'", "needs 'revocation_url'")
    if entry.get("device_auth") and not entry.get("device_authorization_url"):
        raise _fail(path, f"{where}, field 'device_auth'", "needs 'device_authorization_url'")
    for name in entry.get("public_grants", ()):
        if name not in entry.get("grants", (DEFAULT_GRANT,)):
            raise _fail(path, f"{where}, field 'public_grants'", f"{name!r} is not one of this provider's grants")
        if name in CONFIDENTIAL_GRANTS:
            raise _fail(path, f"{where}, field 'public_grants'", f"{name!r} always authenticates the client")
    if "device_code" in entry.get("grants", ()) and not entry.get("device_authorization_url"):
        raise _fail(path, f"{where}, field 'grants'", "'device_code' needs 'device_authorization_url'")
    if entry.get("account_field") and not entry.get("userinfo_url"):
        raise _fail(path, f"{where}, field 'account_field'", "needs 'userinfo_url', where the account is read")
    clash = set(entry.get("callback_parameters", ())) & set(parameters)
    if clash:
        raise _fail(path, f"{where}, field 'callback_parameters'", f"{sorted(clash)[0]!r} is also a template parameter")
    nested = (
        "scopes", "connectors", "redirect_ports", "authorization_params", "incremental_consent_params", "parameters",
        "callback_parameters",
    )
    nested += ("token_types", "grants", "public_grants")
    simple = {k: v for k, v in entry.items() if k not in nested}
    return Provider(
        id=pid,
        scopes=dict(scopes),
        connectors=connectors,
        redirect_ports=tuple(entry.get("redirect_ports", ())),
        token_types=tuple(entry.get("token_types", ())),
        grants=tuple(entry.get("grants", (DEFAULT_GRANT,))),
        public_grants=tuple(entry.get("public_grants", ())),
        authorization_params=dict(entry.get("authorization_params", {})),
        incremental_consent_params=dict(entry.get("incremental_consent_params", {})),
        parameters=parameters,
        callback_parameters=tuple(entry.get("callback_parameters", ())),
        source=source,
        overrides=overrides,
        **simple,
    )


def _build_parameters(path: Path, where: str, entry: dict[str, Any], patterns: bool = True) -> dict[str, Parameter]:
    """The declared parameters, each used in some URL, and every URL placeholder declared."""
    declared = entry.get("parameters", {})
    used: set[str] = set()
    for field in TEMPLATED_FIELDS:
        for _, _, name in placeholders(entry.get(field) or ""):
            if name not in declared:
                raise _fail(
                    path, f"{where}, field '{field}'", f"uses {{{name}}}, which is not declared in [providers.<id>.parameters]"
                )
            used.add(name)
    parameters = {}
    for name, raw in declared.items():
        if name not in used:
            raise _fail(path, f"{where}, parameter '{name}'", "is used in none of the provider's URLs")
        if not raw.get("description"):  # an overlay may have added only a default
            raise _fail(path, f"{where}, parameter '{name}'", "missing required field 'description'")
        parameter = Parameter(name, raw["description"], raw.get("default"), raw.get("pattern"))
        checked = parameter if patterns else Parameter(name, raw["description"], None, None)
        problem = None if parameter.default is None else checked.problem(parameter.default)
        if problem:
            raise _fail(path, f"{where}, parameter '{name}', field 'default'", problem)
        parameters[name] = parameter
    return parameters
