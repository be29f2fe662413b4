"""An authorization is bound to the endpoints it was authorized against.

`authorize` records in the index what identifies them: the origins of the
token, revocation, userinfo and device authorization endpoints, and the
issuer. Before anything is sent with its tokens or the client secret (`token`
and its refresh, the revocation of `remove`, a new device flow for it), the
registry must still name the same ones: an overlay that retargets a
provider's `token_url` would otherwise receive the refresh token and the
client secret on the next refresh, and one that retargets its
`device_authorization_url` the client secret or a signed client assertion
(Zoom's device endpoint takes HTTP Basic) on the next `authorize --device`.

On the `token` path: stdlib only, and one dict comparison when nothing changed.
"""

from __future__ import annotations

from ..context import AppContext
from ..errors import RegistryError
from ..grants import DEVICE_GRANT
from ..lean.urlparts import split_plain
from ..models import Authorization
from ..registry.model import Provider

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Mapping

# index key -> (registry field, how the message names it)
BOUND = {
    "token_origin": ("token_url", "token endpoint"),
    "revocation_origin": ("revocation_url", "revocation endpoint"),
    "userinfo_origin": ("userinfo_url", "userinfo endpoint"),
    "device_origin": ("device_authorization_url", "device authorization endpoint"),
    "issuer": ("issuer", "issuer"),
}
DEVICE = "device_origin"
_DEFAULT_PORTS = {"https": 443, "http": 80}


def endpoints_of(provider: Provider | Mapping[str, Any]) -> dict[str, str | None]:
    """What `authorize` records: a provider's (or a raw registry entry's) bound endpoints."""
    get = provider.get if isinstance(provider, dict) else lambda field: getattr(provider, field)
    bound: dict[str, str | None] = {}
    for key, (field, _) in BOUND.items():
        value = get(field)
        bound[key] = value if key == "issuer" or not value else origin(value)
    return bound


_ORIGINS: dict[str, str] = {}  # `list` asks for the same few URLs' origins on every row


def origin(url: str) -> str:
    """scheme://host[:port] (RFC 6454), the default port left out: where a request goes."""
    known = _ORIGINS.get(url)
    if known is None:
        known = _ORIGINS[url] = _origin(url)
    return known


def _origin(url: str) -> str:
    plain = split_plain(url)  # what urlsplit says, for the common spelling, without importing it
    if plain is not None and len(plain[2]) <= 5 and (not plain[2] or int(plain[2]) <= 65535):
        scheme, host, digits = plain
        port = int(digits) if digits else None
        return f"{scheme}://{host}" + ("" if port in (None, _DEFAULT_PORTS[scheme]) else f":{port}")
    return _split_origin(url)


def _split_origin(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:  # not a port number: keep what was written, it will not match anything else
        return f"{scheme}://{parts.netloc.lower()}"
    return f"{scheme}://{host}" + ("" if port in (None, _DEFAULT_PORTS.get(scheme)) else f":{port}")


def check_binding(ctx: AppContext, authorization: Authorization, provider: Provider, removing: bool = False) -> None:
    """Refuse (RegistryError, exit 3) when the registry no longer names the endpoints
    `authorization` was authorized against; nothing has been sent when it does."""
    current = endpoints_of(provider)
    if authorization.endpoints == current:
        return
    found = _first_change(authorization, provider, current, BOUND)
    if found is not None:
        raise _mismatch(authorization, provider, *found, removing)
    _record(ctx, authorization, current)


def check_device_endpoint(authorization: Authorization, provider: Provider) -> None:
    """Before `authorize` starts a device flow for an authorization it already has:
    refuse (RegistryError, exit 3) when the registry names another device endpoint
    than it was authorized against. Nothing is recorded here: `authorize` records
    the binding once it has the tokens."""
    current = endpoints_of(provider)
    recorded = authorization.endpoints
    if isinstance(recorded, dict) and recorded.get(DEVICE) == current[DEVICE]:
        return
    found = _first_change(authorization, provider, current, {DEVICE: BOUND[DEVICE]})
    if found is not None:
        raise _mismatch(authorization, provider, *found, device=True)


def _first_change(authorization: Authorization, provider: Provider, current: dict, keys: Mapping) -> tuple | None:
    """(field, label, then, now) of the first of `keys` the registry no longer names
    as `authorization` was authorized against; None when none differs."""
    recorded = authorization.endpoints
    # Something differs, or nothing was recorded. The package's own providers.toml is
    # trusted like the program itself, so it is read here (never the cache, which anyone
    # able to write the cache folder could edit): its values are always accepted, so an
    # upgrade that moves a provider's endpoint does not break its authorizations.
    bundled = _bundled_endpoints(authorization, provider.id)
    for key, (field, label) in keys.items():
        now = current[key]
        if bundled is not None and now == bundled[key]:
            continue
        if recorded is not None and key in recorded:
            then = recorded[key]
        elif bundled is not None:
            # Authorized before bindings (or this one) were recorded: it was most likely
            # authorized against the bundled endpoints, so an overlay changing them is
            # refused (a legitimate overlay costs one `authorize`; a hostile one gets nothing).
            then = bundled[key]
        else:
            # Recorded before bindings (or this one), and a provider only an overlay
            # defines: there is nothing better to compare with; the registry of today is
            # recorded now (trust on first use), so any later change is caught.
            continue
        if now != then:
            return field, label, then, now
    return None


def _bundled_endpoints(authorization: Authorization, provider_id: str) -> dict[str, str | None] | None:
    """The bundled entry's endpoints, filled in with the authorization's saved values
    ({tenant}) like the registry's are; None for a provider only an overlay defines."""
    from ..registry.loading import read_bundled_entry

    entry = read_bundled_entry(provider_id)
    if entry is None:
        return None
    values = {name: p.get("default") for name, p in entry.get("parameters", {}).items()}
    values.update(authorization.parameters or {})
    filled = {}
    for field, _ in BOUND.values():
        url = entry.get(field)
        for name, value in values.items():
            if url and isinstance(value, str):
                url = url.replace("{" + name + "}", value)
        filled[field] = url
    return endpoints_of(filled)


def _mismatch(
    authorization, provider: Provider, field: str, label: str, then, now, removing: bool = False, device: bool = False
) -> RegistryError:
    from ..hints import command_hint

    source = provider.overrides.get(field, {}).get("source") or provider.source
    hint = f"Check that file; if {now or 'none'} is right, bind it anew with: {command_hint('authorize', authorization)}"
    if device:
        # The device flow is what would send the client's credentials there, so it
        # cannot be what binds the new endpoint: the browser flow does (--no-browser:
        # its URL opened on any device), or adding the authorization anew.
        if any(grant != DEVICE_GRANT for grant in provider.grants):
            hint = (f"Check that file; if {now or 'none'} is right, bind it anew in the browser flow: "
                    f"{command_hint('authorize --no-browser', authorization)}")
        else:
            hint = (f"Check that file; if {now or 'none'} is right, forget it and add it anew: "
                    f"{command_hint('remove --no-revoke', authorization)}")
    if removing:
        # The option before the name: a name after `--` ends the options.
        hint += f" (or forget it without revoking: {command_hint('remove --no-revoke', authorization)})"
    return RegistryError(
        f"'{authorization.name}' was authorized against the {label} {then or 'none'}, but the registry "
        f"({source}, provider '{provider.id}') now names {now or 'none'}; nothing was sent",
        hint=hint,
    )


def _record(ctx: AppContext, authorization: Authorization, current: dict[str, str | None]) -> None:
    from ..errors import NotFoundError
    from ..stores.lookup import find_in

    with ctx.index.transaction() as authorizations:
        try:
            entry = find_in(authorizations, authorization.id)
        except NotFoundError:
            if not authorization.is_shared:
                raise
            entry = None  # known here only from Vault: its copy there records it (tokens._record)
        if entry is not None:
            entry.endpoints = dict(current)
    authorization.endpoints = dict(current)
