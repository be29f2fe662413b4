"""An MCP server protected by panva's oidc-provider, both on 127.0.0.1, for the
end-to-end tests of `add --resource` and `mcp proxy` (protected_server.py and
tests/support/oidc_provider/mcp_server.mjs say what each does)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import requests

SUPPORT = Path(__file__).resolve().parent.parent
OIDC_PROVIDER = SUPPORT / "oidc_provider"
PROTECTED_SERVER = Path(__file__).resolve().parent / "protected_server.py"


@dataclass
class McpTestServers:
    url: str  # the MCP server's endpoint (and RFC 8707 resource)
    issuer: str
    counts_url: str
    introspection_endpoint: str
    introspection_client: tuple[str, str]
    processes: list = field(default_factory=list, repr=False)

    def counts(self) -> dict:
        """What the authorization server's token endpoint was asked: {"token": {grant: n}, "resources": {grant: [...]}}."""
        return requests.get(self.counts_url, timeout=10).json()

    def introspect(self, token: str) -> dict:
        return requests.post(self.introspection_endpoint, data={"token": token}, auth=self.introspection_client, timeout=10).json()


def _first_line(process: subprocess.Popen, what: str, timeout: float = 30) -> dict:
    lines: list[bytes] = []
    reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    try:
        return json.loads(lines[0] if lines else b"")
    except ValueError:
        process.kill()
        raise RuntimeError(f"{what} did not start") from None


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


@contextlib.contextmanager
def running(directory: Path, access_token_ttl: int = 3600) -> Iterator[McpTestServers]:
    log = open(directory / "servers.log", "ab")
    mcp = subprocess.Popen([sys.executable, str(PROTECTED_SERVER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)
    processes = [mcp]
    try:
        url = _first_line(mcp, "the protected MCP server")["url"]
        oidc = subprocess.Popen(
            ["node", "mcp_server.mjs", "--resource", url, "--access-token-ttl", str(access_token_ttl)],
            cwd=OIDC_PROVIDER, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
        )
        processes.append(oidc)
        info = _first_line(oidc, "oidc-provider (mcp_server.mjs)")
        mcp.stdin.write((json.dumps(info) + "\n").encode())
        mcp.stdin.flush()
        yield McpTestServers(
            url=url, issuer=info["issuer"], counts_url=info["counts_url"],
            introspection_endpoint=info["introspection_endpoint"],
            introspection_client=(info["introspection_client_id"], info["introspection_client_secret"]),
            processes=processes,
        )
    finally:
        for process in processes:
            _stop(process)
        log.close()
