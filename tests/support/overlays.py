"""Registry overlays written by tests: the one builder of a provider's TOML, whether it points at
the test authorization server, a stand-in or nowhere (each test picks its providers, scopes and
connectors). scripts/demo.sh writes its "demo" provider with it too (`python -m tests.support.overlays`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

SCOPES = {"openid": "Sign you in", "read": "Read your data", "write": "Change your data", "profile": "Your profile"}
# (id, name, description, scopes)
READER = ("reader", "Reader", "Reads data.", ("openid", "read"))
WRITER = ("writer", "Writer", "Writes data.", ("write",))
PROFILER = ("profiler", "Profile Reader", "Reads the profile.", ("openid", "profile"))
READ_ONLY = ("reader", "Reader", "Reads data.", ("read",))
# The smallest provider a stand-in needs: one scope, one connector.
READ = {"read": "Read"}
READS = ("reader", "Reader", "Reads.", ("read",))
# registry field -> the key of the server's metadata (tests/support/authserver.py's dict)
ENDPOINTS = {"authorization_url": "authorization_endpoint", "token_url": "token_endpoint",
             "revocation_url": "revocation_endpoint", "userinfo_url": "userinfo_endpoint",
             "device_authorization_url": "device_authorization_endpoint"}
# What an overlay names unless the test says otherwise (the device endpoint only where a test asks).
BROWSER_ENDPOINTS = ("authorization_url", "token_url", "revocation_url", "userinfo_url")


def provider(provider_id: str, name: str, server=None, *, connectors=(READER,), scopes=("openid", "read"),
             fields: str = "", endpoints=BROWSER_ENDPOINTS, pkce: str = "required", tables: str = "") -> str:
    """One provider's tables: `fields` (TOML lines) first, then the server's endpoints it names
    (those the server has; no server, none), its scopes (names described by SCOPES, or a dict of
    name -> description), its connectors, and last `tables` (more [providers.<id>.…] tables)."""
    lines = [f"[providers.{provider_id}]", f'name = "{name}"']
    lines += [line for line in fields.strip("\n").splitlines()]
    if server is not None:
        lines += [f'{field} = "{server[ENDPOINTS[field]]}"' for field in endpoints if _has(server, ENDPOINTS[field])]
    if pkce:
        lines.append(f'pkce = "{pkce}"')
    described = scopes if isinstance(scopes, dict) else {scope: SCOPES[scope] for scope in scopes}
    lines += ["", f"[providers.{provider_id}.scopes]"] + [f'{scope} = "{text}"' for scope, text in described.items()]
    for connector_id, connector_name, description, needed in connectors:
        lines += ["", f"[providers.{provider_id}.connectors.{connector_id}]", f'name = "{connector_name}"',
                  f'description = "{description}"', "scopes = [" + ", ".join(f'"{s}"' for s in needed) + "]"]
    if tables:
        lines += ["", tables.strip("\n")]
    return "\n".join(lines) + "\n"


def stub(token_url: str, *, fields: str = "", scopes=READ, connectors=(READS,)) -> str:
    """The "stub" provider of the stand-in tests: nothing at its authorization URL, its token
    endpoint the test's stand-in; `fields` come after its client id."""
    return provider("stub", "Stub", pkce="", scopes=scopes, connectors=connectors,
                    fields=f'authorization_url = "https://stub.example/authorize"\ntoken_url = "{token_url}"\n'
                           f'client_id = "stub-client"\n{fields}')


def standin(url: str, client_id: str, extra: str = "") -> str:
    """The "standin" provider: a stand-in at `url` answers /authorize, /token and /device."""
    server = {"authorization_endpoint": f"{url}/authorize", "token_endpoint": f"{url}/token",
              "device_authorization_endpoint": f"{url}/device"}
    return provider("standin", "Stand-in", server,
                    endpoints=("authorization_url", "token_url", "device_authorization_url"),
                    scopes=("read",), connectors=(READ_ONLY,),
                    fields=f'client_id = "{client_id}"\ngrants = ["authorization_code", "device_code"]\n{extra}')


def overlay_text(*providers: str) -> str:
    return "schema_version = 1\n\n" + "\n".join(providers)


def write_overlay(path: Path, *providers: str) -> Path:
    path.write_text(overlay_text(*providers))
    return path


def demo(server: dict) -> str:
    """scripts/demo.sh's overlay: a "demo" provider at the server it started."""
    return overlay_text(provider(
        "demo", "Demo Server", server, endpoints=("authorization_url", "token_url", "revocation_url"),
        scopes=("openid", "read", "write"),
        fields=f'client_id = "{server["client_id"]}"\n'
               'notes = "The local django-oauth-toolkit server started by scripts/demo.sh."',
        connectors=(("reader", "Demo Reader", "Reads data from the demo server.", ("openid", "read")),
                    ("writer", "Demo Writer", "Writes data to the demo server.", ("write",)))))


def _has(server, key: str) -> bool:
    """Whether the server has the endpoint (AuthServer and the metadata dicts both index by key)."""
    try:
        return bool(server[key])
    except KeyError:
        return False


if __name__ == "__main__":  # python -m tests.support.overlays demo SERVER_JSON: the overlay on stdout
    if sys.argv[1:2] != ["demo"] or len(sys.argv) != 3:
        sys.exit("usage: python -m tests.support.overlays demo SERVER_JSON")
    sys.stdout.write(demo(json.loads(Path(sys.argv[2]).read_text())))
