"""Which OAuth client integray-auth presents to a provider.

Client id: --client-id, then INTEGRAY_AUTH_<PROVIDER>_CLIENT_ID, then
`[clients.<provider>] client_id` in config.toml, then the registry's default.
Client secret (only where the provider wants one): --client-secret-stdin,
then INTEGRAY_AUTH_<PROVIDER>_CLIENT_SECRET, then the keyring
(`integray-auth client set PROVIDER`). Never the index, never a log.
Private key (client_auth = "private_key_jwt", RFC 7523): the file named by
`[clients.<provider>] private_key_file` in config.toml (owner-only, 0600),
else the keyring (`integray-auth client set PROVIDER --private-key-file PATH`);
its `kid` from `[clients.<provider>] private_key_id`. Every problem with a key
is a usage error (exit 2) that names where the key is, never its content.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tomllib

from ..context import AppContext
from ..errors import IntegrayAuthError, RegistryError, UsageError
from ..oauth.client_assertion import MAX_KEY_BYTES, load_private_key
from ..oauth.endpoint import ClientCredentials
from ..oauth.redirect import redirect_uri_template
from ..registry.loading import MAX_TOML_BYTES, read_toml
from ..registry.model import Provider
from ..stores import STORAGE_KEYRING
from ..stores.files import UnsafePath, atomic_write_text, read_regular_file
from ..stores.secrets import client_private_key_key, client_secret_key


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
    check_client_id(client_id)
    path = ctx.paths.config_file
    _configured_client_id(ctx, provider)  # a file we cannot read is reported, not overwritten

    try:
        raw = read_regular_file(path, MAX_TOML_BYTES, "config", own=True)
        text = raw.decode("utf-8") if raw is not None else ""
    except (UnsafePath, UnicodeDecodeError) as exc:  # checked just above; changed since
        raise RegistryError(f"{path}: cannot read config: {exc}", hint="Fix the file, then run the command again.") from None
    updated = _with_client_id(text, provider.id, client_id)

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
    return provider.client_secret_required or provider.client_auth in ("client_secret_post", "client_secret_basic")


def secret_required(provider: Provider, grant: str | None, require_secret: bool = False) -> bool:
    """Whether this run cannot go on without the client secret: the grant asks
    for it (`require_secret`: client credentials, Zoom's device endpoint) unless
    a private key stands in for it, or the provider asks for it except for
    the grants it runs with a public client (`public_grants`: GitHub's device flow)."""
    if require_secret and not uses_private_key(provider):
        return True
    return needs_secret(provider) and grant not in provider.public_grants


def uses_private_key(provider: Provider) -> bool:
    return provider.client_auth == "private_key_jwt"


def resolve_credentials(
    ctx: AppContext,
    provider: Provider,
    client_id: str | None = None,
    secret_from_stdin: bool = False,
    want_secret: bool = False,
    require_secret: bool = False,  # the grant needs one whatever the provider's client_auth (grants.base.Needs)
    grant: str | None = None,  # the grant the client is used with (None: the provider's default)
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
    needed = secret_required(provider, grant or provider.default_grant, require_secret)
    if needs_secret(provider) and not needed and not want_secret:
        # A grant the provider runs with a public client (GitHub's device flow):
        # the secret is not sent where nothing asks for it.
        secret = None
    elif secret is None:
        secret = ctx.environ.get(f"{prefix}_CLIENT_SECRET") or None
    if secret is None and (needed or want_secret):
        try:
            secret = ctx.secret_store(STORAGE_KEYRING).get(client_secret_key(provider.id))
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
    if uses_private_key(provider):
        key, key_id = private_key(ctx, provider, client_id)
        return ClientCredentials(client_id=client_id, client_secret=secret, private_key=key, key_id=key_id)
    return ClientCredentials(client_id=client_id, client_secret=secret)


def private_key(ctx: AppContext, provider: Provider, client_id: str) -> tuple[str, str | None]:
    """The client's PEM private key, checked, and its optional key id."""
    client = _client_config(ctx, provider)
    key_id = _config_string(ctx, provider, client, "private_key_id")
    path = _config_string(ctx, provider, client, "private_key_file")
    if path is not None:
        pem = read_key_file(os.path.expanduser(path))
        load_private_key(pem, f"{path} (config.toml, clients.{provider.id}.private_key_file)")
        return pem, key_id
    pem = ctx.secret_store(STORAGE_KEYRING).get(client_private_key_key(provider.id))
    if pem is None:
        raise UsageError(
            f"{provider.name} authenticates client {client_id} with a private key (private_key_jwt), and none is set",
            hint=(
                f"Run 'integray-auth client set {provider.id} --private-key-file PATH', or name a 0600 file in "
                f"config.toml: [clients.{provider.id}] private_key_file = \"PATH\"."
            ),
        )
    load_private_key(pem, f"the private key of {provider.id} in the keyring")
    return pem, key_id


def read_key_file(path: str) -> str:
    """A private key file's text, refused unless it is a regular file only its owner can read (0600 or 0400)."""
    fix = f"Run: chmod 600 {path}"
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise UsageError(f"the private key file {path} does not exist", hint="Fix private_key_file in config.toml.") from None
    except OSError as exc:
        raise UsageError(f"cannot read the private key file {path}: {exc.strerror or exc}", hint="Name a regular file you own.") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"the private key file {path} is not a regular file", hint="Name a regular file you own.")
        if os.name == "posix" and info.st_mode & 0o077:
            raise UsageError(
                f"the private key file {path} can be read by others (mode {stat.S_IMODE(info.st_mode):04o}); "
                "it must be readable only by you",
                hint=fix,
            )
        if os.name == "posix" and info.st_uid != os.getuid():
            raise UsageError(f"the private key file {path} belongs to another user", hint="Name a key file you own.")
        data = os.read(fd, MAX_KEY_BYTES + 1)
    finally:
        os.close(fd)
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not a PEM private key", hint="Name the client's PEM private key.") from None


def store_private_key(ctx: AppContext, provider: Provider, path: str) -> None:
    """Keep the private key from `path` (checked like a configured key file) in the keyring."""
    pem = read_key_file(path)
    load_private_key(pem, path)
    store = ctx.secret_store(STORAGE_KEYRING)
    store.check_usable()
    store.set(client_private_key_key(provider.id), pem)


def store_client_secret(ctx: AppContext, provider: Provider, secret: str) -> None:
    if not secret:
        raise UsageError("the client secret is empty")
    store = ctx.secret_store(STORAGE_KEYRING)
    store.check_usable()
    store.set(client_secret_key(provider.id), secret)


def remove_client_secret(ctx: AppContext, provider: Provider) -> None:
    """Forget the client secret and the private key of `provider` kept in the keyring."""
    store = ctx.secret_store(STORAGE_KEYRING)
    store.remove(client_secret_key(provider.id))
    store.remove(client_private_key_key(provider.id))


def _configured_client_id(ctx: AppContext, provider: Provider) -> str | None:
    return _config_string(ctx, provider, _client_config(ctx, provider), "client_id")


def _client_config(ctx: AppContext, provider: Provider) -> dict:
    """`[clients.<provider>]` of config.toml, or {}."""
    path = ctx.paths.config_file
    if not os.path.lexists(path):
        return {}

    fix = "Fix the file, then run the command again."
    config = read_toml(path, own=True, what="config", hint=fix)
    clients = config.get("clients", {})
    if not isinstance(clients, dict):
        raise RegistryError(f"{path}: 'clients' must be a table of [clients.<provider>] tables", hint=fix)
    client = clients.get(provider.id, {})
    if not isinstance(client, dict):
        raise RegistryError(f"{path}: 'clients.{provider.id}' must be a table with client_id = \"...\"", hint=fix)
    return client


def _config_string(ctx: AppContext, provider: Provider, client: dict, key: str) -> str | None:
    value = client.get(key)
    if value is not None and not isinstance(value, str):
        raise RegistryError(
            f"{ctx.paths.config_file}: clients.{provider.id}.{key} must be a string",
            hint="Fix the file, then run the command again.",
        )
    if value == "" and key != "client_id":  # an empty client_id falls back to the registry's, as before
        raise RegistryError(
            f"{ctx.paths.config_file}: clients.{provider.id}.{key} must not be empty",
            hint="Fix the file, then run the command again.",
        )
    return value
