"""Which OAuth client integray-auth presents to a provider.

Client id: --client-id, then INTEGRAY_AUTH_<PROVIDER>_CLIENT_ID, then
`[clients.<provider>] client_id` in config.toml, then the registry's default.
Client secret (only where the provider wants one): --client-secret-stdin,
then INTEGRAY_AUTH_<PROVIDER>_CLIENT_SECRET, then the keyring
(`integray-auth client set PROVIDER`). Never the index, never a log.
"""

from __future__ import annotations

from ..context import AppContext
from ..errors import IntegrayAuthError, RegistryError, UsageError
from ..oauth.endpoint import ClientCredentials
from ..output import redirect_uri_template
from ..registry import Provider


def env_prefix(provider: Provider) -> str:
    return "INTEGRAY_AUTH_" + provider.id.upper().replace("-", "_")


def needs_secret(provider: Provider) -> bool:
    return provider.client_secret_required or provider.client_auth != "none"


def resolve_credentials(
    ctx: AppContext,
    provider: Provider,
    client_id: str | None = None,
    secret_from_stdin: bool = False,
    want_secret: bool = False,
    require_secret: bool = False,  # the grant needs one whatever the provider's client_auth (grants.base.Needs)
) -> ClientCredentials:
    """The client to present; `want_secret` also looks the secret up where the
    provider does not require one (an endpoint that does, like Zoom's revoke)."""
    prefix = env_prefix(provider)
    client_id = (
        client_id
        or ctx.environ.get(f"{prefix}_CLIENT_ID")
        or _configured_client_id(ctx, provider)
        or provider.client_id
    )
    if not client_id:
        raise UsageError(
            f"no OAuth client id for {provider.name}",
            hint=(
                f"Register an app with {provider.name} with the redirect URI "
                f"{redirect_uri_template(provider)}, then pass --client-id or set {prefix}_CLIENT_ID."
            ),
        )
    secret = None
    if secret_from_stdin:
        secret = ctx.stdin.readline().strip() or None
        if secret is None:
            raise UsageError("--client-secret-stdin was given but standard input was empty")
    if secret is None:
        secret = ctx.environ.get(f"{prefix}_CLIENT_SECRET") or None
    needed = require_secret or needs_secret(provider)
    if secret is None and (needed or want_secret):
        from ..secret_store import client_secret_key

        try:
            secret = ctx.secret_store("keyring").get(client_secret_key(provider.id))
        except IntegrayAuthError:
            if not want_secret or needed:
                raise
            secret = None  # no usable keyring: there is no secret to find
    if secret is None and needed:
        raise UsageError(
            f"{provider.name} needs the OAuth client secret of client {client_id}",
            hint=f"Run 'integray-auth client set {provider.id}', set {prefix}_CLIENT_SECRET, or pass --client-secret-stdin.",
        )
    return ClientCredentials(client_id=client_id, client_secret=secret)


def store_client_secret(ctx: AppContext, provider: Provider, secret: str) -> None:
    from ..secret_store import client_secret_key

    if not secret:
        raise UsageError("the client secret is empty")
    store = ctx.secret_store("keyring")
    store.check_usable()
    store.set(client_secret_key(provider.id), secret)


def remove_client_secret(ctx: AppContext, provider: Provider) -> None:
    from ..secret_store import client_secret_key

    ctx.secret_store("keyring").remove(client_secret_key(provider.id))


def _configured_client_id(ctx: AppContext, provider: Provider) -> str | None:
    path = ctx.paths.config_file
    if not path.is_file():
        return None
    import tomllib

    fix = "Fix the file, then run the command again."
    try:
        with open(path, "rb") as handle:
            config = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RegistryError(f"{path}: cannot read config: {exc}", hint=fix) from None
    except UnicodeDecodeError:  # tomllib decodes before parsing, outside its own error
        raise RegistryError(f"{path}: cannot read config: not UTF-8 text", hint="Save the file as UTF-8.") from None
    clients = config.get("clients", {})
    if not isinstance(clients, dict):
        raise RegistryError(f"{path}: 'clients' must be a table of [clients.<provider>] tables", hint=fix)
    client = clients.get(provider.id, {})
    if not isinstance(client, dict):
        raise RegistryError(f"{path}: 'clients.{provider.id}' must be a table with client_id = \"...\"", hint=fix)
    value = client.get("client_id")
    if value is not None and not isinstance(value, str):
        raise RegistryError(f"{path}: clients.{provider.id}.client_id must be a string", hint=fix)
    return value
