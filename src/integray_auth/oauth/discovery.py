"""Authorization server metadata: where to find it, fetching it, and what of
it may be trusted.

RFC 8414 (`/.well-known/oauth-authorization-server`, inserted between host
and path) first, then OpenID Connect Discovery 1.0
(`/.well-known/openid-configuration`, appended to the issuer). Everything in
the document is hostile until checked: it must be a JSON object, name
exactly the issuer asked for (RFC 8414 §3.3, the mix-up defence), and every
endpoint must be https (http only on a loopback issuer, for local servers),
without a user name or password in it.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any
from urllib.parse import urlsplit

import requests

from ..errors import NetworkError, UsageError
from ..registry.model import LOOPBACK_HOSTS
from .endpoint import DEADLINE_ENV, USER_AGENT, send

MAX_DOCUMENT_BYTES = 256 * 1024  # real documents are 2-10 KB (Google, Microsoft, Okta, Keycloak)
MAX_URL_LENGTH = 2048
MAX_SCOPES = 500
# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,200}")

# Document field -> providers.toml field.
ENDPOINTS = {
    "authorization_endpoint": "authorization_url",
    "token_endpoint": "token_url",
    "revocation_endpoint": "revocation_url",
    "device_authorization_endpoint": "device_authorization_url",
    "userinfo_endpoint": "userinfo_url",  # OpenID Connect Discovery §3
}
REQUIRED_ENDPOINTS = ("authorization_endpoint", "token_endpoint")


class Discovered:
    """The checked facts of one metadata document, ready for the registry."""

    __slots__ = ("source_url", "issuer", "endpoints", "pkce", "pkce_note", "iss_parameter", "scopes", "docs_url")

    def __init__(self, source_url: str, issuer: str, endpoints: dict[str, str], pkce: str, pkce_note: str | None,
                 iss_parameter: bool, scopes: list[str], docs_url: str | None) -> None:
        self.source_url = source_url  # where the document was read
        self.issuer = issuer
        self.endpoints = endpoints  # providers.toml field -> URL
        self.pkce = pkce
        self.pkce_note = pkce_note
        self.iss_parameter = iss_parameter
        self.scopes = scopes
        self.docs_url = docs_url


def shown(value: Any, limit: int = 120) -> str:
    """Outside text, quoted and escaped for a terminal (repr escapes control characters)."""
    text = value if isinstance(value, str) else str(type(value).__name__)
    return repr(text[:limit] + ("..." if len(text) > limit else ""))


def check_issuer_argument(issuer: str) -> str:
    """The --issuer value, or a UsageError saying why it cannot be an issuer (RFC 8414 §2)."""
    problem = url_problem(issuer, allow_loopback_http=True)
    if problem is None:
        parts = urlsplit(issuer)
        if parts.query or parts.fragment or issuer.endswith(("?", "#")):
            problem = "has a query or fragment (an issuer has neither, RFC 8414 §2)"
    if problem:
        what = shown(issuer) if "user name" not in problem else "(not shown)"  # never echo a password
        raise UsageError(f"--issuer {what} {problem}", hint="Give the provider's issuer URL, e.g. --issuer https://login.example.com")
    return issuer


def url_problem(url: Any, allow_loopback_http: bool) -> str | None:
    """Why `url` may not be used as an endpoint, or None."""
    if not isinstance(url, str):
        return "is not a string"
    if not url or len(url) > MAX_URL_LENGTH:
        return f"is empty or longer than {MAX_URL_LENGTH} characters"
    if any(not "\x21" <= c <= "\x7e" for c in url):
        return "has spaces, control or non-ASCII characters"
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return "is not a URL"
    if "@" in parts.netloc:
        return "carries a user name or password"
    if parts.fragment or url.endswith("#"):
        return "has a fragment (RFC 6749 §3.1)"
    if parts.scheme == "https" and host:
        return None
    if parts.scheme == "http" and host in LOOPBACK_HOSTS and allow_loopback_http:
        return None
    if parts.scheme == "http" and host in LOOPBACK_HOSTS:
        return "is http:// on a loopback host, but the issuer is not a local server"
    return "must be https:// (http:// only for a loopback host)"


def well_known_urls(issuer: str) -> list[str]:
    """RFC 8414 §3.1 first, then OpenID Connect Discovery §4."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")  # §3.1: a terminating "/" is removed before inserting
    rfc8414 = f"{parts.scheme}://{parts.netloc}/.well-known/oauth-authorization-server{path}"
    oidc = issuer.rstrip("/") + "/.well-known/openid-configuration"
    return [rfc8414, oidc]


def discover(issuer: str, deadline: float, session=None) -> Discovered:
    """Fetch and check the issuer's metadata; NetworkError when none can be trusted.

    The second URL is tried only when the first has no document (an HTTP
    error, or a body that is not a JSON object, e.g. a web app's HTML page);
    a document that is there but fails a check stops discovery: it is the
    server's word, and a wrong issuer in it is exactly what the check is for.
    `deadline` (seconds) bounds both requests together.
    """
    session = session or requests.Session()
    session.headers.setdefault("User-Agent", USER_AGENT)
    ends = time.monotonic() + deadline
    tried: list[str] = []
    for url in well_known_urls(issuer):
        left = ends - time.monotonic()
        if left <= 0:
            raise NetworkError(
                f"{_host(issuer)} did not complete its answers within {deadline:g} seconds",
                hint=f"Check your connection and try again ({DEADLINE_ENV} sets the limit).",
            )
        try:
            answer = send(session, "GET", url, left, MAX_DOCUMENT_BYTES, headers={"Accept": "application/json"})
        except NetworkError:
            if time.monotonic() < ends - 0.1:
                raise
            raise NetworkError(
                f"{_host(issuer)} did not complete its answers within {deadline:g} seconds",
                hint=f"Check your connection and try again ({DEADLINE_ENV} sets the limit).",
            ) from None
        if answer.status_code != 200:
            tried.append(f"{url} answered HTTP {answer.status_code}")
            continue
        try:
            document = json.loads(answer.content)
        except RecursionError:  # "[[[[..." nested deeper than the parser goes
            tried.append(f"{url} answered JSON nested too deeply")
            continue
        except ValueError:  # not JSON, not UTF-8, or an integer of 5,000 digits
            tried.append(f"{url} answered {_content_type(answer)}, not JSON")
            continue
        if not isinstance(document, dict):
            tried.append(f"{url} answered JSON that is not an object")
            continue
        return check_document(document, issuer, url)
    raise NetworkError(
        f"no authorization server metadata for {issuer}: " + "; ".join(tried),
        hint="Check the issuer URL (the provider's documentation names it).",
    )


def check_document(document: dict[str, Any], issuer: str, source_url: str) -> Discovered:
    """The facts integray-auth takes from a metadata document, each checked."""
    def bad(message: str) -> NetworkError:
        return NetworkError(f"the metadata at {source_url} {message}", hint="Nothing was written. Check the issuer URL, or ask the provider.")

    named = document.get("issuer")
    if named != issuer:
        # RFC 8414 §3.3: exactly equal, or the document is not this issuer's.
        if isinstance(named, str) and url_problem(named, allow_loopback_http=True) is None:
            raise NetworkError(
                f"the metadata at {source_url} names issuer {shown(named)}, not {shown(issuer)}",
                hint=f"If you trust it, run the command again with --issuer {named}",
            )
        if named is None:
            raise bad(f"has no issuer (it must name {shown(issuer)})")
        raise bad(f"names issuer {shown(named) if isinstance(named, str) else 'of type ' + type(named).__name__}, not {shown(issuer)}")
    loopback_ok = urlsplit(issuer).scheme == "http"  # a loopback issuer (checked before fetching)
    endpoints: dict[str, str] = {}
    for field, key in ENDPOINTS.items():
        if field not in document:
            if field in REQUIRED_ENDPOINTS:
                raise bad(f"has no {field}")
            continue
        problem = url_problem(document[field], allow_loopback_http=loopback_ok)
        if problem:
            shown_url = shown(document[field]) if problem != "carries a user name or password" else "(not shown)"
            raise bad(f"has a {field} {shown_url} that {problem}")
        endpoints[key] = document[field]

    response_types = document.get("response_types_supported")
    if response_types is not None and (not isinstance(response_types, list) or "code" not in response_types):
        raise bad("does not list the authorization code flow ('code') in response_types_supported")

    methods = document.get("code_challenge_methods_supported")
    if methods is None:
        pkce = "supported"
        pkce_note = (
            "The metadata does not list code_challenge_methods_supported (RFC 8414 reads that as no PKCE; "
            "OpenID Connect Discovery does not define it), so PKCE is 'supported': integray-auth sends S256, "
            "which a server without PKCE ignores. Set pkce = \"required\" if the provider documents it."
        )
    elif not isinstance(methods, list) or not all(isinstance(m, str) for m in methods):
        raise bad("has a code_challenge_methods_supported that is not a list of strings")
    elif "S256" in methods:
        pkce, pkce_note = "required", None
    else:
        pkce = "unsupported"
        pkce_note = f"The server lists PKCE methods {shown(', '.join(methods))} but not S256, the only one integray-auth uses."

    iss = document.get("authorization_response_iss_parameter_supported", False)
    if not isinstance(iss, bool):
        raise bad("has an authorization_response_iss_parameter_supported that is not true or false")

    scopes = document.get("scopes_supported", [])
    if not isinstance(scopes, list) or len(scopes) > MAX_SCOPES:
        raise bad(f"has a scopes_supported that is not a list of at most {MAX_SCOPES} scopes")
    for scope in scopes:
        if not isinstance(scope, str) or not SCOPE_TOKEN.fullmatch(scope):
            raise bad(f"lists {shown(scope)} in scopes_supported, which is not a scope (RFC 6749 §3.3)")

    docs = document.get("service_documentation")
    docs_url = docs if url_problem(docs, allow_loopback_http=loopback_ok) is None else None  # for people: dropped if odd
    return Discovered(source_url, issuer, endpoints, pkce, pkce_note, iss, list(dict.fromkeys(scopes)), docs_url)


def _content_type(answer) -> str:
    value = (answer.headers.get("Content-Type") or "no content type").split(";")[0].strip()
    return shown(value, 60) if not value.isprintable() else value[:60]


def _host(url: str) -> str:
    return urlsplit(url).netloc or url
