"""An agent in miniature for the tests: starts an MCP server command over stdio (as an
agent's configuration does: `"command": "integray-auth", "args": ["mcp", "proxy", NAME]`),
lists its tools, calls the ones named, and prints what happened as one JSON object.

    python agent.py TOOL[,TOOL...] -- COMMAND [ARG...]

Output: {"tools": [names], "results": {tool: {"error": bool, "text": str}}, "failure": str|null,
"logs": [the data of each log message the server sent]}.
The command's stderr passes through to ours.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys


async def run(calls: list[str], command: list[str]) -> dict:
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    out: dict = {"tools": [], "results": {}, "failure": None, "logs": []}

    async def logged(params) -> None:
        out["logs"].append(params.data)

    parameters = StdioServerParameters(command=command[0], args=command[1:], env=dict(os.environ))
    async with stdio_client(parameters, errlog=sys.stderr) as (read, write):
        async with ClientSession(read, write, logging_callback=logged) as session:
            await session.initialize()
            out["tools"] = [tool.name for tool in (await session.list_tools()).tools]
            for name in calls:
                try:
                    result = await session.call_tool(name, {})
                except Exception as exc:  # noqa: BLE001 - an MCP error is a result here
                    out["results"][name] = {"error": True, "text": str(exc)}
                    continue
                text = " ".join(getattr(c, "text", "") for c in result.content)
                out["results"][name] = {"error": bool(result.isError), "text": text}
    return out


def main() -> int:
    split = sys.argv.index("--")
    calls = [c for c in ",".join(sys.argv[1:split]).split(",") if c]
    try:
        out = asyncio.run(run(calls, sys.argv[split + 1 :]))
    except BaseException as exc:  # noqa: BLE001 - reported, not raised
        out = {"tools": [], "results": {}, "failure": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(out))
    return 0 if out["failure"] is None else 1


if __name__ == "__main__":
    sys.exit(main())
