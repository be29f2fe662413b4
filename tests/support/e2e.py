"""The set-up the end-to-end tests share: an overlay pointing at the test authorization server,
the installed command run against it, and what it stored in the keyring or the file store."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.support.overlays import PROFILER, READER, WRITER, provider, write_overlay


@pytest.fixture
def pinned_ports() -> list[int]:
    return free_ports_outside_the_ephemeral_range(2)


@pytest.fixture
def overlay(auth_server, tmp_path, pinned_ports) -> Path:
    """Point three providers at the real server: public PKCE client,
    confidential client (client_secret_basic), and one with pinned ports."""
    s = auth_server
    common = f'''
authorization_url = "{s["authorization_endpoint"]}"
token_url = "{s["token_endpoint"]}"
revocation_url = "{s["revocation_endpoint"]}"
userinfo_url = "{s["userinfo_endpoint"]}"
pkce = "required"
'''
    scopes_and_connectors = '''
[providers.{id}.scopes]
openid = "Sign you in"
read = "Read your data"
write = "Change your data"

[providers.{id}.connectors.reader]
name = "Reader"
description = "Reads data."
scopes = ["openid", "read"]

[providers.{id}.connectors.writer]
name = "Writer"
description = "Writes data."
scopes = ["write"]
'''
    text = f'''schema_version = 1

[providers.local]
name = "Local Test Server"
client_id = "{s["client_id"]}"
# Extra parameters reach the real server (OIDC prompt=consent; DOT honours it).
authorization_params = {{ prompt = "consent" }}
{common}
{scopes_and_connectors.format(id="local")}

[providers.localconf]
name = "Local Confidential"
client_id = "{s["confidential_client_id"]}"
client_auth = "client_secret_basic"
client_secret_required = true
{common}
{scopes_and_connectors.format(id="localconf")}

[providers.localpinned]
name = "Local Pinned Ports"
client_id = "{s["client_id"]}"
redirect_ports = [{{ports}}]
{common}
{scopes_and_connectors.format(id="localpinned")}
'''
    path = tmp_path / "providers.toml"
    path.write_text(text.replace("{ports}", ", ".join(map(str, pinned_ports))))
    return path


def run_command(cli, overlay, *args, env=None, **kwargs):
    return cli("--registry", str(overlay), *args, env=env, **kwargs)


def keyring_get(keyring_env: dict, key: str) -> str | None:
    env = {k: v for k, v in {**os.environ, **keyring_env}.items() if v is not None}
    env.pop("PYTHON_KEYRING_BACKEND", None)
    out = subprocess.run(
        [sys.executable, "-c", "import keyring,sys; v=keyring.get_password('integray-auth', sys.argv[1]); print(v if v is not None else '<none>')", key],
        env=env, capture_output=True, text=True, timeout=30, check=True,
    ).stdout.strip()
    return None if out == "<none>" else out


def state_of(cli, overlay, name: str) -> dict:
    result = run_command(cli, overlay, "show", name, "--json")
    assert result.code == 0, result.stderr
    return result.json()["authorization"]


def expire_in_keyring(keyring_env: dict, authorization_id: str) -> None:
    """Make the stored access token expired, so `token` must refresh."""
    code = (
        "import sys\n"
        "from integray_auth.stores.secrets import ChunkedTokens, KeyringStore\n"
        "store = ChunkedTokens(KeyringStore())\n"
        "tokens = store.load(sys.argv[1])\n"
        "store.save(sys.argv[1], tokens.copy(expires_at='2000-01-01T00:00:00Z'))\n"
    )
    env = {k: v for k, v in {**os.environ, **keyring_env}.items() if v is not None}
    subprocess.run([sys.executable, "-c", code, authorization_id], env=env, check=True, timeout=30)


def overlay_for(server, path: Path) -> Path:
    """Two providers on the real server: `local` can narrow a grant by a
    refresh and asks incrementally; `plain` can do neither."""
    client = f'client_id = "{server["client_id"]}"\n'
    everything = dict(connectors=(READER, WRITER, PROFILER), scopes=("openid", "read", "write", "profile"))
    return write_overlay(
        path,
        provider("local", "Local Test Server", server, **everything, fields=client
                 + 'incremental_consent_params = { include_granted_scopes = "true" }\nrefresh_narrows_scope = true'),
        provider("plain", "Plain Server", server, **everything, fields=client),
    )


def stored_tokens(keyring_env: dict, authorization_id: str) -> dict:
    """The token set in the keyring (the test reads it as the provider would see it)."""
    code = (
        "import json, sys\n"
        "from integray_auth.stores.secrets import ChunkedTokens, KeyringStore\n"
        "print(json.dumps(ChunkedTokens(KeyringStore()).load(sys.argv[1]).as_dict()))\n"
    )
    env = {k: v for k, v in {**os.environ, **keyring_env}.items() if v is not None}
    done = subprocess.run([sys.executable, "-c", code, authorization_id], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def introspect(server, token: str, client: str = "confidential") -> dict:
    """What the test server says of a token (RFC 7662), asked as its `client` ("confidential" or "machine")."""
    answer = requests.post(
        server["introspection_endpoint"], data={"token": token},
        auth=(server[f"{client}_client_id"], server[f"{client}_client_secret"]), timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def refresh_count(server) -> int:
    return server.counts()["token"].get("refresh_token", 0)


class Cli:
    def __init__(self, cli, overlay: Path, env: dict) -> None:
        self.cli, self.overlay, self.env = cli, overlay, env

    def __call__(self, *args: str, env: dict | None = None, **kwargs):
        return self.cli("--registry", str(self.overlay), *args, env={**self.env, **(env or {})}, **kwargs)

    def state(self, name: str) -> dict:
        shown = self("show", name, "--json")
        assert shown.code == 0, shown.stderr
        return shown.json()["authorization"]

    def add(self, name: str, provider: str, *connectors: str, browser) -> dict:
        args = [a for c in connectors for a in ("-c", c)]
        added = self("add", name, "-p", provider, *args, env=browser.env())
        browser.result()
        assert added.code == 0, added.stderr
        return self.state(name)


def free_ports_outside_the_ephemeral_range(count: int) -> list[int]:
    """Ports for the pinned-ports provider. Fixed numbers (54001...) sat inside
    Linux's ephemeral range, so any outgoing connection, or a second suite on
    the same machine, could hold one and make the tests fail at random. These
    come from below that range, where the kernel never assigns ports itself,
    and are checked free when chosen."""
    import random

    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    ports: list[int] = []
    for port in random.sample(range(20000, max(low, 20000 + 10 * count)), 200):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        ports.append(port)
        if len(ports) == count:
            return ports
    raise RuntimeError("no free loopback ports below the ephemeral range")
