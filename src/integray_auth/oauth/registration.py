"""Dynamic client registration (RFC 7591) of integray-auth as a native app
(RFC 8252): loopback redirect URIs (any port, §7.3), the authorization code
and refresh grants, and a client secret only when the server issues one.

What the server answers is checked like any other outside input: a client
id that is printable and short, a secret that is a string; the secret goes
to the secret store, never to the index or a message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import requests

from ..errors import AuthorizationFailed, NetworkError
from .endpoint import USER_AGENT, send

CLIENT_NAME = "integray-auth"
MAX_CLIENT_ID = 500


@dataclass(frozen=True)
class RegisteredClient:
    client_id: str
    client_secret: str | None
    auth_method: str  # token_endpoint_auth_method

    def __repr__(self) -> str:
        return f"RegisteredClient(client_id={self.client_id!r}, client_secret={'***' if self.client_secret else None})"


def auth_method_for(supported: tuple[str, ...]) -> str:
    """The token endpoint authentication to ask for: none (a public client, PKCE
    protects the code) where allowed, else the secret methods the server names."""
    for method in ("none", "client_secret_basic", "client_secret_post"):
        if method in supported:
            return method
    return "client_secret_basic"


def register(endpoint: str, redirect_uris: list[str], auth_methods: tuple[str, ...],
             deadline: float, session=None) -> RegisteredClient:
    """Register a client at `endpoint`; AuthorizationFailed when the server refuses."""
    session = session or requests.Session()
    session.headers.setdefault("User-Agent", USER_AGENT)
    method = auth_method_for(auth_methods)
    body = {
        "client_name": CLIENT_NAME,
        "application_type": "native",
        "redirect_uris": redirect_uris,
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": method,
    }
    # No `scope` (RFC 7591 §2): a server may hold the client to it, and a step-up later
    # asks for more than the first challenge named.
    answer = send(session, "POST", endpoint, deadline, data=json.dumps(body),
                  headers={"Content-Type": "application/json", "Accept": "application/json"})
    try:
        data = answer.json()
    except ValueError:
        data = None
    if answer.status_code >= 400:
        if isinstance(data, dict) and isinstance(data.get("error"), str):
            description = data.get("error_description")
            detail = f" ({description[:200]!r})" if isinstance(description, str) else ""
            raise AuthorizationFailed(
                f"the authorization server refused to register integray-auth: {data['error'][:100]!r}{detail}",
                hint="Register a client with the server by hand, then run the command again with --client-id.",
            )
        raise NetworkError(f"the registration endpoint {endpoint} answered HTTP {answer.status_code}",
                           hint="Register a client by hand, then pass --client-id.")
    if not isinstance(data, dict):
        raise NetworkError(f"the registration endpoint {endpoint} answered something that is not a JSON object")
    client_id = data.get("client_id")
    if not isinstance(client_id, str) or not client_id or len(client_id) > MAX_CLIENT_ID or not client_id.isprintable():
        raise NetworkError(f"the registration endpoint {endpoint} answered without a usable client_id")
    secret = data.get("client_secret")
    if secret is not None and (not isinstance(secret, str) or not secret):
        raise NetworkError(f"the registration endpoint {endpoint} answered a client_secret that is not a string")
    granted = data.get("token_endpoint_auth_method")
    if granted not in ("none", "client_secret_basic", "client_secret_post"):
        granted = method if secret or method == "none" else "none"
    if granted != "none" and not secret:
        granted = "none"  # a method needing a secret, without one: use the client as public
    return RegisteredClient(client_id, secret, granted)
