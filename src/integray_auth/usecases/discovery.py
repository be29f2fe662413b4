"""Providers from their discovery document, and connectors added to them, in
the user's overlay (the config folder's providers.toml).

Nothing is written unless all of it is right: the metadata is checked
(oauth/discovery.py), the new file is parsed back and compared with what was
meant, and checked as a registry, before it replaces the old one atomically
(0600). A bundled provider is never replaced this way: an overlay that
changes one is what the registry warns about.
"""

from __future__ import annotations

import copy
import os
import re
import tomllib
from dataclasses import dataclass, field
from typing import Any

from ..context import AppContext
from ..errors import ConflictError, NotFoundError, RegistryError, UsageError
from ..lean import grammar
from ..lean.filepath import FilePath
from ..oauth.discovery import SCOPE_TOKEN, check_issuer_argument, discover, shown, url_problem
from ..oauth.endpoint import request_deadline
from ..registry import overlay as toml_text
from ..registry.loading import MAX_TOML_BYTES, load_registry, read_bundled_entry
from ..registry.names import ID_PATTERN
from ..stores.files import (
    PRIVATE_FILE,
    LockError,
    UnsafePath,
    atomic_write_text,
    ensure_private_dir,
    read_regular_file,
    take_lock,
)
from .provider_lookup import require_provider

MAX_ID_LENGTH = 64
MAX_NAME_LENGTH = 100


@dataclass(frozen=True)
class AddedProvider:
    provider_id: str
    name: str
    file: FilePath
    source_url: str
    pkce: str
    iss_parameter: bool
    scopes: list[str]
    endpoints: list[str]
    replaced: bool


@dataclass(frozen=True)
class AddedConnector:
    provider_id: str
    connector_id: str
    name: str
    file: FilePath
    new_scopes: list[str] = field(default_factory=list)
    replaced: bool = False


def add_provider(
    ctx: AppContext,
    provider_id: str,
    issuer: str,
    name: str | None = None,
    client_id: str | None = None,
    force: bool = False,
) -> AddedProvider:
    """Discover `issuer` and write `[providers.<provider_id>]` to the user overlay."""
    check_id(provider_id, "provider id")
    name = _check_text(name if name is not None else provider_id, "--name")
    if client_id is not None:
        _check_text(client_id, "--client-id", limit=500, spaces=False)
    check_issuer_argument(issuer)
    path = ctx.paths.user_registry

    deadline = request_deadline(ctx.environ)  # a bad INTEGRAY_AUTH_HTTP_TIMEOUT is exit 2, before any network
    ctx.registry  # noqa: B018 - a broken overlay stops here (exit 3), before any network
    _refuse_existing(path, _read_overlay(path)[1], provider_id, force)

    found = discover(issuer, deadline)  # both well-known URLs within one deadline

    entry: dict[str, Any] = {"name": name, "issuer": issuer, **found.endpoints, "pkce": found.pkce}
    if found.iss_parameter:
        entry["iss_parameter"] = True
    if client_id:
        entry["client_id"] = client_id
    if found.docs_url:
        entry["docs_url"] = found.docs_url
    notes = [f"Added from {found.source_url} on {ctx.clock().date().isoformat()}."]
    if found.pkce_note:
        notes.append(found.pkce_note)
    if found.scopes:
        notes.append("The scopes are the server's scopes_supported, without descriptions: say what each permits.")
    else:
        notes.append("The metadata lists no scopes_supported; 'providers connector add' adds the scopes a connector needs.")
    entry["notes"] = " ".join(notes)
    with _overlay_lock(path):
        text, document = _read_overlay(path)
        replaced = _refuse_existing(path, document, provider_id, force)
        old = document.get("providers", {}).get(provider_id, {})
        # Replacing keeps what the user wrote beside the metadata: the scope
        # descriptions, scopes their connectors use, and the connectors.
        scopes = {scope: old.get("scopes", {}).get(scope, "") for scope in found.scopes}
        scopes.update({s: d for s, d in old.get("scopes", {}).items() if s not in scopes})
        block = toml_text.table(
            ("providers", provider_id), entry, comment=f"Added by 'integray-auth providers add {provider_id} --issuer {issuer}'."
        )
        if scopes:
            block += "\n" + toml_text.table(
                ("providers", provider_id, "scopes"), scopes, comment="What each scope permits (shown by 'providers show' and 'show'): fill in."
            )
        new_text = toml_text.replace_tables(text, ("providers", provider_id), block, keep=("providers", provider_id, "connectors"))
        expected = copy.deepcopy(document)
        expected.setdefault("providers", {})[provider_id] = {
            **entry,
            **({"scopes": scopes} if scopes else {}),
            **({"connectors": old["connectors"]} if "connectors" in old else {}),
        }
        _save(ctx, path, new_text, expected, provider_id)
    return AddedProvider(
        provider_id=provider_id,
        name=name,
        file=path,
        source_url=found.source_url,
        pkce=found.pkce,
        iss_parameter=found.iss_parameter,
        scopes=found.scopes,
        endpoints=[k for k in found.endpoints],
        replaced=replaced,
    )


def add_connector(
    ctx: AppContext,
    provider_id: str,
    connector_id: str,
    scopes: list[str],
    name: str | None = None,
    description: str | None = None,
    force: bool = False,
) -> AddedConnector:
    """Write `[providers.<provider_id>.connectors.<connector_id>]` to the user overlay;
    scopes the provider does not know yet are added without a description."""
    provider = require_provider(ctx, provider_id)
    check_id(connector_id, "connector id")
    if not scopes:
        raise UsageError("missing --scope", hint="Name the scopes the connector needs: --scope S [--scope S ...].")
    for scope in scopes:
        if not SCOPE_TOKEN.fullmatch(scope):
            raise UsageError(f"--scope {shown(scope)} is not a scope (no spaces, quotes or backslashes)")
    scopes = list(dict.fromkeys(scopes))
    if provider.scopes.get(OFFLINE_ACCESS) == OFFLINE_ACCESS_DESCRIPTION and OFFLINE_ACCESS not in scopes:
        scopes.append(OFFLINE_ACCESS)  # the provider was added with --offline-access
    name = _check_text(name if name is not None else connector_id.replace("-", " ").title(), "--name")
    description = _check_text(description, "--description", limit=500, empty=True) if description is not None else ""
    bundled = (read_bundled_entry(provider.id) or {}).get("connectors", {})
    if connector_id in bundled:
        raise ConflictError(
            f"connector '{connector_id}' of provider '{provider.id}' is bundled with integray-auth",
            hint="Pick another connector id.",
        )
    for other in provider.connectors.values():
        if other.id != connector_id and other.name.casefold() == name.casefold():
            raise ConflictError(f"provider '{provider.id}' has a connector named {shown(name)} already ('{other.id}')", hint="Give another --name.")
    path = ctx.paths.user_registry
    new_scopes = [s for s in scopes if s not in provider.scopes]
    connector = {"name": name, "description": description, "scopes": scopes}

    with _overlay_lock(path):
        text, document = _read_overlay(path)
        ours = document.get("providers", {}).get(provider.id, {}).get("connectors", {})
        replaced = connector_id in ours
        if connector_id in provider.connectors and not (replaced and force):
            raise ConflictError(
                f"provider '{provider.id}' has a connector '{connector_id}' already",
                hint="Add --force to replace it." if replaced else f"It is defined in {provider.source}; edit it there.",
            )
        new_text = text
        if new_scopes:
            new_text = toml_text.add_keys(new_text, ("providers", provider.id, "scopes"), {s: "" for s in new_scopes})
        block = toml_text.table(("providers", provider.id, "connectors", connector_id), connector)
        new_text = toml_text.replace_tables(new_text, ("providers", provider.id, "connectors", connector_id), block)
        expected = copy.deepcopy(document)
        entry = expected.setdefault("providers", {}).setdefault(provider.id, {})
        if new_scopes:
            entry.setdefault("scopes", {}).update({s: "" for s in new_scopes})
        entry.setdefault("connectors", {})[connector_id] = connector
        _save(ctx, path, new_text, expected, provider.id)
    return AddedConnector(provider.id, connector_id, name, path, new_scopes, replaced)


def write_provider(
    ctx: AppContext, provider_id: str, entry: dict[str, Any], scopes: dict[str, str], connectors: dict[str, dict], comment: str
) -> FilePath:
    """Write (or replace) `[providers.<provider_id>]` with its scopes and connectors in the
    user overlay, checked like `providers add` writes one; the context's registry is reloaded."""
    check_id(provider_id, "provider id")
    path = ctx.paths.user_registry
    if read_bundled_entry(provider_id) is not None:
        raise ConflictError(f"'{provider_id}' is a bundled provider; it is never replaced", hint="Pick another name.")
    with _overlay_lock(path):
        text, document = _read_overlay(path)
        block = toml_text.table(("providers", provider_id), entry, comment=comment)
        if scopes:
            block += "\n" + toml_text.table(("providers", provider_id, "scopes"), scopes)
        for cid, connector in connectors.items():
            block += "\n" + toml_text.table(("providers", provider_id, "connectors", cid), connector)
        new_text = toml_text.replace_tables(text, ("providers", provider_id), block)
        expected = copy.deepcopy(document)
        expected.setdefault("providers", {})[provider_id] = {
            **entry, **({"scopes": scopes} if scopes else {}), **({"connectors": connectors} if connectors else {})
        }
        _save(ctx, path, new_text, expected, provider_id)
    ctx.reload_registry()
    return path


def overlay_provider(ctx: AppContext, provider_id: str) -> dict[str, Any] | None:
    """`[providers.<provider_id>]` of the user overlay as written (a copy), or None."""
    entry = _read_overlay(ctx.paths.user_registry)[1].get("providers", {}).get(provider_id)
    return copy.deepcopy(entry) if isinstance(entry, dict) else None


def check_id(value: str, what: str) -> None:
    if not ID_PATTERN.fullmatch(value) or len(value) > MAX_ID_LENGTH:
        raise UsageError(
            f"{shown(value)} is not a {what}: use lowercase letters, digits and '-' (at most {MAX_ID_LENGTH})",
            hint="For example: acme-login.",
        )


def _check_text(value: str, option: str, limit: int = MAX_NAME_LENGTH, empty: bool = False, spaces: bool = True) -> str:
    if (not value.strip() and not empty) or len(value) > limit or not value.isprintable() or (not spaces and " " in value):
        raise UsageError(f"{option} {shown(value)} must be printable text of at most {limit} characters")
    return value


def _refuse_existing(path: FilePath, document: dict, provider_id: str, force: bool) -> bool:
    """True when the overlay has the provider (and --force replaces it)."""
    if read_bundled_entry(provider_id) is not None:
        raise ConflictError(
            f"'{provider_id}' is a bundled provider; discovery never replaces one",
            hint="Pick another id, e.g. my-" + provider_id,
        )
    if provider_id in document.get("providers", {}):
        if not force:
            raise ConflictError(f"provider '{provider_id}' is in {path} already", hint="Add --force to replace it.")
        return True
    return False


def _read_overlay(path: FilePath) -> tuple[str, dict]:


    try:
        raw = read_regular_file(path, MAX_TOML_BYTES, "the registry overlay", own=True)
        if raw is None:
            return "", {}
        text = raw.decode("utf-8")
    except UnsafePath as exc:  # a FIFO would hang us; another user's folder is not ours to edit
        raise RegistryError(exc.message, hint=exc.hint or "Check the file.") from None
    except UnicodeDecodeError as exc:
        raise RegistryError(f"{path}: cannot read the registry overlay ({type(exc).__name__})", hint="Check the file.") from None
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"{path}: invalid TOML: {exc}", hint="Fix the file, then run the command again.") from None
    except RecursionError:
        raise RegistryError(f"{path}: invalid TOML: nested too deeply", hint="Fix the file, then run the command again.") from None


def _overlay_lock(path: FilePath):

    try:
        return take_lock(path.with_name(".providers.toml.lock"))
    except LockError:
        raise ConflictError(f"another integray-auth is changing {path}", hint="Try again in a moment.") from None


def _save(ctx: AppContext, path: FilePath, new_text: str, expected: dict, provider_id: str) -> None:
    """Write `new_text` once it parses back to `expected` and passes the registry's checks."""
    cannot = ConflictError(
        f"{path} defines provider '{provider_id}' in a form this command does not edit (inline tables or dotted keys)",
        hint="Nothing was written. Edit the file by hand.",
    )
    try:
        if tomllib.loads(new_text) != expected:
            raise cannot
    except tomllib.TOMLDecodeError:
        raise cannot from None
    ensure_private_dir(path.parent)
    candidate = path.with_name(f".providers.toml.{os.getpid()}.{os.urandom(4).hex()}.check.toml")
    try:
        fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(new_text)
        try:
            # In the registry's order: the user overlay (as it would be), then --registry.
            others = [p for p in ctx.registry_overlays() if p != path]
            load_registry([candidate, *others], cache_dir=None)
        except RegistryError as exc:
            raise RegistryError(
                exc.message.replace(str(candidate), str(path)) + " (in the file as it would be)",
                hint="Nothing was written. Fix the file, then run the command again.",
            ) from None
    finally:
        candidate.unlink(missing_ok=True)
    atomic_write_text(path, new_text)


# `providers add ID --authorization-url ...`: Integray's "custom OAuth 2.0" form, for a provider
# without a discovery document. The same checks and the same careful writer as --issuer.
OFFLINE_ACCESS = "offline_access"
# Written as the scope's description by --offline-access; `providers connector add` adds the
# scope to each new connector of a provider whose overlay describes it so.
OFFLINE_ACCESS_DESCRIPTION = "Keep access while you are away: a refresh token (requested by every connector)"
PKCE_CHOICES = grammar.PKCE_CHOICES
CLIENT_AUTH_CHOICES = grammar.CLIENT_AUTH_CHOICES


@dataclass(frozen=True)
class ManualProvider:
    """What the form says: the endpoints, the scopes with what each permits, the login query parameters."""

    authorization_url: str
    token_url: str
    revocation_url: str | None = None
    userinfo_url: str | None = None
    scopes: dict[str, str] = field(default_factory=dict)
    auth_params: dict[str, str] = field(default_factory=dict)
    offline_access: bool = False
    pkce: str = "required"
    client_auth: str = "none"
    client_id: str | None = None


def check_endpoint(url: str, option: str) -> str:
    """An endpoint option's URL, or a UsageError: https:// (http:// only on a loopback host), no user name."""
    problem = url_problem(url, allow_loopback_http=True)
    if problem:
        what = shown(url) if "user name" not in problem else "(not shown)"  # never echo a password
        raise UsageError(f"{option} {what} {problem}", hint=f"Give the provider's URL, e.g. {option} https://login.example.com/oauth/token")
    return url


def parse_scope(given: str) -> tuple[str, str]:
    """`--scope NAME[=WHAT IT PERMITS]`."""
    scope, _, description = given.partition("=")
    if not SCOPE_TOKEN.fullmatch(scope):
        raise UsageError(f"--scope {shown(scope)} is not a scope (no spaces, quotes or backslashes)",
                         hint="For example: --scope 'orders:read=Read your orders'")
    return scope, _check_text(description, "--scope description", limit=500, empty=True)


def parse_auth_param(given: str) -> tuple[str, str]:
    """`--auth-param KEY=VALUE`: a query parameter of the login URL (Integray's "Login Query Params")."""
    name, sep, value = given.partition("=")
    if not sep or not re.fullmatch(r"[A-Za-z0-9_.~-]{1,64}", name):
        raise UsageError(f"--auth-param {shown(given)} is not KEY=VALUE", hint="For example: --auth-param prompt=consent")
    if name in _FLOW_PARAMETERS:
        raise UsageError(f"--auth-param {name} is set by the flow itself", hint="Leave it out; integray-auth sends it.")
    return name, _check_text(value, f"--auth-param {name}", limit=500, empty=True)


# Set by the authorization request itself (RFC 6749 §4.1.1, RFC 7636): never a login parameter.
_FLOW_PARAMETERS = frozenset({"response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method"})


def add_provider_by_hand(ctx: AppContext, provider_id: str, form: ManualProvider, name: str | None = None,
                         force: bool = False) -> AddedProvider:
    """Write `[providers.<provider_id>]` from the form's fields to the user overlay."""
    check_id(provider_id, "provider id")
    name = _check_text(name if name is not None else provider_id, "--name")
    for option, url in (("--authorization-url", form.authorization_url), ("--token-url", form.token_url),
                        ("--revocation-url", form.revocation_url), ("--userinfo-url", form.userinfo_url)):
        if url is not None:
            check_endpoint(url, option)
    if form.client_id is not None:
        _check_text(form.client_id, "--client-id", limit=500, spaces=False)
    if form.pkce not in PKCE_CHOICES:
        raise UsageError(f"--pkce must be one of {', '.join(PKCE_CHOICES)}")
    if form.client_auth not in CLIENT_AUTH_CHOICES:
        raise UsageError(f"--client-auth must be one of {', '.join(CLIENT_AUTH_CHOICES)}")
    path = ctx.paths.user_registry
    ctx.registry  # noqa: B018 - a broken overlay stops here (exit 3)

    entry: dict[str, Any] = {"name": name, "authorization_url": form.authorization_url, "token_url": form.token_url}
    for key, url in (("revocation_url", form.revocation_url), ("userinfo_url", form.userinfo_url)):
        if url is not None:
            entry[key] = url
    entry["pkce"] = form.pkce
    entry["client_auth"] = form.client_auth
    if form.client_auth != "none":
        entry["client_secret_required"] = True
    if form.client_id:
        entry["client_id"] = form.client_id
    if form.auth_params:
        entry["authorization_params"] = dict(form.auth_params)
    entry["notes"] = f"Added by hand (no discovery document) on {ctx.clock().date().isoformat()}."
    scopes = dict(form.scopes)
    if form.offline_access:
        scopes[OFFLINE_ACCESS] = OFFLINE_ACCESS_DESCRIPTION
    with _overlay_lock(path):
        text, document = _read_overlay(path)
        replaced = _refuse_existing(path, document, provider_id, force)
        old = document.get("providers", {}).get(provider_id, {})
        # Replacing keeps the connectors and the scope descriptions written before.
        kept = {s: d for s, d in old.get("scopes", {}).items() if s not in scopes and not (s == OFFLINE_ACCESS and not form.offline_access)}
        scopes = {**scopes, **kept}
        comment = f"Added by 'integray-auth providers add {provider_id} --authorization-url ... --token-url ...'."
        block = toml_text.table(("providers", provider_id), {k: v for k, v in entry.items() if k != "authorization_params"},
                                comment=comment)
        if form.auth_params:
            block += "\n" + toml_text.table(("providers", provider_id, "authorization_params"), entry["authorization_params"],
                                            comment="Query parameters of the login URL.")
        if scopes:
            block += "\n" + toml_text.table(("providers", provider_id, "scopes"), scopes,
                                            comment="What each scope permits (shown by 'providers show' and 'show').")
        new_text = toml_text.replace_tables(text, ("providers", provider_id), block, keep=("providers", provider_id, "connectors"))
        expected = copy.deepcopy(document)
        expected.setdefault("providers", {})[provider_id] = {
            **entry,
            **({"scopes": scopes} if scopes else {}),
            **({"connectors": old["connectors"]} if "connectors" in old else {}),
        }
        _save(ctx, path, new_text, expected, provider_id)
    return AddedProvider(provider_id=provider_id, name=name, file=path, source_url="", pkce=form.pkce, iss_parameter=False,
                         scopes=list(scopes), endpoints=[k for k in entry if k.endswith("_url")], replaced=replaced)


def remove_provider(ctx: AppContext, provider_id: str) -> FilePath:
    """Take `[providers.<provider_id>]` and its tables out of the user overlay."""
    path = ctx.paths.user_registry
    with _overlay_lock(path):
        text, document = _read_overlay(path)
        if provider_id not in document.get("providers", {}):
            raise _not_in_overlay(ctx, path, provider_id, f"provider '{provider_id}'")
        using = [a.name for a in ctx.index.load() if a.provider == provider_id]
        if using:
            raise ConflictError(f"authorizations use provider '{provider_id}': {', '.join(shown(n) for n in using[:3])}",
                                hint="Remove them first: integray-auth remove NAME")
        new_text = toml_text.replace_tables(text, ("providers", provider_id), "")
        expected = copy.deepcopy(document)
        del expected["providers"][provider_id]
        if not expected["providers"]:
            del expected["providers"]
        _save(ctx, path, new_text, expected, provider_id)
    return path


def remove_connector(ctx: AppContext, provider_id: str, connector_id: str) -> FilePath:
    """Take `[providers.<provider_id>.connectors.<connector_id>]` out of the user overlay."""
    path = ctx.paths.user_registry
    with _overlay_lock(path):
        text, document = _read_overlay(path)
        ours = document.get("providers", {}).get(provider_id, {}).get("connectors", {})
        if connector_id not in ours:
            raise _not_in_overlay(ctx, path, provider_id, f"connector '{connector_id}' of provider '{provider_id}'", connector_id)
        using = [a.name for a in ctx.index.load() if a.provider == provider_id and connector_id in a.connectors]
        if using:
            raise ConflictError(f"authorizations use connector '{connector_id}': {', '.join(shown(n) for n in using[:3])}",
                                hint="Take it off them first: integray-auth connectors remove NAME " + connector_id)
        new_text = toml_text.replace_tables(text, ("providers", provider_id, "connectors", connector_id), "")
        expected = copy.deepcopy(document)
        del expected["providers"][provider_id]["connectors"][connector_id]
        if not expected["providers"][provider_id]["connectors"]:
            del expected["providers"][provider_id]["connectors"]
        _save(ctx, path, new_text, expected, provider_id)
    return path


def _not_in_overlay(ctx: AppContext, path: FilePath, provider_id: str, what: str, connector_id: str | None = None):
    provider = ctx.registry.get(provider_id)
    known = provider is not None and (connector_id is None or connector_id in provider.connectors)
    if known:
        return ConflictError(f"{what} is not in {path}: it comes from {provider.source}", hint="Only what your overlay adds can be removed; edit that file instead.")
    return NotFoundError(f"{what} is not in {path}", hint="Run 'integray-auth providers' to list them.")
