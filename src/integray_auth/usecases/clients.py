"""Which OAuth client integray-auth presents to a provider.

Client id: --client-id, then INTEGRAY_AUTH_<PROVIDER>_CLIENT_ID, then
`[clients.<provider>] client_id` in config.toml, then the registry's default.
Client secret (only where the provider wants one): --client-secret-stdin,
then INTEGRAY_AUTH_<PROVIDER>_CLIENT_SECRET, then the keyring
(`integray-auth client set PROVIDER`). Never the index, never a log.
"""

from __future__ import annotations

import json
import os
import re

from ..context import AppContext
from ..errors import IntegrayAuthError, RegistryError, UsageError
from ..oauth.endpoint import ClientCredentials
from ..output import redirect_uri_template
from ..registry import Provider


class MissingClient(UsageError):
    """No client id (client_id None), or no secret for a provider that needs one:
    a usage error off a terminal, the start of the guided setup on one."""

    def __init__(self, provider: Provider, client_id: str | None, message: str, hint: str) -> None:
        super().__init__(message, hint=hint)
        self.provider = provider
        self.client_id = client_id


# Client ids are opaque, but printable and without spaces everywhere we know of
# (Google's end in .apps.googleusercontent.com); this keeps TOML and terminals safe.
CLIENT_ID_PATTERN = re.compile(r"[\x21-\x7e]{1,512}")


def check_client_id(client_id: str) -> str:
    if not CLIENT_ID_PATTERN.fullmatch(client_id):
        raise UsageError(
            "a client id is 1 to 512 printable characters without spaces",
            hint="Copy it from the provider's developer console.",
        )
    return client_id


def check_client_secret(secret: str) -> str:
    if not secret or not secret.isprintable() or len(secret) > 4096:
        raise UsageError("the client secret is empty or not plain text", hint="Copy it from the provider's developer console.")
    return secret


def registration_steps(provider: Provider) -> list[str]:
    """What to register at the provider before integray-auth can use it, in a few lines for people."""
    steps = [f"{provider.name} needs an OAuth client (an \"app\") of your own; none is bundled for it."]
    if provider.console_url:
        steps.append(f"Register one at {provider.console_url}")
    elif provider.docs_url:
        steps.append(f"Register one in {provider.name}'s developer console (how: {provider.docs_url})")
    else:
        steps.append(f"Register one in {provider.name}'s developer console")
    steps.append(f"  as a desktop (native) app, with the redirect URI {redirect_uri_template(provider)}")
    if needs_secret(provider):
        steps.append(f"  and keep its client secret: {provider.name} wants it even from desktop apps.")
    steps.append(f"More: integray-auth providers show {provider.id}")
    return steps


def configured_client_id(ctx: AppContext, provider: Provider) -> str | None:
    """The client id `client set` saved in config.toml, if any."""
    return _configured_client_id(ctx, provider)


def save_client_id(ctx: AppContext, provider: Provider, client_id: str) -> None:
    """Set `[clients.<provider>] client_id` in config.toml, keeping the rest of
    the file (comments included) as it was; written atomically, 0600."""
    from ..fileutil import atomic_write_text

    check_client_id(client_id)
    path = ctx.paths.config_file
    _configured_client_id(ctx, provider)  # a file we cannot read is reported, not overwritten
    from ..fileutil import UnsafePath, read_regular_file
    from ..registry import MAX_TOML_BYTES

    try:
        raw = read_regular_file(path, MAX_TOML_BYTES, "config", own=True)
        text = raw.decode("utf-8") if raw is not None else ""
    except (UnsafePath, UnicodeDecodeError) as exc:  # checked just above; changed since
        raise RegistryError(f"{path}: cannot read config: {exc}", hint="Fix the file, then run the command again.") from None
    updated = _with_client_id(text, provider.id, client_id)
    import tomllib

    expected = tomllib.loads(text) if text else {}
    expected.setdefault("clients", {}).setdefault(provider.id, {})["client_id"] = client_id
    try:
        same = tomllib.loads(updated) == expected
    except tomllib.TOMLDecodeError:
        same = False
    if not same:  # a layout we do not edit (an inline table, dotted keys, a multi-line string)
        raise RegistryError(
            f"{path}: cannot add the client id to this file's layout",
            hint=f"Add it yourself: [clients.{provider.id}] client_id = {json.dumps(client_id)}",
        )
    atomic_write_text(path, updated)


def _with_client_id(text: str, provider_id: str, client_id: str) -> str:
    line = f"client_id = {json.dumps(client_id)}"  # a JSON string is a TOML basic string
    header = re.compile(
        r"^[ \t]*\[[ \t]*clients[ \t]*\.[ \t]*(?:%s|\"%s\"|'%s')[ \t]*\][ \t]*(?:#.*)?$" % ((re.escape(provider_id),) * 3)
    )
    lines = text.splitlines(keepends=True)
    for start, current in enumerate(lines):
        if header.match(current.rstrip("\r\n")):
            end = start + 1
            while end < len(lines) and not re.match(r"^[ \t]*\[", lines[end]):
                if re.match(r"^[ \t]*client_id[ \t]*=", lines[end]):
                    lines[end] = line + "\n"
                    return "".join(lines)
                end += 1
            lines.insert(start + 1, line + "\n")
            return "".join(lines)
    if text and not text.endswith("\n"):
        text += "\n"
    return text + ("\n" if text else "") + f"[clients.{provider_id}]\n{line}\n"


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
        raise MissingClient(
            provider,
            None,
            f"no OAuth client id for {provider.name}",
            hint=(
                f"Register an app with {provider.name} with the redirect URI {redirect_uri_template(provider)}, "
                f"then run 'integray-auth client set {provider.id}' (or pass --client-id, or set {prefix}_CLIENT_ID)."
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
        raise MissingClient(
            provider,
            client_id,
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
    if not os.path.lexists(path):
        return None
    from ..registry import read_toml

    fix = "Fix the file, then run the command again."
    config = read_toml(path, own=True, what="config", hint=fix)
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
