"""The grants: the ways integray-auth obtains tokens, one module each, by the
name the registry uses.

A provider's `grants` (providers.toml) lists these names, its default first;
an authorization records the one its tokens came from (the index's `grant`),
so `token` renews them the same way. A new grant is a module with a `Grant`
subclass (grants/base.py) and one line here. This file stays stdlib-only and
imports no grant module until one is used: the registry checks names
against `GRANTS` on every `list`.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..registry.model import Provider
    from .base import Grant

# name in providers.toml and the index -> module in this package
GRANTS = {
    "authorization_code": "authorization_code",
    "reservanto_long_time_token": "reservanto",
    "client_credentials": "client_credentials",
    "device_code": "device_code",
}
DEFAULT_GRANT = "authorization_code"
# The grant offered by itself where no browser can open here (usecases/authorize.py), and `add --device`.
DEVICE_GRANT = "device_code"
# `add --client-credentials`: a machine's own tokens, no user.
MACHINE_GRANT = "client_credentials"
# Grants whose browser consent has no PKCE: an overlay may not give one to a
# bundled provider that uses PKCE (registry/checks.py, RFC 9700 §2.1.1).
WITHOUT_PKCE = frozenset({"reservanto_long_time_token"})
# Grants that always authenticate the client (RFC 6749 §4.4: there is no user).
CONFIDENTIAL = frozenset({MACHINE_GRANT})
# Registry fields a provider that lists the grant must have beyond every provider's
# (checked when a registry file is read; the grant's Needs names them too).
PROVIDER_FIELDS = {DEVICE_GRANT: ("device_authorization_url",)}


def get(name: str) -> Grant:
    """The grant called `name`, a key of `GRANTS`."""
    from importlib import import_module

    return import_module(f"{__name__}.{GRANTS[name]}").GRANT


def check_provider(grant: Grant, provider: Provider) -> None:
    """Fail, naming the file, provider and field, when the registry lacks what `grant` needs."""
    from ..errors import RegistryError

    for field in grant.needs.provider_fields:
        if not getattr(provider, field):
            raise RegistryError(
                f"{provider.source}: provider '{provider.id}', field '{field}': the {grant.name} grant needs it",
                hint="Fix the file, then run the command again.",
            )
