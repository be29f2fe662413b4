"""A small MCP server protected by OAuth, for the end-to-end tests of `add --resource`
and `mcp proxy`: the MCP SDK's low-level server over Streamable HTTP (stateless), behind
a bearer check that asks the authorization server (RFC 7662 introspection) about each token.

    python protected_server.py        prints {"port": N, "url": ".../mcp"}, then reads ONE
                                      JSON line on stdin: the authorization server (issuer,
                                      introspection endpoint and client), then serves

- GET /.well-known/oauth-protected-resource/mcp: RFC 9728 metadata (resource = the /mcp URL,
  scopes_supported = ["mcp:read"]);
- POST /mcp without a token, or with one the authorization server says is inactive or for
  another audience: 401 with resource_metadata and scope="mcp:read";
- tools/call of `write_note` with a token lacking mcp:write: 403 error="insufficient_scope"
  scope="mcp:read mcp:write" (MCP scope step-up);
- tools: `whoami` (the token's subject and scopes; it also sends a log message), `write_note`;
- GET /_test/seen: {"tokens": n distinct tokens accepted, "rejected": n}.
Only for tests: binds 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys

import anyio
import requests
import uvicorn
from mcp import types
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

READ, WRITE = "mcp:read", "mcp:write"
seen = {"tokens": set(), "rejected": 0}
config: dict = {}


def build_server() -> Server:
    server = Server("integray-test-notes", version="1.0")

    @server.list_tools()
    async def list_tools() -> list[types.Tool]:
        return [
            types.Tool(name="whoami", description="Who the token is for", inputSchema={"type": "object"}),
            types.Tool(name="write_note", description="Needs mcp:write", inputSchema={"type": "object"}),
        ]

    @server.call_tool()
    async def call_tool(name: str, arguments: dict) -> list[types.TextContent]:
        info = server.request_context.request.scope.get("token_info", {}) if server.request_context.request else {}
        if name == "whoami":
            await server.request_context.session.send_log_message("info", "whoami was called", logger="notes",
                                                                  related_request_id=server.request_context.request_id)
            return [types.TextContent(type="text", text=f"sub={info.get('sub')} scope={info.get('scope')}")]
        if name == "write_note":
            return [types.TextContent(type="text", text="written")]
        if name == "stall":  # not listed: a tool that never answers, for the proxy's deadline
            await anyio.sleep(3600)
        raise ValueError(f"no tool {name}")

    return server


def introspect(token: str) -> dict:
    answer = requests.post(
        config["introspection_endpoint"], data={"token": token},
        auth=(config["introspection_client_id"], config["introspection_client_secret"]), timeout=10,
    )
    return answer.json() if answer.status_code == 200 else {"active": False}


class Protected:
    """ASGI: the bearer check in front of the MCP endpoint."""

    def __init__(self, app, url: str) -> None:
        self.app = app
        self.url = url

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = dict(scope["headers"])
        authorization = headers.get(b"authorization", b"").decode()
        metadata = self.url.replace("/mcp", "/.well-known/oauth-protected-resource/mcp")
        challenge = f'Bearer resource_metadata="{metadata}", scope="{READ}"'
        info = introspect(authorization[7:]) if authorization.startswith("Bearer ") else {"active": False}
        if not info.get("active") or info.get("aud") != self.url:
            seen["rejected"] += 1
            response = JSONResponse({"error": "invalid_token"}, status_code=401, headers={"WWW-Authenticate": challenge})
            return await response(scope, receive, send)
        scopes = set((info.get("scope") or "").split())
        try:
            call = json.loads(body)
        except ValueError:
            call = {}
        if isinstance(call, dict) and call.get("method") == "tools/call" and (call.get("params") or {}).get("name") == "write_note" and WRITE not in scopes:
            response = JSONResponse(
                {"error": "insufficient_scope"}, status_code=403,
                headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{READ} {WRITE}", resource_metadata="{metadata}"'},
            )
            return await response(scope, receive, send)
        seen["tokens"].add(authorization[7:])
        scope = {**scope, "token_info": info}
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)


def main() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/mcp"
    print(json.dumps({"port": port, "url": url}), flush=True)
    config.update(json.loads(sys.stdin.readline()))
    manager = StreamableHTTPSessionManager(app=build_server(), stateless=True)  # answers as SSE streams

    async def metadata(request):
        return JSONResponse({"resource": url, "authorization_servers": [config["issuer"]], "scopes_supported": [READ]})

    async def counts(request):
        return JSONResponse({"tokens": len(seen["tokens"]), "rejected": seen["rejected"]})

    async def mcp_endpoint(scope, receive, send):
        await manager.handle_request(scope, receive, send)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        async with manager.run():
            yield

    app = Starlette(
        routes=[
            Route("/.well-known/oauth-protected-resource/mcp", metadata),
            Route("/_test/seen", counts),
            Route("/mcp", endpoint=Protected(mcp_endpoint, url), methods=["GET", "POST", "DELETE"]),
        ],
        lifespan=lifespan,
    )
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])


if __name__ == "__main__":
    main()
