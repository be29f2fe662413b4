"""`mcp proxy NAME|URL`: a stdio MCP server for an agent, forwarding to the
remote MCP server's Streamable HTTP endpoint with the authorization's token.

The protocol on both sides is the official MCP Python SDK's (imported only
here): the agent talks to a low-level SDK server on stdin/stdout, whose
handlers forward each request through an SDK client session. Authorization
happens below the SDK, in an httpx transport (AuthorizingTransport):
- every request carries the token that `token` would print, from the same
  single-flight path (access_token.valid_tokens: one refresh among any
  number of proxies and commands, rotation saved under the lock);
- a 401: renew the token once; refused again, re-discover the server and run
  the browser flow where a person can consent, else end with the command to run;
- a 403 with error="insufficient_scope": ask for the union of the granted and
  the challenged scopes (MCP scope step-up), at most MAX_STEP_UPS times, then
  answer the agent with an error;
- the token is only ever in the Authorization header to the MCP server: not in
  the agent's environment or argv, not on stdout (MCP only) or stderr.
- each request the agent sends on has an overall deadline: the consent it may
  need (--timeout) plus INTEGRAY_AUTH_HTTP_TIMEOUT for the server's answer; a
  server that never answers, or trickles, costs the agent an error, not a hang.
The proxy ends when its stdin closes (the agent went away).
"""

from __future__ import annotations

import io
import json
import sys
import threading
from datetime import timedelta

from ..context import AppContext
from ..errors import IntegrayAuthError, NetworkError, NotFoundError, UsageError
from ..lean.printable import quoted
from ..oauth import mcp_discovery
from ..oauth.endpoint import request_deadline
from ..stores import lookup
from . import mcp_servers
from .access_token import valid_tokens
from .authorize import FlowOptions, authorize, no_browser_here

# The MCP specification asks for a retry limit on step-up; the conformance suite's
# server counts at most three authorizations for one request.
MAX_STEP_UPS = 2
MAX_RENEWALS = 2  # per request: a forced refresh, then a new consent


class Gate:
    """The blocking side of the proxy: tokens, consent, step-up; one call at a time."""

    def __init__(self, ctx: AppContext, target: str, ui, open_browser: bool = True, timeout: float = 300.0) -> None:
        self.ctx = ctx
        self.target = target
        self.ui = ui
        self.options = dict(open_browser=open_browser, timeout=timeout)
        self.request_deadline = timeout + request_deadline(ctx.environ)  # module docstring
        self.lock = threading.Lock()
        self.step_ups = 0
        self.fatal: IntegrayAuthError | None = None
        self.authorization = None
        self.url = ""

    # --- which authorization -------------------------------------------------------------

    def resolve(self) -> None:
        """Find the authorization (by name, or the MCP server at a URL); for a URL
        nobody added yet, add it now where a person can consent (else UsageError)."""
        ctx = self.ctx
        if "://" in self.target:
            url = mcp_discovery.canonical_url(self.target)
            found = mcp_servers.find_for_url(ctx, url)
            if not found:
                self._add(url)
                return
            self.authorization = found[0]
        else:
            self.authorization = lookup.locate(ctx, self.target)
        provider = ctx.registry.get(self.authorization.provider)
        if provider is None or not provider.resource:
            raise UsageError(
                f"authorization {quoted(self.authorization.name)} is not for an MCP server",
                hint="Add the MCP server first: integray-auth add NAME --resource URL",
            )
        self.url = mcp_discovery.canonical_url(mcp_servers.server_url(provider))
        if not self.authorization.is_authorized:
            self._authorize(new=False)

    def _add(self, url: str) -> None:
        # Before any registration is made or written: where nobody can consent, nothing happens.
        reason = self.ctx.no_input_reason()
        if reason is None and self.options["open_browser"] and self.ctx.open_browser is None and no_browser_here(self.ctx.environ):
            reason = "no browser can be started (no DISPLAY, WAYLAND_DISPLAY or BROWSER)"
        if reason is not None:
            raise UsageError(
                f"a person must consent in a browser to add the MCP server {url}, and nobody can here: {reason}; "
                "nothing was started or saved",
                hint=f"Run it where a person can open a browser: integray-auth add NAME --resource {url}",
            )
        authorization, grant = mcp_servers.prepare(self.ctx, mcp_servers.default_name(url), url)
        self.authorization = authorization
        self.url = url
        self._authorize(new=True, grant=grant)

    def _authorize(self, new: bool, grant: str | None = None) -> None:
        result = authorize(self.ctx, self.authorization, new=new, ui=self.ui, options=FlowOptions(grant=grant, **self.options))
        self.authorization = result.authorization
        self.ctx.stderr.write(f"integray-auth: authorized {quoted(self.authorization.name)} for {self.url}\n")

    # --- tokens ---------------------------------------------------------------------------

    def token(self) -> str:
        with self.lock:
            return valid_tokens(self.ctx, self.authorization.id).access_token

    def unauthorized(self, attempt: int, challenge) -> str | None:
        """A new token after a 401, or None when there is nothing more to try."""
        with self.lock:
            if attempt == 0:
                try:  # the token may have been revoked or expired early: renew it first
                    return valid_tokens(self.ctx, self.authorization.id, force=True).access_token
                except IntegrayAuthError:
                    pass
            if attempt >= MAX_RENEWALS:
                return None
            # Re-discover (the server may have moved to another authorization server),
            # then a new consent: where nobody can consent this raises, and the proxy ends.
            self.authorization = lookup.locate(self.ctx, self.authorization.id)
            mcp_servers.rediscover(self.ctx, self.authorization, challenge)
            self._authorize(new=False)
            return valid_tokens(self.ctx, self.authorization.id).access_token

    def insufficient_scope(self, challenge) -> str | None:
        """A token with the union of the granted and the challenged scopes, or None (limit reached)."""
        with self.lock:
            if self.step_ups >= MAX_STEP_UPS or not challenge.scopes:
                return None
            self.authorization = lookup.locate(self.ctx, self.authorization.id)
            granted = list(self.authorization.granted_scopes or self.authorization.requested_scopes)
            if set(challenge.scopes) <= set(granted):
                return None  # asking again for what was granted changes nothing
            self.step_ups += 1
            provider = self.ctx.registry.get(self.authorization.provider)
            wanted = list(dict.fromkeys([*granted, *challenge.scopes]))
            mcp_servers.add_scopes(self.ctx, provider, wanted, "asked for by the server's 403 insufficient_scope")
            self.ctx.stderr.write(f"integray-auth: {self.url} needs {' '.join(challenge.scopes)}: authorizing again\n")
            self._authorize(new=False)
            return valid_tokens(self.ctx, self.authorization.id).access_token


def proxy_context(ctx: AppContext) -> AppContext:
    """The context the proxy's use cases run in: stdin and stdout are the agent's MCP
    stream, so nothing below may read the one (a pasted redirect) or write the other."""
    ctx.stdin = io.StringIO("")
    ctx.stdout = ctx.stderr
    return ctx


def run_proxy(ctx: AppContext, target: str, ui, open_browser: bool = True, timeout: float = 300.0) -> None:
    """Serve MCP on the real stdin/stdout until stdin closes."""
    import anyio

    gate = Gate(proxy_context(ctx), target, ui, open_browser, timeout)
    gate.resolve()
    stdin, stdout = sys.stdin, sys.stdout
    try:
        anyio.run(_serve, gate, stdin, stdout)
    except BaseExceptionGroup as group:  # anyio's task groups wrap what their tasks raised
        ours = _ours(group)
        if ours is None:
            raise
        gate.fatal = gate.fatal or ours
    if gate.fatal is not None:
        raise gate.fatal


def _ours(error: BaseException) -> IntegrayAuthError | None:
    """The first of our errors inside (nested) exception groups."""
    if isinstance(error, IntegrayAuthError):
        return error
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            found = _ours(inner)
            if found is not None:
                return found
    return None


async def _serve(gate: Gate, stdin, stdout) -> None:
    import anyio
    import httpx
    from mcp import ClientSession, types
    from mcp.client.streamable_http import streamable_http_client
    from mcp.server.lowlevel import NotificationOptions, Server
    from mcp.server.stdio import stdio_server
    from mcp.shared.exceptions import McpError

    transport = AuthorizingTransport(gate, httpx.AsyncHTTPTransport())
    async with anyio.create_task_group() as group:
        transport.cancel = group.cancel_scope.cancel
        async with httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(60.0, read=300.0),
                                     follow_redirects=False) as http:
            async with streamable_http_client(gate.url, http_client=http) as (read, write, _):
                agent: dict = {}  # the agent's session, known from its first request

                async def from_remote(message) -> None:
                    # The server's notifications (progress, logging, list changes) go on to the agent.
                    if isinstance(message, types.ServerNotification) and agent.get("session") is not None:
                        await agent["session"].send_notification(types.ServerNotification.model_validate(_unwrapped(message)))

                async with ClientSession(read, write, message_handler=from_remote,
                                         read_timeout_seconds=timedelta(seconds=gate.request_deadline)) as remote:
                    try:
                        started = await remote.initialize()
                    except McpError as error:
                        gate.fatal = gate.fatal or NetworkError(
                            f"the MCP server {gate.url} did not start a session: {error.error.message.removeprefix('integray-auth: ')}",
                            hint="Check the server's URL and your connection, then start the proxy again.",
                        )
                        group.cancel_scope.cancel()
                        return
                    server = Server(
                        started.serverInfo.name or "integray-auth proxy",
                        version=started.serverInfo.version,
                        instructions=started.instructions,
                    )
                    _forward(server, remote, started.capabilities, types, agent)
                    options = server.create_initialization_options(NotificationOptions(), {})
                    async with stdio_server(anyio.wrap_file(stdin), anyio.wrap_file(stdout)) as (agent_in, agent_out):
                        await server.run(agent_in, agent_out, options)
        group.cancel_scope.cancel()


def _forward(server, remote, capabilities, types, agent: dict) -> None:
    """Register a handler for each request the remote server's capabilities offer;
    `agent` gets the agent's session (for the notifications the server sends)."""
    pairs = []
    if capabilities.tools is not None:
        pairs += [(types.ListToolsRequest, types.ListToolsResult), (types.CallToolRequest, types.CallToolResult)]
    if capabilities.resources is not None:
        pairs += [
            (types.ListResourcesRequest, types.ListResourcesResult),
            (types.ListResourceTemplatesRequest, types.ListResourceTemplatesResult),
            (types.ReadResourceRequest, types.ReadResourceResult),
        ]
        if capabilities.resources.subscribe:
            pairs += [(types.SubscribeRequest, types.EmptyResult), (types.UnsubscribeRequest, types.EmptyResult)]
    if capabilities.prompts is not None:
        pairs += [(types.ListPromptsRequest, types.ListPromptsResult), (types.GetPromptRequest, types.GetPromptResult)]
    if capabilities.completions is not None:
        pairs.append((types.CompleteRequest, types.CompleteResult))
    if capabilities.logging is not None:
        pairs.append((types.SetLevelRequest, types.EmptyResult))

    for request_type, result_type in pairs:
        async def handler(request, result_type=result_type):
            agent["session"] = server.request_context.session
            result = await remote.send_request(types.ClientRequest.model_validate(_unwrapped(request)), result_type)
            return types.ServerResult(result)

        server.request_handlers[request_type] = handler


def _unwrapped(message) -> dict:
    """A request or notification without its JSON-RPC envelope (the SDK keeps extra
    fields, so `jsonrpc` and `id` would be given twice when it is sent on)."""
    sent = message.model_dump(by_alias=True, mode="json", exclude_none=True)
    return {key: value for key, value in sent.items() if key in ("method", "params")}


class AuthorizingTransport:
    """An httpx transport that authorizes each request to the MCP server (module docstring)."""

    def __init__(self, gate: Gate, inner) -> None:
        self.gate = gate
        self.inner = inner
        self.cancel = None

    async def handle_async_request(self, request):
        import anyio
        import httpx

        body = await request.aread()
        try:
            token = await anyio.to_thread.run_sync(self.gate.token)
            renewals = 0
            while True:
                request.headers["Authorization"] = f"Bearer {token}"
                try:
                    response = await self.inner.handle_async_request(request)
                except httpx.TransportError as error:  # no answer: the agent's request fails, the proxy goes on
                    return _error_response(request, body, f"cannot reach {request.url.host}: {type(error).__name__}")
                if response.status_code not in (401, 403):
                    return response
                challenge = mcp_discovery.parse_challenge(response.status_code, response.headers.get("WWW-Authenticate"))
                await response.aclose()
                if response.status_code == 401:
                    token = await anyio.to_thread.run_sync(self.gate.unauthorized, renewals, challenge)
                    renewals += 1
                    what = "the MCP server refused the token even after a new authorization"
                elif challenge.error == "insufficient_scope":
                    token = await anyio.to_thread.run_sync(self.gate.insufficient_scope, challenge)
                    what = ("the MCP server refused the request for lack of scope "
                            f"({' '.join(challenge.scopes or ()) or 'none named'}) after {self.gate.step_ups} step-up(s)")
                else:
                    return _error_response(request, body, f"the MCP server answered 403 ({challenge.error or 'forbidden'})")
                if token is None:
                    return _error_response(request, body, what)
        except IntegrayAuthError as error:
            # Nobody can consent here, or the server cannot be authorized: the proxy ends
            # with the line saying what to run; the agent gets an error for its request.
            self.gate.fatal = error
            if self.cancel is not None:
                self.cancel()
            return _error_response(request, body, error.message)

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def __aenter__(self):
        await self.inner.__aenter__()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.inner.__aexit__(*exc)


def _error_response(request, body: bytes, message: str):
    """A JSON-RPC error for the request in `body` (202 for a notification): the SDK hands it
    to the agent as the answer to its request, and the session goes on."""
    import httpx

    try:
        sent = json.loads(body)
    except ValueError:
        sent = None
    if not isinstance(sent, dict) or "id" not in sent:
        return httpx.Response(202, request=request)
    error = {"jsonrpc": "2.0", "id": sent["id"], "error": {"code": -32001, "message": f"integray-auth: {message}"}}
    return httpx.Response(200, json=error, request=request)


def check_target(ctx: AppContext, target: str) -> None:
    """Refuse an empty target before anything starts."""
    if not target.strip():
        raise NotFoundError("no authorization or MCP server URL given", hint="Run: integray-auth mcp proxy NAME|URL")
