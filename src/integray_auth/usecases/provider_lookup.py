"""The provider an authorization is for: looked up by id, its connectors by
id or name, and its URLs filled in from the authorization's template values
(a tenant, a shop, a region)."""

from __future__ import annotations

from ..errors import IndexError_, NotFoundError, UsageError
from ..hints import closest, command_hint, did_you_mean
from ..lean.printable import quoted

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..context import AppContext
    from ..models import Authorization
    from ..registry.model import Provider


def connector_id(provider: Provider, given: str) -> str:
    """A connector's id from its id or its display name (as the prompt accepts);
    unknown ones come back unchanged for the caller to report."""
    if given in provider.connectors:
        return given
    folded = given.strip().casefold()
    for connector in provider.connectors.values():
        if folded in (connector.id.casefold(), connector.name.casefold()):
            return connector.id
    return given


def require_connector(provider: Provider, given: str) -> str:
    """The id of the connector `given` names (id or display name); NotFoundError if none."""
    cid = connector_id(provider, given)
    if provider.connector(cid) is None:
        names = {**{c: c for c in provider.connectors}, **{c.name: c for c in provider.connectors.values()}}
        raise NotFoundError(
            f"provider '{provider.id}' has no connector {quoted(given)}{did_you_mean(given, names)}",
            hint=f"Run 'integray-auth providers show {provider.id}' to list its connectors.",
        )
    return cid


def checked_parameters(provider: Provider, given: dict[str, str]) -> dict[str, str]:
    """The provider's template values for a new authorization (a usage error if one is wrong)."""
    from ..registry.model import ParameterError

    try:
        return provider.parameter_values(given)
    except ParameterError as error:
        name, message = error.name, error.message
        if name not in provider.parameters:  # a typo: suggest the real name, never the typo
            message += did_you_mean(name, provider.parameters)
            name = closest(name, provider.parameters) or next(iter(provider.parameters), "NAME")
        hint = f"Pass --param {name}=VALUE; 'integray-auth providers show {provider.id}' describes it."
        raise UsageError(message, hint=hint) from None


def missing_parameters(provider: Provider, given: dict[str, str]) -> list:
    """Declared parameters with neither a value given nor a default (to ask for)."""
    return [p for p in provider.parameters.values() if p.name not in given and p.default is None]


def provider_for(ctx: AppContext, authorization: Authorization) -> Provider:
    """The authorization's provider with its URLs filled in from the saved values
    (and, where the registry says discovery, the endpoints discovery returned)."""
    provider = require_provider(ctx, authorization.provider)
    if provider.discovery:
        # Bound to what its issuer's metadata said when it was authorized (binding.py).
        from .binding import with_discovered

        return with_discovered(_filled(provider, authorization), authorization)
    return _filled(provider, authorization)


def _filled(provider: Provider, authorization: Authorization) -> Provider:
    from ..registry.model import ParameterError

    if not provider.parameters:
        return provider
    saved = authorization.parameters or {}
    if not isinstance(saved, dict) or not all(isinstance(v, str) for v in saved.values()):
        raise IndexError_(f"the saved parameters of '{authorization.name}' are not a table of strings",
                          hint=f"Remove it ({command_hint('remove', authorization)}) and add it again.")
    # Values the redirect named (realmId) are kept alongside; they are no template's.
    given = {k: v for k, v in saved.items() if k in provider.parameters}
    try:
        return provider.with_parameters(given)
    except ParameterError as error:
        raise UsageError(
            f"authorization '{authorization.name}': {error.message}",
            hint=f"Remove it and add it again with --param {error.name}=VALUE.",
        ) from None


def require_provider(ctx: AppContext, provider_id: str) -> Provider:
    provider = ctx.registry.get(provider_id)
    if provider is None:
        raise NotFoundError(
            f"unknown provider {quoted(provider_id)}{did_you_mean(provider_id, ctx.registry.providers)}",
            hint="Run 'integray-auth providers' to list them.",
        )
    return provider


def connector_name(provider: Provider | None, connector_id: str) -> str:
    if provider is not None and connector_id in provider.connectors:
        return provider.connectors[connector_id].name
    return connector_id
