"""The MCP client the conformance suite runs: `conformance client --command
"PYTHON driver.py"` appends the server's URL. It speaks MCP over stdio to
`integray-auth mcp proxy URL` (through the MCP SDK's stdio client): initialize,
list the tools, call each one. It holds no OAuth logic: the proxy does all of it.

What the suite passes in MCP_CONFORMANCE_CONTEXT (a pre-registered client, a
private key) is handed to the proxy the way a user would configure one for
MCP servers they add (docs/mcp.md):
  client_id        -> INTEGRAY_AUTH_MCP_CLIENT_ID
  client_secret    -> INTEGRAY_AUTH_MCP_CLIENT_SECRET
  private_key_pem  -> a 0600 file named by INTEGRAY_AUTH_MCP_PRIVATE_KEY_FILE
and the suite's Client ID Metadata Document URL is the user's
INTEGRAY_AUTH_MCP_CLIENT_METADATA_URL (used only where a server accepts one).

Each run gets its own INTEGRAY_AUTH_HOME under MCP_DRIVER_HOMES (the suite runs
scenarios in parallel); the proxy's stderr is kept there as proxy.log.
Exit 0 when every call succeeded, 1 otherwise (with the reason on stderr).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path

CIMD_URL = "https://conformance-test.local/client-metadata.json"  # the suite's auth/basic-cimd client id
INTEGRAY_AUTH = os.environ.get("MCP_DRIVER_INTEGRAY_AUTH", "integray-auth")


def proxy_environment(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["INTEGRAY_AUTH_HOME"] = str(home)
    env["INTEGRAY_AUTH_MCP_CLIENT_METADATA_URL"] = CIMD_URL
    context = json.loads(os.environ.get("MCP_CONFORMANCE_CONTEXT") or "{}")
    if context.get("client_id"):
        env["INTEGRAY_AUTH_MCP_CLIENT_ID"] = context["client_id"]
    if context.get("client_secret"):
        env["INTEGRAY_AUTH_MCP_CLIENT_SECRET"] = context["client_secret"]
    if context.get("private_key_pem"):
        key = home / "client-key.pem"
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(context["private_key_pem"])
        env["INTEGRAY_AUTH_MCP_PRIVATE_KEY_FILE"] = str(key)
    return env


async def drive(url: str, home: Path) -> int:
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    log = open(home / "proxy.log", "w")
    parameters = StdioServerParameters(command=INTEGRAY_AUTH, args=["mcp", "proxy", url], env=proxy_environment(home))
    failures = 0
    async with stdio_client(parameters, errlog=log) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = await session.list_tools()
            for tool in tools.tools:
                result = await session.call_tool(tool.name, {})
                if result.isError:
                    failures += 1
                    print(f"driver: {tool.name}: {result.content}", file=sys.stderr)
    return 1 if failures else 0


def _reasons(exc: BaseException) -> list[str]:
    if isinstance(exc, BaseExceptionGroup):
        return [line for inner in exc.exceptions for line in _reasons(inner)]
    return [f"{type(exc).__name__}: {exc}"]


def main() -> int:
    url = sys.argv[-1]
    base = os.environ.get("MCP_DRIVER_HOMES") or tempfile.gettempdir()
    scenario = os.environ.get("MCP_CONFORMANCE_SCENARIO", "scenario").replace("/", "-")
    home = Path(tempfile.mkdtemp(prefix=f"{scenario}-", dir=base))
    os.chmod(home, 0o700)
    try:
        code = asyncio.run(drive(url, home))
    except Exception as exc:  # noqa: BLE001 - the suite reads the exit code; the reason goes to stderr
        for line in _reasons(exc):
            print(f"driver: {line}", file=sys.stderr)
        code = 1
    sys.stderr.write((home / "proxy.log").read_text(errors="replace") if (home / "proxy.log").exists() else "")
    return code


if __name__ == "__main__":
    sys.exit(main())
