"""Registry overlays that point providers at a test authorization server: the one builder
the end-to-end tests use (each test picks its providers, scopes and connectors)."""

from __future__ import annotations

from pathlib import Path

SCOPES = {"openid": "Sign you in", "read": "Read your data", "write": "Change your data", "profile": "Your profile"}
# (id, name, description, scopes)
READER = ("reader", "Reader", "Reads data.", ("openid", "read"))
WRITER = ("writer", "Writer", "Writes data.", ("write",))
PROFILER = ("profiler", "Profile Reader", "Reads the profile.", ("openid", "profile"))
# registry field -> the key of the server's metadata (tests/support/authserver.py's dict)
ENDPOINTS = {"authorization_url": "authorization_endpoint", "token_url": "token_endpoint",
             "revocation_url": "revocation_endpoint", "userinfo_url": "userinfo_endpoint"}


def provider(provider_id: str, name: str, server, *, connectors=(READER,), scopes=("openid", "read"), fields: str = "",
             endpoints=tuple(ENDPOINTS), pkce: str = "required") -> str:
    """One provider's tables: `fields` (TOML lines) first, then the server's endpoints it names
    (those the server has), its scopes described, its connectors."""
    lines = [f"[providers.{provider_id}]", f'name = "{name}"']
    lines += [line for line in fields.strip("\n").splitlines()]
    lines += [f'{field} = "{server[ENDPOINTS[field]]}"' for field in endpoints if _has(server, ENDPOINTS[field])]
    if pkce:
        lines.append(f'pkce = "{pkce}"')
    lines += ["", f"[providers.{provider_id}.scopes]"] + [f'{scope} = "{SCOPES[scope]}"' for scope in scopes]
    for connector_id, connector_name, description, needed in connectors:
        lines += ["", f"[providers.{provider_id}.connectors.{connector_id}]", f'name = "{connector_name}"',
                  f'description = "{description}"', "scopes = [" + ", ".join(f'"{s}"' for s in needed) + "]"]
    return "\n".join(lines) + "\n"


def write_overlay(path: Path, *providers: str) -> Path:
    path.write_text("schema_version = 1\n\n" + "\n".join(providers))
    return path


def _has(server, key: str) -> bool:
    """Whether the server has the endpoint (AuthServer and the metadata dicts both index by key)."""
    try:
        return bool(server[key])
    except KeyError:
        return False
