"""`add`'s command body for when nobody can be asked (a script, CI, a pipe):
shared by the Typer command and main.py's fast path (fast_add.py), so both
check, save and report the same way.

This module must not import Typer, Rich, requests, oauthlib or keyring.
"""

from __future__ import annotations

from .. import hints
from ..context import AppContext
from ..errors import UsageError
from ..lean.printable import escape, quoted
from ..stores import lookup
from ..usecases import manage, provider_lookup

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..models import Authorization
    from ..registry.model import Parameter, Provider


def run_add_unauthorized(
    ctx: AppContext, name: str, provider: str | None, connectors: list[str], params: list[str]
) -> Authorization:
    """`add NAME --no-authorize` with nothing to prompt for: every value checked, in the
    order the interactive command checks them, then saved as Not authorized.

    The index is read once, under its lock, and the checks run inside that
    transaction (an error writes nothing): at 1,000 authorizations one read
    costs more than every check together, and the interactive command's
    second and third reads (check_new_name before the prompts, save_new after)
    are not needed when nobody is asked anything.
    """
    name = manage.clean_name(name)
    manage.check_team_name(ctx, name)  # before the index lock: it may ask Vault
    with ctx.index.transaction() as authorizations:
        lookup.check_unique(authorizations, name)
        if provider is None:
            raise missing_provider()
        found = provider_lookup.require_provider(ctx, provider)
        given = parameters(params)
        if not connectors:
            raise missing_connector(found)
        missing = provider_lookup.missing_parameters(found, given)
        if missing:
            raise missing_parameter(found, missing[0])
        authorization = manage.new_authorization(ctx, name, provider, connectors, given, existing=authorizations)
        authorizations.append(authorization)
    report_added(ctx, authorization)
    return authorization


def report_added(ctx: AppContext, authorization: Authorization) -> None:
    ctx.stderr.write(
        f"Added {quoted(authorization.name)} (Not authorized). "
        f"Authorize it with: {hints.command_hint('authorize', authorization)}\n"
    )


def parameters(pairs: list[str]) -> dict[str, str]:
    """--param NAME=VALUE, each name once."""
    given: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--param {quoted(pair)} is not NAME=VALUE", hint="For example: --param tenant=contoso.onmicrosoft.com")
        if key in given:
            raise UsageError(f"--param {key} is given twice")
        given[key] = value
    return given


def missing_provider() -> UsageError:
    return UsageError("missing --provider", hint="Run 'integray-auth providers' to list them.")


def missing_connector(provider: Provider) -> UsageError:
    return UsageError("missing --connector", hint=f"Run 'integray-auth providers show {provider.id}' to list its connectors.")


def missing_parameter(provider: Provider, parameter: Parameter) -> UsageError:
    return UsageError(
        f"provider '{provider.id}' needs --param {parameter.name}=VALUE ({escape(parameter.description)})",
        hint=f"Run 'integray-auth providers show {provider.id}' to see its parameters.",
    )
