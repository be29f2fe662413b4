"""Finding an MCP server's authorization server, as the MCP authorization
specification (2025-11-25) orders it, with the 2025-03-26 fallbacks.

1. The server's `401` challenge (RFC 6750 §3, RFC 9728 §5.1): its
   `resource_metadata` URL and `scope`.
2. Protected-resource metadata (RFC 9728 §3): the challenge's URL only when it
   names one; otherwise `/.well-known/oauth-protected-resource/<path>`, then the
   root. Its `resource` must be the server's URL (or a prefix of it, same origin):
   a mismatch is refused (RFC 9728 §3.3), before any authorization request.
3. Authorization-server metadata: RFC 8414 with the issuer's path inserted, then
   OpenID Connect with the path inserted, then appended (without a path: RFC 8414,
   then OpenID). `issuer` must be the one the resource named, exactly, and
   `code_challenge_methods_supported` must list S256 (MCP: PKCE; refuse otherwise).
4. No protected-resource metadata at all: the 2025-03-26 revision, metadata at the
   server's origin, else its default endpoints `/authorize`, `/token`, `/register`.

Everything here is the server's word and hostile until checked (oauth/discovery.py
checks a metadata document); every request shares one deadline.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import requests

from ..errors import NetworkError, UsageError
from .discovery import MAX_DOCUMENT_BYTES, SCOPE_TOKEN, check_document, shown, url_problem
from .endpoint import DEADLINE_ENV, USER_AGENT, send

MCP_PROTOCOL_VERSION = "2025-11-25"
# What a client probes with (MCP basic lifecycle): the server answers 401 to it, or
# serves it, and only a later request asks for a token (a step-up server).
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {
        "protocolVersion": MCP_PROTOCOL_VERSION,
        "capabilities": {},
        "clientInfo": {"name": "integray-auth", "version": "0"},
    },
}


@dataclass(frozen=True)
class Challenge:
    """A Bearer challenge's parameters (RFC 6750 §3, RFC 9728 §5.1)."""

    status: int
    resource_metadata: str | None = None
    scopes: tuple[str, ...] | None = None  # None: no scope parameter
    error: str | None = None


@dataclass(frozen=True)
class McpServer:
    """The checked facts about an MCP server and its authorization server."""

    url: str  # the server's URL as given, canonical
    resource: str  # what `resource` (RFC 8707) names: the protected-resource metadata's, else url
    issuer: str
    endpoints: dict[str, str]  # providers.toml field -> URL
    registration_endpoint: str | None
    cimd_supported: bool  # client_id_metadata_document_supported
    auth_methods: tuple[str, ...]  # token_endpoint_auth_methods_supported (RFC 8414 default: client_secret_basic)
    grant_types: tuple[str, ...]  # grant_types_supported (default: authorization_code, implicit)
    scopes: tuple[str, ...]  # what to ask for (MCP scope selection)
    scope_sources: dict[str, str] = field(default_factory=dict)  # scope -> where it came from (for `show`)
    iss_parameter: bool = False
    sources: tuple[str, ...] = ()  # the documents read, in order
    revision: str = MCP_PROTOCOL_VERSION  # "2025-03-26" for the back-compat paths


def canonical_url(url: str) -> str:
    """The server's URL checked (https, or http on a loopback host) and in canonical
    form (RFC 8707 §2: lowercase scheme and host, no fragment); UsageError if not a URL."""
    problem = url_problem(url, allow_loopback_http=True)  # a query is allowed; a fragment is not
    if problem:
        what = shown(url) if "user name" not in problem else "(not shown)"
        raise UsageError(f"--resource {what} {problem}", hint="Give the MCP server's URL, e.g. --resource https://mcp.example.com/mcp")
    parts = urlsplit(url)
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, parts.query, ""))


def parse_challenge(status: int, header: str | None) -> Challenge:
    """The Bearer challenge of a WWW-Authenticate header (auth-params, quoted or tokens)."""
    params: dict[str, str] = {}
    text = header or ""
    lower = text.lower()
    start = lower.find("bearer")
    if start >= 0:
        i, n = start + len("bearer"), len(text)
        while i < n:
            while i < n and text[i] in " ,\t":
                i += 1
            name_start = i
            while i < n and text[i] not in "= ,\t":
                i += 1
            name = text[name_start:i].strip().lower()
            while i < n and text[i] in " \t":
                i += 1
            if i >= n or text[i] != "=":
                if name:  # the next scheme's name: the Bearer challenge ends here
                    break
                continue
            i += 1
            while i < n and text[i] in " \t":
                i += 1
            if i < n and text[i] == '"':
                i += 1
                value = []
                while i < n and text[i] != '"':
                    if text[i] == "\\" and i + 1 < n:
                        i += 1
                    value.append(text[i])
                    i += 1
                i += 1
                params.setdefault(name, "".join(value))
            else:
                value_start = i
                while i < n and text[i] not in " ,\t":
                    i += 1
                params.setdefault(name, text[value_start:i])
    scope = params.get("scope")
    scopes = tuple(s for s in scope.split() if SCOPE_TOKEN.fullmatch(s)) if scope is not None else None
    metadata = params.get("resource_metadata")
    if metadata is not None and url_problem(metadata, allow_loopback_http=True) is not None:
        metadata = None
    return Challenge(status, metadata, scopes, params.get("error"))


def probe(url: str, deadline: float, session=None) -> Challenge | None:
    """POST an MCP initialize without a token: the challenge of a 401 or 403, else None."""
    session = _session(session)
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json",
               "MCP-Protocol-Version": MCP_PROTOCOL_VERSION}
    answer = send(session, "POST", url, deadline, MAX_DOCUMENT_BYTES, data=json.dumps(INITIALIZE), headers=headers)
    if answer.status_code in (401, 403):
        return parse_challenge(answer.status_code, answer.headers.get("WWW-Authenticate"))
    return None


def protected_resource_urls(url: str, challenge: Challenge | None) -> list[str]:
    """Where to look for the protected-resource metadata, in the specification's order."""
    if challenge is not None and challenge.resource_metadata:
        return [challenge.resource_metadata]  # the server said where: nothing else is asked
    parts = urlsplit(url)
    root = f"{parts.scheme}://{parts.netloc}/.well-known/oauth-protected-resource"
    path = parts.path.rstrip("/")
    return [root + path, root] if path else [root]


def authorization_server_urls(issuer: str) -> list[str]:
    """RFC 8414 and OpenID Connect well-known URLs for `issuer`, in the MCP specification's order."""
    parts = urlsplit(issuer)
    base = f"{parts.scheme}://{parts.netloc}"
    path = parts.path.rstrip("/")
    if not path:
        return [f"{base}/.well-known/oauth-authorization-server", f"{base}/.well-known/openid-configuration"]
    return [
        f"{base}/.well-known/oauth-authorization-server{path}",
        f"{base}/.well-known/openid-configuration{path}",
        f"{base}{path}/.well-known/openid-configuration",
    ]


def resource_matches(resource: str, url: str) -> bool:
    """Whether the metadata's `resource` covers the server's URL: the same origin, and a
    path that is the URL's path or a parent of it (RFC 9728 §3.3, RFC 8707 §2)."""
    try:
        given, wanted = urlsplit(resource), urlsplit(url)
        same_origin = (given.scheme.lower(), given.hostname, given.port) == (wanted.scheme.lower(), wanted.hostname, wanted.port)
    except ValueError:
        return False
    if not same_origin or given.fragment:
        return False
    prefix, path = given.path.rstrip("/"), wanted.path.rstrip("/")
    return path == prefix or path.startswith(prefix + "/")


def discover_server(url: str, deadline: float, challenge: Challenge | None = None, session=None,
                    probe_first: bool = True) -> McpServer:
    """Everything needed to authorize for the MCP server at `url` (canonical_url'd)."""
    session = _session(session)
    ends = time.monotonic() + deadline
    if challenge is None and probe_first:
        challenge = probe(url, _left(ends, deadline, url), session)
    sources: list[str] = []
    metadata = None
    for where in protected_resource_urls(url, challenge):
        metadata = _get_json(session, where, _left(ends, deadline, url))
        if metadata is not None:
            sources.append(where)
            break
    if metadata is None:
        if challenge is not None and challenge.resource_metadata:
            raise NetworkError(
                f"the protected-resource metadata {challenge.resource_metadata} named by {_host(url)} could not be read",
                hint="Check the server's URL, or ask its operator.",
            )
        return _backcompat(url, challenge, session, ends, deadline)
    resource, issuer = _check_resource_metadata(metadata, url, sources[0])
    document, source = _authorization_server_metadata(session, issuer, ends, deadline, url)
    sources.append(source)
    prm_scopes = _scope_list(metadata.get("scopes_supported"), f"the metadata at {sources[0]}")
    return _facts(url, resource, issuer, document, source, challenge, prm_scopes, tuple(sources), MCP_PROTOCOL_VERSION)


def _check_resource_metadata(metadata: dict, url: str, source: str) -> tuple[str, str]:
    resource = metadata.get("resource")
    if not isinstance(resource, str) or url_problem(resource, allow_loopback_http=True) is not None:
        raise NetworkError(f"the protected-resource metadata at {source} has no usable resource", hint="Ask the server's operator.")
    if not resource_matches(resource, url):
        # RFC 9728 §3.3: metadata for another resource may be an attacker's; never authorize with it.
        raise NetworkError(
            f"the protected-resource metadata at {source} is for {shown(resource)}, not {shown(url)}; nothing was authorized",
            hint="Check the server's URL; if the server is yours, fix the resource in its metadata.",
        )
    servers = metadata.get("authorization_servers")
    if not isinstance(servers, list) or not servers or not isinstance(servers[0], str):
        raise NetworkError(f"the protected-resource metadata at {source} names no authorization server", hint="Ask the server's operator.")
    issuer = servers[0]
    problem = url_problem(issuer, allow_loopback_http=True)
    if problem:
        raise NetworkError(f"the protected-resource metadata at {source} names an authorization server that {problem}")
    return resource, issuer


def _authorization_server_metadata(session, issuer: str, ends: float, deadline: float, url: str) -> tuple[dict, str]:
    tried = []
    for where in authorization_server_urls(issuer):
        document = _get_json(session, where, _left(ends, deadline, url))
        if document is not None:
            return document, where
        tried.append(where)
    raise NetworkError(
        f"no authorization server metadata for {issuer} (tried {', '.join(tried)})",
        hint="The MCP server names an authorization server that publishes no metadata; ask its operator.",
    )


def _backcompat(url: str, challenge: Challenge | None, session, ends: float, deadline: float) -> McpServer:
    """The 2025-03-26 revision: the server's origin is the authorization server."""
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    source = f"{origin}/.well-known/oauth-authorization-server"
    document = _get_json(session, source, _left(ends, deadline, url))
    challenged = challenge.scopes if challenge is not None else None
    if document is not None:
        issuer = document.get("issuer")
        # That revision has the metadata at the origin, for an issuer that may carry a path.
        same = isinstance(issuer, str) and url_problem(issuer, allow_loopback_http=True) is None and (
            urlsplit(issuer).scheme, urlsplit(issuer).netloc.lower()) == (parts.scheme, parts.netloc.lower())
        if not same:
            raise NetworkError(f"the metadata at {source} names issuer {shown(issuer)}, which is not at {origin}")
        return _facts(url, url, issuer, document, source, challenge, None, (source,), "2025-03-26", strict=False)
    # No metadata at all: the revision's default endpoints, and PKCE S256 (required for every client).
    scopes = tuple(challenged or ())
    return McpServer(
        url=url, resource=url, issuer=origin,
        endpoints={"authorization_url": f"{origin}/authorize", "token_url": f"{origin}/token"},
        registration_endpoint=f"{origin}/register", cimd_supported=False,
        auth_methods=("client_secret_basic", "client_secret_post", "none"),
        grant_types=("authorization_code", "refresh_token"), scopes=scopes,
        scope_sources={s: "named by the server's 401 challenge" for s in scopes},
        sources=(), revision="2025-03-26",
    )


def _facts(url: str, resource: str, issuer: str, document: dict, source: str, challenge: Challenge | None,
           prm_scopes: list[str] | None, sources: tuple[str, ...], revision: str, strict: bool = True) -> McpServer:
    found = check_document(document, issuer, source)  # issuer exact, endpoints https (or loopback http)
    methods = document.get("code_challenge_methods_supported")
    if strict and (not isinstance(methods, list) or "S256" not in methods):
        # MCP authorization, "Authorization Code Protection": absent means the server may not do PKCE.
        raise NetworkError(
            f"the authorization server {issuer} does not list S256 in code_challenge_methods_supported "
            f"({source}); MCP requires PKCE, so nothing was authorized",
            hint="Ask the authorization server's operator to advertise PKCE (S256).",
        )
    if not strict and isinstance(methods, list) and "S256" not in methods:
        raise NetworkError(f"the authorization server {issuer} does not support PKCE S256 ({source})")
    registration = document.get("registration_endpoint")
    if registration is not None and url_problem(registration, allow_loopback_http=urlsplit(issuer).scheme == "http"):
        registration = None
    as_scopes = _scope_list(document.get("scopes_supported"), f"the metadata at {source}") or []
    scopes, scope_sources = _choose_scopes(challenge, prm_scopes, as_scopes)
    return McpServer(
        url=url, resource=resource, issuer=issuer, endpoints=found.endpoints,
        registration_endpoint=registration,
        cimd_supported=document.get("client_id_metadata_document_supported") is True,
        auth_methods=_strings(document.get("token_endpoint_auth_methods_supported"), ("client_secret_basic",)),
        grant_types=_strings(document.get("grant_types_supported"), ("authorization_code", "implicit")),
        scopes=scopes, scope_sources=scope_sources, iss_parameter=found.iss_parameter, sources=sources, revision=revision,
    )


def _choose_scopes(challenge: Challenge | None, prm_scopes: list[str] | None, as_scopes: list[str]):
    """MCP scope selection: the challenge's scope, else the resource's scopes_supported, else none;
    offline_access only where the authorization server lists it (and then asked for: we keep refresh tokens)."""
    if challenge is not None and challenge.scopes:
        chosen, why = list(challenge.scopes), "named by the server's 401 challenge"
    elif prm_scopes:
        chosen, why = list(prm_scopes), "listed in the server's scopes_supported"
    else:
        chosen, why = [], ""
    sources = {s: why for s in chosen}
    if "offline_access" in as_scopes:
        if chosen and "offline_access" not in chosen:
            chosen.append("offline_access")
            sources["offline_access"] = "a refresh token (the authorization server lists offline_access)"
    else:
        chosen = [s for s in chosen if s != "offline_access"]
    return tuple(dict.fromkeys(chosen)), sources


def _scope_list(value, where: str) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > 500 or not all(isinstance(s, str) and SCOPE_TOKEN.fullmatch(s) for s in value):
        raise NetworkError(f"{where} has a scopes_supported that is not a list of scopes", hint="Ask the server's operator.")
    return list(dict.fromkeys(value))


def _strings(value, default: tuple[str, ...]) -> tuple[str, ...]:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return default


def _get_json(session, url: str, deadline: float) -> dict | None:
    """The JSON object at `url`, or None when there is none (an HTTP error, not JSON)."""
    answer = send(session, "GET", url, deadline, MAX_DOCUMENT_BYTES, headers={"Accept": "application/json",
                                                                            "MCP-Protocol-Version": MCP_PROTOCOL_VERSION})
    if answer.status_code != 200:
        return None
    try:
        document = json.loads(answer.content)
    except (ValueError, RecursionError):
        return None
    return document if isinstance(document, dict) else None


def _left(ends: float, deadline: float, url: str) -> float:
    left = ends - time.monotonic()
    if left <= 0:
        raise NetworkError(
            f"{_host(url)} and its authorization server did not complete their answers within {deadline:g} seconds",
            hint=f"Check your connection and try again ({DEADLINE_ENV} sets the limit).",
        )
    return left


def _session(session):
    if session is None:
        session = requests.Session()
        session.trust_env = True
    session.headers.setdefault("User-Agent", USER_AGENT)
    return session


def _host(url: str) -> str:
    return urlsplit(url).netloc or url
