"""The OAuth client a provider needs, set up with the person at the terminal:
`client set`, and `add` / `authorize` when no client id (or secret) is known.

Off a terminal nothing is asked: a missing client stays a usage error whose
hint names `integray-auth client set PROVIDER`.
"""

from __future__ import annotations

from ..context import AppContext
from ..errors import IntegrayAuthError, UsageError
from ..lean.printable import escape
from ..oauth.endpoint import ClientCredentials
from ..registry.model import Provider
from ..stores import STORAGE_KEYRING
from ..usecases import clients
from . import prompts


def credentials_for(
    ctx: AppContext, provider: Provider, client_id: str | None, secret_from_stdin: bool, require_secret: bool = False,
    grant: str | None = None,
) -> ClientCredentials:
    """The client to present for `grant`; on a terminal a missing one is explained, asked for
    and (if the person agrees) saved, and the command goes on. `require_secret`:
    the grant needs the secret whatever the provider's client_auth."""
    try:
        return clients.resolve_credentials(
            ctx, provider, client_id, secret_from_stdin, require_secret=require_secret, grant=grant
        )
    except clients.MissingClient as missing:
        if not ctx.interactive:
            raise
        known = missing.client_id
    name = escape(provider.name)
    if known is None:
        for line in clients.registration_steps(provider):
            prompts.say(ctx, escape(line))
        client_id = prompts.ask_checked(ctx, f"Client id for {name}: ", clients.check_client_id)
    else:
        prompts.say(ctx, f"{name} needs the client secret of client {escape(known)} as well.")
        client_id = known
    secret = None
    # A client with a private key (private_key_jwt) authenticates with the key, not a secret.
    if clients.secret_required(provider, grant or provider.default_grant, require_secret):
        secret = prompts.ask_checked(ctx, f"Client secret for {name} (hidden): ", clients.check_client_secret, password=True)
    key = clients.private_key(ctx, provider, client_id) if clients.uses_private_key(provider) else (None, None)
    keep_secret = secret is not None and _keyring_usable(ctx)
    where = "the client id in config.toml" if known is None else ""
    if keep_secret:
        where += (" and " if where else "") + "the secret in the keyring"
    if where and prompts.confirm(ctx, f"Save {where} for next time?", default=True):
        save(ctx, provider, client_id if known is None else None, secret if keep_secret else None)
    return ClientCredentials(client_id=client_id, client_secret=secret, private_key=key[0], key_id=key[1])


def set_client(ctx: AppContext, provider: Provider, client_id: str | None, secret_from_stdin: bool) -> None:
    """`client set`: the id (given, or asked) into config.toml, and the secret
    (from stdin, or asked where the provider needs one) into the keyring."""
    if client_id is not None:
        clients.check_client_id(client_id)
    secret = None
    if secret_from_stdin:
        secret = clients.check_client_secret(ctx.stdin.readline().strip())
    wants_secret = secret is not None or (ctx.interactive and clients.needs_secret(provider))
    if wants_secret:
        store = ctx.secret_store(STORAGE_KEYRING)
        store.check_usable()  # before the first question: a secret we cannot keep is not asked for
    if client_id is None and secret is None:
        if not ctx.interactive:
            raise UsageError(
                "no terminal to ask for the client id",
                hint=f"Pass it: integray-auth client set {provider.id} --client-id ID (and --secret-stdin for a secret).",
            )
        name = escape(provider.name)
        current = clients.configured_client_id(ctx, provider)
        for line in clients.registration_steps(provider):
            prompts.say(ctx, escape(line))
        if current:
            prompts.say(ctx, f"The client id saved now is {escape(current)}; press Enter to keep it.")
        client_id = prompts.ask_checked(
            ctx, f"Client id for {name}: ", lambda answer: clients.check_client_id(answer or current or "")
        ) or current
        if clients.needs_secret(provider):
            secret = prompts.ask_checked(ctx, f"Client secret for {name} (hidden): ", clients.check_client_secret, password=True)
    save(ctx, provider, client_id, secret)
    if secret is None and clients.needs_secret(provider) and not ctx.interactive:
        ctx.stderr.write(
            f"Note: {escape(provider.name)} also needs the client secret: "
            f"integray-auth client set {provider.id} --secret-stdin < secret-file\n"
        )


def _keyring_usable(ctx: AppContext) -> bool:
    try:
        ctx.secret_store(STORAGE_KEYRING).check_usable()
    except IntegrayAuthError:
        return False
    return True


def save(ctx: AppContext, provider: Provider, client_id: str | None, secret: str | None) -> None:
    name = escape(provider.name)
    if secret is not None:
        clients.store_client_secret(ctx, provider, secret)
    if client_id is not None:
        clients.save_client_id(ctx, provider, client_id)
        ctx.stderr.write(f"Saved the client id for {name} in {escape(str(ctx.paths.config_file))}.\n")
    if secret is not None:
        ctx.stderr.write(f"Stored the client secret for {name} in the keyring.\n")
