"""Finding and reading registry files, merging the overlays, building providers.

The bundled `providers.toml` is read first; a user overlay (the
`providers.toml` in the config folder, then `--registry PATH` or
`INTEGRAY_AUTH_REGISTRY`) may add providers or override fields of bundled
ones. Each file is checked (checks.py) before it is merged; the merged result
is kept in the JSON cache (cache.py) so that `list` does not parse TOML. Every
problem becomes a `RegistryError` naming the file, the provider or connector
and the field, never a traceback.
"""

from __future__ import annotations

import os

from ..errors import RegistryError
from ..grants import DEFAULT_GRANT, DEVICE_GRANT, PROVIDER_FIELDS
from ..lean.filepath import FilePath
from . import cache
from .checks import CONNECTOR_KEYS, REQUIRED_PROVIDER_KEYS, check_file, check_pkce_kept, file_error
from .model import (
    CONFIDENTIAL_GRANTS,
    TEMPLATED_FIELDS,
    WATCHED_FIELDS,
    Connector,
    Parameter,
    Provider,
    Registry,
)
from .names import placeholders

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def bundled_registry_path() -> FilePath:
    """The providers.toml shipped in the wheel, or the repo's for a source checkout.

    A FilePath: pathlib.Path's spelling and methods, without importing pathlib
    (what Path(__file__).resolve() did, os.path.realpath does)."""
    here = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))  # the integray_auth package
    packaged = os.path.join(here, "providers.toml")
    if os.path.isfile(packaged):
        return FilePath(packaged)
    return FilePath(os.path.join(os.path.dirname(os.path.dirname(here)), "providers.toml"))


def load_registry(
    overlays: list[FilePath] | tuple[FilePath, ...] = (), cache_dir: FilePath | None = None, own_dir: FilePath | None = None
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
    folder must be the user's, not writable by others (stores/files.py, check_own_dir).
    """
    paths = (bundled_registry_path(), *overlays)
    if own_dir is not None and any(path.parent == own_dir for path in overlays):
        # Checked even when the cache answers: one stat, and the cache must not
        # keep serving what a now-writable folder may have had planted in it.
        _check_own_dir(own_dir, "the config folder")
    sources = tuple(str(p) for p in paths)
    key = cache.key_of(paths) if cache_dir else None
    if key:
        providers = cache.read(cache_dir, key, build_providers)
        if providers is not None:
            return Registry(providers=providers, sources=sources)
    merged, origin, overrides = _merge_files(paths, own_dir)
    providers = build_providers(merged, origin, overrides)
    if key:
        cache.write(cache_dir, key, merged, origin, overrides)
    return Registry(providers=providers, sources=sources)


def read_bundled_entry(provider_id: str) -> dict[str, Any] | None:
    """The bundled file's own entry for a provider, read from the package, never from the cache."""
    path = bundled_registry_path()
    entry = check_file(read_toml(path), path).get(provider_id)
    if entry is not None:
        _rename_variant(entry)
    return entry


def build_providers(merged: dict, origin: dict, overrides: dict, patterns: bool = True) -> dict[str, Provider]:
    """The checked providers of a merged registry (from the files, or cache.read).

    With `patterns` False, parameters' defaults are not matched against their
    regular expressions here: Parameter.problem does it wherever one is used."""
    return {
        pid: _build_provider(pid, entry, origin[pid], overrides.get(pid), patterns) for pid, entry in merged.items()
    }


def _merge_files(
    paths, own_dir: FilePath | None = None
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
            raise file_error(path, "a value", "is nested too deeply") from None
    return merged, origin, {pid: fields for pid, fields in overrides.items() if fields}


def _merge_file(path: FilePath, is_bundled: bool, raw: dict, merged: dict, origin: dict, overrides: dict, bundled: dict) -> None:
    for pid, entry in check_file(raw, path).items():
        spelled = _rename_variant(entry)
        if is_bundled:
            bundled[pid] = entry
        elif pid in bundled:
            check_pkce_kept(path, pid, bundled[pid], {**merged[pid], **entry}, entry, spelled)
            for field in WATCHED_FIELDS:
                if field in entry and entry[field] != bundled[pid].get(field):
                    overrides.setdefault(pid, {})[field] = {"source": str(path), "bundled": bundled[pid].get(field)}
                elif field in entry:
                    overrides.get(pid, {}).pop(field, None)  # a later overlay set it back
        merged[pid] = _merge(merged[pid], entry) if pid in merged else entry
        origin[pid] = str(path)


def _check_own_dir(folder: FilePath, what: str) -> None:
    from ..stores.files import UnsafePath, check_own_dir

    try:
        check_own_dir(folder, what)
    except UnsafePath as exc:
        raise RegistryError(exc.message, hint=exc.hint) from None


def _rename_variant(entry: dict[str, Any]) -> str:
    """`variant = X` (checked with `grants` in checks.py) becomes `grants = [X]`, before
    merging and caching; returns the field's name as the file spelled it."""
    if "variant" not in entry:
        return "grants"
    entry["grants"] = [entry.pop("variant")]
    return "variant"


# What one TOML file may be: the bundled registry is ~50 KB.
MAX_TOML_BYTES = 4 * 1024 * 1024
REGISTRY_HINT = "Check --registry / INTEGRAY_AUTH_REGISTRY."


def read_toml(path: FilePath, own: bool = False, what: str = "registry file", hint: str = REGISTRY_HINT) -> dict[str, Any]:
    """One TOML file (a registry overlay or config.toml), or a RegistryError naming it.

    Only a regular file is opened (a FIFO would hang us), at most
    MAX_TOML_BYTES; with `own` it is the tool's own file (stores/files.py, read_regular_file).
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



def _merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Overlay fields win; scopes, connectors and parameters merge key by key."""
    merged = dict(base)
    for key, value in overlay.items():
        if key in ("scopes", "authorization_params", "incremental_consent_params", "code_exchange_params", "refresh_params"):
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
    for key in REQUIRED_PROVIDER_KEYS:
        if not entry.get(key):
            raise file_error(path, where, f"missing required field '{key}'")
    if entry.get("iss_parameter") and not entry.get("issuer"):
        # Without it the RFC 9207 check (mix-up defence) would be silently skipped.
        raise file_error(path, f"{where}, field 'iss_parameter'", "needs 'issuer', the value every answer's iss must equal")
    scopes = entry.get("scopes", {})
    connectors = {}
    for cid, raw in entry.get("connectors", {}).items():
        cwhere = f"{where}, connector '{cid}'"
        for key in CONNECTOR_KEYS:
            if key not in raw:
                raise file_error(path, cwhere, f"missing required field '{key}'")
        if not raw["scopes"] and not entry.get("resource"):
            # An MCP server whose metadata names no scope is asked for none (MCP authorization, scope selection).
            raise file_error(path, f"{cwhere}, field 'scopes'", "must list at least one scope")
        for scope in raw["scopes"]:
            if scope not in scopes:
                raise file_error(
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
            raise file_error(path, f"{where}, connector '{connector.id}'", f"duplicate name {connector.name!r} (also '{other}')")
    parameters = _build_parameters(path, where, entry, patterns)
    if entry.get("revocation_auth") and not entry.get("revocation_url"):
        raise file_error(path, f"{where}, field 'revocation_auth'", "needs 'revocation_url'")
    if entry.get("device_auth") and not entry.get("device_authorization_url"):
        raise file_error(path, f"{where}, field 'device_auth'", "needs 'device_authorization_url'")
    for name in entry.get("public_grants", ()):
        if name not in entry.get("grants", (DEFAULT_GRANT,)):
            raise file_error(path, f"{where}, field 'public_grants'", f"{name!r} is not one of this provider's grants")
        if name in CONFIDENTIAL_GRANTS:
            raise file_error(path, f"{where}, field 'public_grants'", f"{name!r} always authenticates the client")
    for name in entry.get("grants", ()):
        for needed in PROVIDER_FIELDS.get(name, ()):
            if not entry.get(needed):
                raise file_error(path, f"{where}, field 'grants'", f"'{name}' needs '{needed}'")
    if entry.get("account_field") and not entry.get("userinfo_url"):
        raise file_error(path, f"{where}, field 'account_field'", "needs 'userinfo_url', where the account is read")
    for host in entry.get("git_hosts", ()):
        for _, _, name in placeholders(host):
            if name not in parameters:
                raise file_error(path, f"{where}, field 'git_hosts'", f"uses {{{name}}}, which is not a parameter of the provider")
    clash = set(entry.get("callback_parameters", ())) & set(parameters)
    if clash:
        raise file_error(path, f"{where}, field 'callback_parameters'", f"{sorted(clash)[0]!r} is also a template parameter")
    nested = (
        "scopes", "connectors", "redirect_ports", "authorization_params", "incremental_consent_params", "parameters",
        "callback_parameters",
    )
    nested += ("token_types", "grants", "public_grants")
    nested += ("code_exchange_params", "refresh_params", "device_scopes", "limits")
    if entry.get("discovery") and not entry.get("issuer"):
        raise file_error(path, f"{where}, field 'discovery'", "needs 'issuer', where the metadata is published")
    for field in ("device_scopes", "device_flow_setting", "device_needs_own_client"):
        if entry.get(field) is not None and entry.get(field) is not False and DEVICE_GRANT not in entry.get("grants", ()):
            raise file_error(path, f"{where}, field '{field}'", f"needs the '{DEVICE_GRANT}' grant")
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
        code_exchange_params=dict(entry.get("code_exchange_params", {})),
        refresh_params=dict(entry.get("refresh_params", {})),
        device_scopes=tuple(entry["device_scopes"]) if "device_scopes" in entry else None,
        limits=tuple(entry.get("limits", ())),
        source=source,
        overrides=overrides,
        **simple,
    )


def _build_parameters(path: FilePath, where: str, entry: dict[str, Any], patterns: bool = True) -> dict[str, Parameter]:
    """The declared parameters, each used in some URL, and every URL placeholder declared."""
    declared = entry.get("parameters", {})
    used: set[str] = set()
    for field in TEMPLATED_FIELDS:
        for _, _, name in placeholders(entry.get(field) or ""):
            if name not in declared:
                raise file_error(
                    path, f"{where}, field '{field}'", f"uses {{{name}}}, which is not declared in [providers.<id>.parameters]"
                )
            used.add(name)
    parameters = {}
    for name, raw in declared.items():
        if name not in used:
            raise file_error(path, f"{where}, parameter '{name}'", "is used in none of the provider's URLs")
        if not raw.get("description"):  # an overlay may have added only a default
            raise file_error(path, f"{where}, parameter '{name}'", "missing required field 'description'")
        parameter = Parameter(name, raw["description"], raw.get("default"), raw.get("pattern"))
        checked = parameter if patterns else Parameter(name, raw["description"], None, None)
        problem = None if parameter.default is None else checked.problem(parameter.default)
        if problem:
            raise file_error(path, f"{where}, parameter '{name}', field 'default'", problem)
        parameters[name] = parameter
    return parameters
