"""The checks of one registry file: its schema, and the rules of each field.

A registry file (the bundled one, an overlay, or the JSON cache read back) is
checked before anything of it is used: the keys and their types (the tables
below), URLs (https, or http for a loopback host; no userinfo), the choices,
the grants, names and texts a terminal shows, and that an overlay never turns
PKCE off for a bundled provider. loading.py adds the checks that need the
merged entry (required fields, connectors' scopes, parameters used) as it
builds the providers.
"""

from __future__ import annotations

from ..errors import RegistryError
from ..grants import DEFAULT_GRANT, GRANTS, WITHOUT_PKCE
from ..lean.urlparts import split_plain
from .model import (
    CLIENT_AUTH_METHODS,
    CONFIDENTIAL_GRANTS,
    ENDPOINT_AUTH_METHODS,
    GRANT_NAMES,
    LOOPBACK_HOSTS,
    PKCE_MODES,
    REDIRECT_HOSTS,
    REFRESH_BEHAVIOURS,
    RESERVED_AUTHORIZATION_PARAMS,
    RESERVED_TOKEN_PARAMS,
    SCHEMA_VERSION,
    SCOPE_PARAMETERS,
    SCOPE_SEPARATORS,
    TOKEN_REQUEST_ENCODINGS,
    URL_FIELDS,
    Parameter,
)
from .names import (
    is_callback_parameter,
    is_git_host,
    is_git_username,
    is_id,
    is_parameter_name,
    is_token_type,
    with_samples,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Mapping

    from ..lean.filepath import FilePath

# The schema: each key a table may have, and its TOML type.
PROVIDER_KEYS = {
    "name": str,
    "authorization_url": str,
    "token_url": str,
    "revocation_url": str,
    "device_authorization_url": str,
    "issuer": str,
    "userinfo_url": str,
    "resource": str,
    "mcp_url": str,
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
    "git_username": str,
    "git_hosts": list,
    "scopes": dict,
    "connectors": dict,
    # Issue 20 items 8-10, issue 19 item 4: the token requests, known limits, setup.
    "code_exchange_params": dict,
    "refresh_params": dict,
    "token_request_encoding": str,
    "code_lifetime": int,
    "https_redirect_only": bool,
    "device_scopes": list,
    "limits": list,
    "client_registration": str,
    "device_flow_setting": str,
    "device_needs_own_client": bool,
    "client_id_from_provider": bool,
    "discovery": bool,
}
CONNECTOR_KEYS = {"name": str, "description": str, "scopes": list}
PARAMETER_KEYS = {"description": str, "default": str, "pattern": str}
REQUIRED_PROVIDER_KEYS = ("name", "authorization_url", "token_url")


def _uses_pkce(entry: Mapping[str, Any]) -> bool:
    # Reservanto's protocol has no PKCE at all: allowing its grant turns it off too.
    grants = entry.get("grants", (DEFAULT_GRANT,))
    return not any(g in WITHOUT_PKCE for g in grants) and entry.get("pkce", "supported") != "unsupported"


def check_pkce_kept(
    path: FilePath, pid: str, bundled: Mapping[str, Any], merged: Mapping[str, Any], changed: Mapping, grants_field: str = "grants"
) -> None:
    """An overlay may never turn PKCE off for a bundled provider that has it (RFC 9700 §2.1.1)."""
    if _uses_pkce(bundled) and not _uses_pkce(merged):
        if "pkce" in changed:
            field, value = "pkce", changed["pkce"]
        else:
            field, value = grants_field, changed.get("grants")
            if grants_field == "variant" and value:
                value = value[0]
        raise file_error(
            path,
            f"provider '{pid}', field '{field}'",
            f"{value!r} would turn PKCE off, which the bundled provider uses ({bundled.get('pkce', 'supported')!r}); "
            "an overlay may not",
        )



def file_error(path: FilePath, where: str, message: str) -> RegistryError:
    return RegistryError(f"{path}: {where}: {message}", hint="Fix the file, then run the command again.")


def check_file(raw: dict[str, Any], path: FilePath, patterns: bool = True) -> dict[str, dict[str, Any]]:
    """Check one file's shape (types, keys, URL rules); return its providers.

    With `patterns` False, parameters' regular expressions are left for
    Parameter.problem to compile where one is used (the cache, read without `re`)."""
    for key in raw:
        if key not in ("schema_version", "providers"):
            raise file_error(path, "top level", f"unknown key {key!r} (expected 'schema_version', 'providers')")
    version = raw.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise file_error(path, "schema_version", f"unsupported value {version!r} (this integray-auth reads {SCHEMA_VERSION})")
    providers = raw.get("providers", {})
    if not isinstance(providers, dict):
        raise file_error(path, "providers", "must be a table of [providers.<id>] tables")
    for pid, entry in providers.items():
        where = f"provider {pid!r}"  # repr: a quoted TOML key may hold a newline
        _check_table(path, where, pid, entry, PROVIDER_KEYS)
        for key in URL_FIELDS:
            if key in entry:
                # A placeholder stands for a checked value; check the URL with a sample one.
                sample = with_samples(entry[key])
                if "{" in sample or "}" in sample:
                    raise file_error(path, f"{where}, field '{key}'", f"{entry[key]!r} has an unmatched '{{' or '}}'")
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
            if not isinstance(name, str) or not is_callback_parameter(name) or name in ("code", "state", "error", "iss"):
                raise file_error(path, f"{where}, field 'callback_parameters'", f"{name!r} is not a redirect parameter name to keep")
        for name, parameter in entry.get("parameters", {}).items():
            _check_parameter(path, f"{where}, parameter {name!r}", name, parameter, patterns)
        for port in entry.get("redirect_ports", []):
            if isinstance(port, bool) or not isinstance(port, int) or not 1024 <= port <= 65535:
                raise file_error(path, f"{where}, field 'redirect_ports'", f"{port!r} is not a port from 1024 to 65535")
        for token_type in entry.get("token_types", []):
            if not isinstance(token_type, str) or not is_token_type(token_type):
                raise file_error(path, f"{where}, field 'token_types'", f"{token_type!r} is not a token type name")
        username = entry.get("git_username")
        if username is not None and not is_git_username(username):
            raise file_error(path, f"{where}, field 'git_username'", f"{username!r} is not a user name git can send")
        for host in entry.get("git_hosts", []):
            # A placeholder stands for a checked parameter value (letters, digits, '.', '-').
            if not isinstance(host, str) or not is_git_host(with_samples(host)) or "{" in with_samples(host):
                raise file_error(
                    path, f"{where}, field 'git_hosts'", f"{host!r} is not a git host (a lowercase host name, optionally :port)"
                )
        rpath = entry.get("redirect_path")
        if rpath is not None and (not rpath.startswith("/") or "?" in rpath or "#" in rpath):
            raise file_error(path, f"{where}, field 'redirect_path'", "must start with '/' and have no query or fragment")
        for table in ("authorization_params", "incremental_consent_params"):
            for key, value in entry.get(table, {}).items():
                if not isinstance(value, str):
                    raise file_error(path, f"{where}, field '{table}.{key}'", "must be a string")
                if key in RESERVED_AUTHORIZATION_PARAMS:
                    raise file_error(path, f"{where}, field '{table}.{key}'", "is set by integray-auth itself")
        _check_text(path, f"{where}, field 'name'", entry.get("name"))
        _check_text(path, f"{where}, field 'notes'", entry.get("notes"), lines=True)
        for scope, description in entry.get("scopes", {}).items():
            if not isinstance(description, str):
                raise file_error(path, f"{where}, scope {scope!r}", "the description must be a string")
            _check_text(path, f"{where}, scope {scope!r}", scope)
            _check_text(path, f"{where}, scope {scope!r}, its description", description)
        for cid, connector in entry.get("connectors", {}).items():
            _check_connector(path, f"{where}, connector {cid!r}", cid, connector)
        _check_token_requests_and_limits(path, where, entry)
    return providers


def _check_token_requests_and_limits(path: FilePath, where: str, entry: dict) -> None:
    """The token requests' extra parameters and encoding, and the known limits."""
    _check_choice(path, where, entry, "token_request_encoding", TOKEN_REQUEST_ENCODINGS)
    for table in ("code_exchange_params", "refresh_params"):
        for key, value in entry.get(table, {}).items():
            field = f"{where}, field '{table}.{key}'"
            if not isinstance(value, str):
                raise file_error(path, field, "must be a string")
            if key in RESERVED_TOKEN_PARAMS:
                raise file_error(path, field, "is set by integray-auth itself")
            _check_text(path, field, key)
            _check_text(path, field, value)
    lifetime = entry.get("code_lifetime")
    if lifetime is not None and not 1 <= lifetime <= 3600:
        raise file_error(path, f"{where}, field 'code_lifetime'", f"{lifetime!r} is not a number of seconds from 1 to 3600")
    for scope in entry.get("device_scopes", []):
        if not isinstance(scope, str) or not scope:
            raise file_error(path, f"{where}, field 'device_scopes'", f"{scope!r} is not a scope string")
        _check_text(path, f"{where}, field 'device_scopes'", scope)
    for line in entry.get("limits", []):
        if not isinstance(line, str) or not line.strip():
            raise file_error(path, f"{where}, field 'limits'", f"{line!r} is not a line of text")
        _check_text(path, f"{where}, field 'limits'", line)
    for key in ("client_registration", "device_flow_setting"):
        _check_text(path, f"{where}, field '{key}'", entry.get(key))


def _check_parameter(path: FilePath, where: str, name: str, parameter: Any, patterns: bool = True) -> None:
    if not is_parameter_name(name):
        raise file_error(path, where, "name must be lowercase letters, digits and '_', starting with a letter")
    _check_table(path, where, name, parameter, PARAMETER_KEYS, is_valid_id=is_parameter_name)
    _check_text(path, f"{where}, field 'description'", parameter.get("description"))
    pattern = parameter.get("pattern")
    if pattern is not None and patterns:
        import re

        try:
            re.compile(pattern)
        except re.error as exc:
            raise file_error(path, f"{where}, field 'pattern'", f"not a regular expression: {exc}") from None
    default = parameter.get("default")
    if default is not None:
        problem = Parameter(name, parameter.get("description", ""), None, pattern if patterns else None).problem(default)
        if problem:
            raise file_error(path, f"{where}, field 'default'", problem)


def _check_table(
    path: FilePath, where: str, table_id: str, table: Any, keys: dict[str, type], is_valid_id: Callable[[str], bool] = is_id
) -> None:
    """A provider's or connector's id, and each field's name and type."""
    if not is_valid_id(table_id):
        raise file_error(path, where, "id must be lowercase letters, digits and '-'")
    if not isinstance(table, dict):
        raise file_error(path, where, "must be a table")
    for key, value in table.items():
        expected = keys.get(key)
        if expected is None:
            raise file_error(path, f"{where}, field {key!r}", "unknown key")
        # bool is an int, and TOML's true must not pass for a port or a string.
        if not isinstance(value, expected) or (expected is not bool and isinstance(value, bool)):
            raise file_error(path, f"{where}, field '{key}'", f"must be a {_type_name(expected)}")


def _check_connector(path: FilePath, where: str, cid: str, connector: Any) -> None:
    _check_table(path, where, cid, connector, CONNECTOR_KEYS)
    for scope in connector.get("scopes", []):
        if not isinstance(scope, str) or not scope:
            raise file_error(path, f"{where}, field 'scopes'", f"{scope!r} is not a scope string")
        _check_text(path, f"{where}, field 'scopes'", scope)
    _check_text(path, f"{where}, field 'name'", connector.get("name"))
    _check_text(path, f"{where}, field 'description'", connector.get("description"))


def _check_text(path: FilePath, where: str, text: str | None, lines: bool = False) -> None:
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
            raise file_error(path, where, f"holds the control character '{escape(ch)}', which a terminal would act on; remove it")


def _check_url(path: FilePath, where: str, url: str) -> None:
    plain = split_plain(url)  # what urlsplit would say, for the common spelling (lean/urlparts.py)
    if plain is not None:
        scheme, host, _ = plain
        if (scheme == "https" and host) or (scheme == "http" and host in LOOPBACK_HOSTS):
            return
    from urllib.parse import urlsplit  # the rest, and every refusal, as before

    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        raise file_error(path, where, f"{url!r} is not a URL") from None
    if "@" in parts.netloc:
        # https://user:pw@host: a credential in a file, sent to whoever that host is
        # (and shown by `providers show`); never echo it.
        shown = f"{parts.scheme}://***@{parts.netloc.rpartition('@')[2]}"
        raise file_error(path, where, f"{shown!r} carries a user name or password (userinfo); remove it")
    if parts.scheme == "https" and host:
        return
    if parts.scheme == "http" and host in LOOPBACK_HOSTS:
        return  # a local test or development server
    raise file_error(path, where, f"{url!r} must be an https:// URL (http:// only for a loopback host)")


def _check_choice(path: FilePath, where: str, entry: dict, key: str, choices: tuple[str, ...]) -> None:
    if key in entry and entry[key] not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise file_error(path, f"{where}, field '{key}'", f"{entry[key]!r} is not one of {allowed}")


def _check_grants(path: FilePath, where: str, entry: dict) -> None:
    """`grants`: known names, no repeats, at least one; or `variant`, its former one-grant name."""
    if "variant" in entry:
        if "grants" in entry:
            raise file_error(path, f"{where}, field 'variant'", "is the former name of 'grants'; keep only 'grants'")
        _check_choice(path, where, entry, "variant", GRANT_NAMES)
    if "grants" not in entry:
        return
    field = f"{where}, field 'grants'"
    names = entry["grants"]
    if not names:
        raise file_error(path, field, "must name at least one grant (the first is the default)")
    allowed = ", ".join(repr(c) for c in GRANT_NAMES)
    for name in names:
        if not isinstance(name, str) or name not in GRANTS:
            raise file_error(path, field, f"{name!r} is not one of {allowed}")
    if len(set(names)) < len(names):
        raise file_error(path, field, "names a grant twice")
    for name in names:
        if name in CONFIDENTIAL_GRANTS and entry.get("client_auth", "none") == "none":
            # RFC 6749 §4.4: the client authenticates itself, there is no user.
            raise file_error(
                path, field,
                f"'{name}' needs a confidential client: set client_auth to "
                "'client_secret_basic', 'client_secret_post' or 'private_key_jwt'",
            )


def _type_name(kind: type) -> str:
    return {str: "string", bool: "boolean (true/false)", dict: "table", list: "list", int: "whole number"}[kind]
