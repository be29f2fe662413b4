"""MCP servers as authorizations: `add NAME --resource URL`.

An MCP server becomes a provider like any other, synthesized from discovery
(oauth/mcp_discovery.py) and written to the user's overlay: its issuer and
endpoints, its `resource` (RFC 8707, sent in the authorization request, the
code exchange and every refresh), the client integray-auth is registered as,
and one connector, `mcp`, holding the scopes the server asks for. From there
`list`, `show`, `token`, `exec`, `refresh`, `status --check` and `share` work
unchanged, through the same single-flight refresh as every provider.

The client, in the MCP specification's priority:
1. one the user configured: --client-id, INTEGRAY_AUTH_<PROVIDER>_CLIENT_ID,
   `client set`, or INTEGRAY_AUTH_MCP_CLIENT_ID (with INTEGRAY_AUTH_MCP_CLIENT_SECRET
   or INTEGRAY_AUTH_MCP_PRIVATE_KEY_FILE) for the servers added in that environment;
2. a Client ID Metadata Document (--client-metadata-url, or
   INTEGRAY_AUTH_MCP_CLIENT_METADATA_URL) when the server advertises
   client_id_metadata_document_supported; the URL is the client id, never fetched here;
3. dynamic client registration (RFC 7591) as a native app;
4. otherwise the user is told what to register.
The registration is bound to the authorization server's issuer: a different
issuer at a later discovery means a new registration, never a silent reuse.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..context import AppContext
from ..errors import ConflictError, UsageError
from ..grants import DEFAULT_GRANT, MACHINE_GRANT
from ..lean.printable import quoted
from ..oauth import mcp_discovery
from ..oauth.discovery import shown, url_problem
from ..oauth.endpoint import request_deadline
from ..oauth.registration import register
from ..registry.model import Provider
from . import manage
from .clients import store_client_secret, store_private_key
from .discovery import overlay_provider, write_provider

CONNECTOR = "mcp"  # the one connector of an MCP server: the scopes it asks for
PROVIDER_PREFIX = "mcp-"
MCP_ENV = "INTEGRAY_AUTH_MCP"  # the client for MCP servers added in this environment
REDIRECT_HOST = "127.0.0.1"
REDIRECT_PATH = "/callback"


@dataclass
class McpClient:
    client_id: str
    auth_method: str  # providers.toml client_auth
    secret: str | None = None  # to the keyring, never the overlay
    private_key_file: str | None = None
    how: str = ""  # for the notes: pre-registered, CIMD, registered


def provider_id_for(url: str) -> str:
    """The provider id of the MCP server at `url` (canonical): mcp-<host>[-<port>]-<path>
    in id characters, and 6 hex digits of the URL's SHA-256, so that two URLs that read
    alike (/a-b, /a/b) are never one provider."""
    parts = urlsplit(url)
    words = re.sub(r"[^a-z0-9]+", "-", f"{parts.hostname or ''} {parts.port or ''} {parts.path}".lower()).strip("-")
    digest = hashlib.sha256(url.encode()).hexdigest()[:6]
    return f"{(PROVIDER_PREFIX + words)[:56].rstrip('-')}-{digest}"


def default_name(url: str) -> str:
    """The authorization name `mcp proxy URL` gives a server it adds: its host and path."""
    parts = urlsplit(url)
    return f"MCP {parts.netloc}{parts.path.rstrip('/')}"


def is_mcp_provider(provider: Provider) -> bool:
    return bool(provider.resource) and CONNECTOR in provider.connectors


def prepare(ctx: AppContext, name: str, url: str, client_id: str | None = None, secret_from_stdin: bool = False,
            client_metadata_url: str | None = None, machine: bool = False, challenge=None) -> tuple:
    """Discover the server at `url`, settle the client, write the provider; the new
    (unsaved) authorization and the grant to run. Nothing is asked of the user here."""
    url = mcp_discovery.canonical_url(url)
    name = manage.check_new_name(ctx, name)
    deadline = request_deadline(ctx.environ)
    ctx.registry  # noqa: B018 - a broken overlay stops here, before any network
    if client_metadata_url is None:
        client_metadata_url = ctx.environ.get(f"{MCP_ENV}_CLIENT_METADATA_URL") or None
    if client_metadata_url is not None and (url_problem(client_metadata_url, allow_loopback_http=False) or urlsplit(client_metadata_url).path in ("", "/")):
        raise UsageError(
            f"--client-metadata-url {shown(client_metadata_url)} is not an https URL with a path",
            hint="A Client ID Metadata Document is named by an https URL with a path, e.g. https://example.com/client.json",
        )
    facts = mcp_discovery.discover_server(url, deadline, challenge=challenge)
    provider_id = provider_id_for(url)
    machine = machine or (DEFAULT_GRANT not in facts.grant_types and MACHINE_GRANT in facts.grant_types)
    client = _client(ctx, provider_id, facts, client_id, secret_from_stdin, client_metadata_url, machine, deadline)
    scopes = list(facts.scopes)
    entry = provider_entry(ctx, url, facts, client, machine)
    write_provider(
        ctx, provider_id, entry, {s: facts.scope_sources.get(s, "") for s in scopes},
        {CONNECTOR: {"name": "MCP server", "description": f"The MCP server at {url}", "scopes": scopes}},
        comment=f"The MCP server {url}, added by integray-auth add (--resource) from its metadata.",
    )
    provider = ctx.registry.get(provider_id)
    if client.secret:
        store_client_secret(ctx, provider, client.secret)
    if client.private_key_file:
        store_private_key(ctx, provider, client.private_key_file)
    authorization = manage.new_authorization(ctx, name, provider_id, [CONNECTOR], {})
    return authorization, (MACHINE_GRANT if machine else DEFAULT_GRANT)


def provider_entry(ctx: AppContext, url: str, facts, client: McpClient, machine: bool) -> dict:
    parts = urlsplit(url)
    entry = {
        "name": f"MCP server {parts.netloc}{parts.path.rstrip('/')}"[:100],
        "issuer": facts.issuer,
        **facts.endpoints,
        "resource": facts.resource,
        "mcp_url": url,
        "pkce": "required",
        "client_id": client.client_id,
        "client_auth": client.auth_method,
        "grants": [MACHINE_GRANT] if machine else [DEFAULT_GRANT],
        "redirect_host": REDIRECT_HOST,
        "redirect_path": REDIRECT_PATH,
    }
    if facts.iss_parameter:
        entry["iss_parameter"] = True
    read = ", ".join(facts.sources) or "no metadata (the 2025-03-26 default endpoints)"
    entry["notes"] = (
        f"An MCP server (MCP authorization {facts.revision}). Discovered on {ctx.clock().date().isoformat()} from {read}. "
        f"Client: {client.how}."
    )
    return entry


def _client(ctx: AppContext, provider_id: str, facts, client_id: str | None, secret_from_stdin: bool,
            client_metadata_url: str | None, machine: bool, deadline: float) -> McpClient:
    environ = ctx.environ
    prefix = "INTEGRAY_AUTH_" + provider_id.upper().replace("-", "_")
    secret = None
    if secret_from_stdin:
        secret = ctx.stdin.readline().strip() or None
        if secret is None:
            raise UsageError("--client-secret-stdin was given but standard input was empty")
    given_id = client_id or environ.get(f"{prefix}_CLIENT_ID") or environ.get(f"{MCP_ENV}_CLIENT_ID")
    key_file = environ.get(f"{MCP_ENV}_PRIVATE_KEY_FILE") or None
    if given_id:  # 1. pre-registered
        secret = secret or environ.get(f"{prefix}_CLIENT_SECRET") or environ.get(f"{MCP_ENV}_CLIENT_SECRET") or None
        if key_file and "private_key_jwt" in facts.auth_methods:
            return McpClient(given_id, "private_key_jwt", secret, key_file, "pre-registered, private_key_jwt")
        if secret:
            method = "client_secret_basic" if "client_secret_basic" in facts.auth_methods or "client_secret_post" not in facts.auth_methods else "client_secret_post"
            return McpClient(given_id, method, secret, None, f"pre-registered, {method}")
        if machine:
            raise UsageError(
                f"{facts.issuer} gives machine tokens (client credentials) only to a client that authenticates, "
                f"and client {given_id} has no secret or key",
                hint=f"Set {MCP_ENV}_CLIENT_SECRET, pass --client-secret-stdin, or set {MCP_ENV}_PRIVATE_KEY_FILE.",
            )
        return McpClient(given_id, "none", None, None, "pre-registered, public")
    if machine:
        raise UsageError(
            f"the authorization server {facts.issuer} issues only machine tokens (client credentials), which need a client registered there",
            hint=f"Register one, then pass --client-id ID --client-secret-stdin (or set {MCP_ENV}_CLIENT_ID and {MCP_ENV}_CLIENT_SECRET).",
        )
    existing = ctx.registry.get(provider_id)
    if existing is not None and existing.issuer == facts.issuer and existing.client_id and existing.resource:
        # Registered with this very issuer before: the same client (its secret is in the keyring).
        return McpClient(existing.client_id, existing.client_auth, None, None, "registered before with this issuer")
    if client_metadata_url and facts.cimd_supported:  # 2. CIMD: the URL is the client id
        return McpClient(client_metadata_url, "none", None, None, f"Client ID Metadata Document {client_metadata_url}")
    if facts.registration_endpoint:  # 3. dynamic registration
        redirect = [f"http://{REDIRECT_HOST}{REDIRECT_PATH}", f"http://localhost{REDIRECT_PATH}"]
        registered = register(facts.registration_endpoint, redirect, facts.auth_methods, deadline)
        method = registered.auth_method
        return McpClient(registered.client_id, method, registered.client_secret if method != "none" else None, None,
                         f"registered dynamically at {facts.registration_endpoint}")
    hint = (
        f"Register a client with {facts.issuer} (redirect URI http://{REDIRECT_HOST}{REDIRECT_PATH}, any port), "
        f"then run the command again with --client-id ID"
    )
    if facts.cimd_supported:
        hint += ", or give --client-metadata-url URL (your Client ID Metadata Document)"
    raise UsageError(f"the authorization server {facts.issuer} offers no way for integray-auth to register itself", hint=hint + ".")


def server_url(provider: Provider) -> str:
    """The MCP endpoint of an MCP server's provider."""
    return provider.mcp_url or provider.resource


def rediscover(ctx: AppContext, authorization, challenge) -> Provider:
    """Discover the server of `authorization` again (after a 401); when its authorization
    server or endpoints changed, write the provider anew, with a new registration bound
    to the new issuer. The challenge's scopes are added to what is asked for."""
    provider = ctx.registry.get(authorization.provider)
    url = server_url(provider)
    deadline = request_deadline(ctx.environ)
    facts = mcp_discovery.discover_server(url, deadline, challenge=challenge, probe_first=challenge is None)
    same = facts.issuer == provider.issuer and all(getattr(provider, k) == v for k, v in facts.endpoints.items()) and (
        facts.resource == provider.resource)
    if not same:
        machine = provider.grants == (MACHINE_GRANT,)
        if machine:
            raise ConflictError(
                f"the MCP server {url} now names another authorization server ({facts.issuer}); its client must be registered there",
                hint=f"Register one and add the server again: integray-auth add NAME --resource {url} --client-id ID",
            )
        client = _client(ctx, provider.id, facts, None, False, None, False, deadline)  # another issuer: never the old client
        entry = provider_entry(ctx, url, facts, client, machine)
        scopes = list(dict.fromkeys([*provider.connectors[CONNECTOR].scopes, *facts.scopes]))
        write_provider(
            ctx, provider.id, entry, {s: facts.scope_sources.get(s, provider.scopes.get(s, "")) for s in scopes},
            {CONNECTOR: {"name": "MCP server", "description": f"The MCP server at {url}", "scopes": scopes}},
            comment=f"The MCP server {url}, discovered again: another authorization server, a new registration.",
        )
        provider = ctx.registry.get(provider.id)
        if client.secret:
            store_client_secret(ctx, provider, client.secret)
        return provider
    if challenge is not None and challenge.scopes:
        provider = add_scopes(ctx, provider, list(challenge.scopes), "named by the server's 401 challenge")
    return provider


def find_for_url(ctx: AppContext, url: str):
    """The authorizations whose provider is the MCP server at `url`."""
    url = mcp_discovery.canonical_url(url)
    provider_id = provider_id_for(url)
    provider = ctx.registry.get(provider_id)
    if provider is None or server_url(provider) != url:
        return []
    return [a for a in ctx.index.load() if a.provider == provider_id]


def add_scopes(ctx: AppContext, provider: Provider, scopes: list[str], why: str) -> Provider:
    """The MCP provider with `scopes` added to its connector (a step-up, MCP scope selection)."""
    connector = provider.connectors[CONNECTOR]
    wanted = list(dict.fromkeys([*connector.scopes, *scopes]))
    if wanted == list(connector.scopes):
        return provider
    entry = overlay_provider(ctx, provider.id)
    if entry is None:
        raise ConflictError(
            f"the MCP server {quoted(provider.name)} is not in {ctx.paths.user_registry}; its scopes cannot be extended",
            hint=f"Add it again: integray-auth add NAME --resource {provider.resource}",
        )
    described = {**entry.pop("scopes", {}), **{s: why for s in scopes if s not in provider.scopes}}
    connectors = entry.pop("connectors", {})
    connectors.setdefault(CONNECTOR, {"name": "MCP server", "description": "", "scopes": []})["scopes"] = wanted
    write_provider(ctx, provider.id, entry, described, connectors, comment=f"The MCP server {provider.resource}; scopes stepped up.")
    return ctx.registry.get(provider.id)

