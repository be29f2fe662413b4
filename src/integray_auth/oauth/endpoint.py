"""Talking to the provider's token endpoint: requests sends, oauthlib builds
the request bodies and parses the answers.

TLS is always verified; plain http is only ever used for a loopback host,
which the registry enforces. Every failure becomes an error with the
provider's own words and a hint, never a traceback.

Every HTTP exchange of the tool goes through `send()`: one deadline for the
whole exchange (connect, request, headers, body) and a cap on the answer's
size, so a hostile or broken server can neither hold a command nor fill its
memory.
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import requests
from oauthlib.common import urlencode
from oauthlib.oauth2 import WebApplicationClient
from oauthlib.oauth2.rfc6749.errors import OAuth2Error

from .. import __version__
from ..errors import AuthorizationFailed, NetworkError, UsageError
from ..registry.model import Provider
from ..tokens import TokenSet, bearer_header
from .client_assertion import ASSERTION_TYPE, audience, client_assertion

USER_AGENT = f"integray-auth/{__version__}"

DEADLINE_ENV = "INTEGRAY_AUTH_HTTP_TIMEOUT"
DEFAULT_DEADLINE = 60.0  # seconds for one whole exchange (docs/commands.md, "Environment variables")
MAX_DEADLINE = 3600.0
# Connecting may take this long, at most the deadline. Reading has no limit of
# its own: each read waits at most until the deadline, so a stall is reported
# as what it is, no complete answer in time, not as a broken connection.
CONNECT_TIMEOUT = 10.0
# Token, revocation and userinfo answers are a few KB (a large id_token is ~10 KB).
MAX_ANSWER_BYTES = 256 * 1024

HINTS = {
    "invalid_grant": "The code or refresh token was refused (expired, used, or revoked). Run 'integray-auth authorize NAME' again.",
    "invalid_client": "The provider does not accept this client id or secret. Check --client-id / 'integray-auth client set PROVIDER'.",
    "unauthorized_client": "This client may not use this flow. Check the app's settings at the provider.",
    "invalid_scope": "The provider refused a scope. Check the connectors' scopes with 'integray-auth providers show PROVIDER'.",
    "access_denied": "Consent was declined. Run the command again and approve the request.",
    "invalid_request": "The provider rejected the request. Check the client id and the registered redirect URI.",
    "temporarily_unavailable": "The provider is busy or down for a moment. Try again later.",
    "server_error": "The provider had an internal error. Try again later.",
}


DEVICE_CODE_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"  # RFC 8628 §3.4


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    client_secret: str | None = None
    # PEM, for private_key_jwt (RFC 7523): from the keyring or a 0600 file (usecases/clients.py).
    private_key: str | None = None
    key_id: str | None = None  # the JWT header's `kid`, where the provider wants one

    def __repr__(self) -> str:
        return (
            f"ClientCredentials(client_id={self.client_id!r}, client_secret={'***' if self.client_secret else None}, "
            f"private_key={'***' if self.private_key else None})"
        )


def request_deadline(environ) -> float:
    """The whole-exchange deadline in seconds: INTEGRAY_AUTH_HTTP_TIMEOUT, else 60."""
    raw = environ.get(DEADLINE_ENV)
    if raw is None or raw.strip() == "":
        return DEFAULT_DEADLINE
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0 < value <= MAX_DEADLINE:  # also refuses nan and inf
        raise UsageError(
            f"{DEADLINE_ENV} must be a number of seconds above 0 and at most {int(MAX_DEADLINE)}, not {_shown(raw)}",
            hint=f"Fix or unset {DEADLINE_ENV} (default {int(DEFAULT_DEADLINE)}).",
        )
    return value


class Answer:
    """An HTTP answer read whole (and small): status, headers, body."""
    __slots__ = ("status_code", "headers", "content")

    def __init__(self, status_code: int, headers, content: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = content

    def json(self) -> Any:
        """The body as JSON; ValueError when it is not JSON."""
        try:
            return json.loads(self.content)
        except RecursionError:  # "[[[[..." nested deeper than the parser goes
            raise ValueError("JSON nested too deeply") from None


class _TooLarge(Exception):
    pass


class _Late(Exception):
    """The worker noticed the deadline has passed (its caller has left already)."""
def send(session, method: str, url: str, deadline: float, max_bytes: int = MAX_ANSWER_BYTES, **kwargs) -> Answer:
    """One HTTP exchange, all of it within `deadline` seconds and at most
    `max_bytes` of answer; every failure is a NetworkError naming the host.

    requests' timeout applies to each read, so a server sending one byte
    every few seconds would hold a call forever, and no read can be
    interrupted portably. The exchange therefore runs in a daemon thread that
    the caller stops waiting for at the deadline. Left behind, the thread
    drops the answer at the next chunk it reads, or dies with the process
    (which never waits for a daemon thread); its result reaches nobody.
    """
    host = _host(url)
    ends = time.monotonic() + deadline
    timeout = (min(CONNECT_TIMEOUT, deadline), deadline)
    outcome: dict[str, Any] = {}

    def exchange() -> None:
        try:
            outcome["answer"] = _read(session, method, url, timeout, ends, max_bytes, kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            # A read that timed out at the deadline surfaces as whatever requests
            # wraps it in (ConnectionError, ChunkedEncodingError...): past the
            # deadline, any failure of the connection is the deadline's.
            late = isinstance(exc, OSError) and time.monotonic() >= ends
            outcome["error"] = _Late() if late else exc

    worker = threading.Thread(target=exchange, name="integray-auth-http", daemon=True)
    worker.start()
    worker.join(deadline)
    if worker.is_alive() or isinstance(outcome.get("error"), _Late):
        raise NetworkError(
            f"{host} did not complete its answer within {deadline:g} seconds",
            hint=f"Check your connection and try again ({DEADLINE_ENV} sets the limit, in seconds).",
        )
    if "answer" in outcome:
        return outcome["answer"]
    raise _network_error(outcome["error"], host, max_bytes) from None


def _read(session, method: str, url: str, timeout, ends: float, max_bytes: int, kwargs) -> Answer:
    # A CA bundle (VAULT_CACERT) may narrow verification; nothing turns it off.
    verify = kwargs.pop("verify", True)
    verify = verify if isinstance(verify, str) and verify else True
    response = session.request(method, url, timeout=timeout, stream=True, allow_redirects=False, verify=verify, **kwargs)
    try:
        length = response.headers.get("Content-Length", "")
        if length.strip().isdigit() and int(length) > max_bytes:
            raise _TooLarge  # refused before reading a byte of it
        body = bytearray()
        # Counted after decoding: a small gzip body cannot unpack into a large one.
        for chunk in response.iter_content(16 * 1024):
            body += chunk
            if len(body) > max_bytes:
                raise _TooLarge
            if time.monotonic() > ends:
                raise _Late
        return Answer(response.status_code, response.headers, bytes(body))
    finally:
        response.close()


def _network_error(exc: BaseException, host: str, max_bytes: int) -> BaseException:
    if isinstance(exc, _TooLarge):
        return NetworkError(
            f"the answer of {host} is larger than {max_bytes // 1024} KB; integray-auth read no further",
            hint="The URL in the registry may be wrong, or the server is misbehaving.",
        )
    if isinstance(exc, requests.exceptions.SSLError):
        return NetworkError(
            f"TLS verification failed for {host}",
            hint="Check the system clock and any proxy that intercepts TLS (REQUESTS_CA_BUNDLE names a CA bundle).",
        )
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return NetworkError(
            f"cannot connect to {host} within {CONNECT_TIMEOUT:g} seconds",
            hint="Check your connection, proxy and the provider's token URL.",
        )
    if isinstance(exc, requests.exceptions.Timeout):  # before the deadline: not from a read of ours
        return NetworkError(f"{host} did not answer in time", hint="Check your connection and try again.")
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        # requests' name for any answer cut short: the connection closed, or
        # the body broke its framing (chunked or Content-Length).
        return NetworkError(
            f"{host} broke off its answer before it was complete",
            hint="Check your connection and any proxy, and try again.",
        )
    if isinstance(exc, requests.exceptions.ConnectionError):
        return NetworkError(f"cannot connect to {host}", hint="Check your connection, proxy and the provider's token URL.")
    if isinstance(exc, requests.exceptions.RequestException):
        return NetworkError(f"request to {host} failed ({type(exc).__name__})")
    if isinstance(exc, OSError):
        # Not a RequestException: requests raises a bare OSError, before connecting,
        # when REQUESTS_CA_BUNDLE (or CURL_CA_BUNDLE) names no file.
        return NetworkError(f"cannot send the request to {host}: {exc}", hint="Check REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE.")
    return exc  # a bug of ours, or Ctrl-C: not a network problem


class TokenEndpoint:
    def __init__(self, provider: Provider, credentials: ClientCredentials, deadline: float, session=None) -> None:
        self.provider = provider
        self.credentials = credentials
        self.deadline = deadline  # seconds for each whole exchange: request_deadline()
        self.session = session or requests.Session()
        self.session.headers.setdefault("User-Agent", USER_AGENT)
        self.client = WebApplicationClient(credentials.client_id)

    def exchange_code(self, code: str, redirect_uri: str, code_verifier: str | None, requested: list[str], now: datetime) -> TokenSet:
        # §4.1.3: redirect_uri must repeat the authorization request's exactly, port included.
        body = self.client.prepare_request_body(
            code=code,
            redirect_uri=redirect_uri,
            code_verifier=code_verifier,
            include_client_id=self.provider.client_auth != "client_secret_basic",
            **self._resource(),
            **self._secret_in_body(),
            **self.provider.code_exchange_params,  # the registry's extras (Shopify expiring=1)
        )
        return self._tokens(self._post(self.provider.token_url, body), requested, now)

    def refresh(self, refresh_token: str, requested: list[str], now: datetime, narrow_to: list[str] | None = None) -> TokenSet:
        """`requested` is what an answer without `scope` means; `narrow_to`, when
        given, is sent as `scope`: a subset of the grant (RFC 6749 §6)."""
        # Unlike prepare_request_body, the refresh body only carries client_id
        # when it is passed explicitly; a public client must send it (§3.2.1).
        client = {} if self.provider.client_auth == "client_secret_basic" else {"client_id": self.credentials.client_id}
        if narrow_to is not None:
            client["scope"] = self.provider.scope_separator.join(narrow_to)
        # RFC 8707 §2.2: the resource again on every refresh (servers refuse one without it).
        body = self.client.prepare_refresh_body(
            refresh_token=refresh_token, **client, **self._resource(), **self._secret_in_body(), **self.provider.refresh_params
        )
        tokens = self._tokens(self._post(self.provider.token_url, body), requested, now)
        if tokens.refresh_token is None:
            # Non-rotating providers omit it (RFC 6749 §6): keep the old one.
            tokens = tokens.copy(refresh_token=refresh_token)
        return tokens

    def client_credentials(self, scopes: list[str], now: datetime) -> TokenSet:
        """A token for the client itself (RFC 6749 §4.4); `scopes` are asked for
        and are what an answer without `scope` means."""
        params = [("grant_type", "client_credentials")]
        if scopes and self.provider.scope_parameter != "none":
            params.append((self.provider.scope_parameter, self.provider.scope_separator.join(scopes)))
        if self.provider.client_auth == "client_secret_post":
            params.append(("client_id", self.credentials.client_id))
        params.extend(self._resource().items())
        params.extend(self._secret_in_body().items())
        tokens = self._tokens(self._post(self.provider.token_url, urlencode(params)), scopes, now)
        # §4.4.3: no refresh token here; one a server sends anyway is not kept,
        # the client re-mints with its own credentials.
        return tokens.copy(refresh_token=None)

    def device_authorization(self, scopes: list[str]) -> tuple[Answer, Any]:
        """RFC 8628 §3.1: ask the device endpoint for a device code; the answer
        and its JSON (None when it is not JSON), for grants/device_code.py to check.
        A refusal with an OAuth error is AuthorizationFailed, like the token endpoint's."""
        # Some providers authenticate here differently from the token endpoint
        # (Zoom: HTTP Basic even for a public PKCE client).
        method = self.provider.device_auth or self.provider.client_auth
        params = []
        if method != "client_secret_basic":
            params.append(("client_id", self.credentials.client_id))
        if scopes and self.provider.scope_parameter != "none":
            params.append((self.provider.scope_parameter, self.provider.scope_separator.join(scopes)))
        params.extend(self._secret_in_body(method).items())
        response = self._post(self.provider.device_authorization_url, urlencode(params), method=method, url_field="device_authorization_url")
        return response, _json(response)

    def poll_device(self, device_code: str, requested: list[str], now: datetime, deadline: float) -> TokenSet:
        """RFC 8628 §3.4: one poll of the token endpoint, within `deadline` seconds.
        Pending, slow_down, access_denied and expired_token are AuthorizationFailed
        with that `error`, whether the provider answers 400 (the RFC) or 200 (GitHub)."""
        params = [("grant_type", DEVICE_CODE_GRANT_TYPE), ("device_code", device_code)]
        if self.provider.client_auth != "client_secret_basic":
            params.append(("client_id", self.credentials.client_id))
        params.extend(self._secret_in_body().items())
        response = self._post(self.provider.token_url, urlencode(params), deadline=deadline)
        return self._tokens(response, requested, now)

    def revoke(self, token: str, hint: str = "refresh_token") -> None:
        """RFC 7009 revocation; the caller decides whether failure matters."""
        if not self.provider.revocation_url:
            return

        # Some providers authenticate revocation differently from the token
        # endpoint (Zoom: HTTP Basic even for a public PKCE client).
        method = self.provider.revocation_auth or self.provider.client_auth
        params = [("token", token), ("token_type_hint", hint)]
        if method != "client_secret_basic":
            params.append(("client_id", self.credentials.client_id))
        params.extend(self._secret_in_body(method).items())
        self._post(self.provider.revocation_url, urlencode(params), expect_json=False, method=method)

    def _resource(self) -> dict[str, str]:
        """RFC 8707: the resource (an MCP server) the tokens are for, where the registry names one."""
        return {"resource": self.provider.resource} if self.provider.resource else {}

    def _secret_in_body(self, method: str | None = None) -> dict[str, str]:
        if (method or self.provider.client_auth) == "client_secret_post" and self.credentials.client_secret:
            return {"client_secret": self.credentials.client_secret}
        return {}

    def _post(
        self, url: str, body: str, expect_json: bool = True, method: str | None = None, deadline: float | None = None,
        url_field: str = "token URL",  # named in the hint of an answer that is no OAuth error
    ) -> Any:
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        auth = None
        encode_as_json = self.provider.token_request_encoding == "json"
        if (method or self.provider.client_auth) == "client_secret_basic" and self.credentials.client_secret:
            # RFC 6749 §2.3.1: form-urlencode each part before Basic encoding.
            auth = (quote(self.credentials.client_id, safe=""), quote(self.credentials.client_secret, safe=""))
        if (method or self.provider.client_auth) == "private_key_jwt":
            body = self._with_assertion(body)
        if encode_as_json:
            # The same fields as one JSON object of strings (Notion documents only this form).
            body = json.dumps(dict(parse_qsl(body, keep_blank_values=True)))
            headers["Content-Type"] = "application/json"
        response = send(self.session, "POST", url, self.deadline if deadline is None else deadline, data=body, headers=headers, auth=auth)
        if response.status_code >= 400:
            self._raise_for_error(response, _host(url), url_field)
        return response if expect_json else None

    def _with_assertion(self, body: str) -> str:
        """`body` with the client's signed JWT (RFC 7523 §2.2); aud is the issuer,
        else the token endpoint (client_assertion.audience), one value for every endpoint."""
        if not self.credentials.private_key:
            raise UsageError(
                f"{self.provider.name} authenticates clients with private_key_jwt and no private key was found",
                hint=f"Run 'integray-auth client set {self.provider.id} --private-key-file PATH'.",
            )
        assertion = client_assertion(
            self.credentials.private_key, self.credentials.client_id, audience(self.provider), self.credentials.key_id
        )
        extra = urlencode([("client_assertion_type", ASSERTION_TYPE), ("client_assertion", assertion)])
        return f"{body}&{extra}" if body else extra

    def _raise_for_error(self, response, host: str, url_field: str = "token URL") -> None:
        data = _json(response)
        if isinstance(data, dict) and isinstance(data.get("error"), str):
            error = data["error"]
            description = data.get("error_description")
            message = f"{self.provider.name} refused: {error}" + (f" ({description})" if description else "")
            raise AuthorizationFailed(message, hint=HINTS.get(error), error=error)
        raise NetworkError(
            f"{host} answered HTTP {response.status_code} {_content_type(response)}",
            hint=f"The provider may be down, or the {url_field} in the registry is wrong.",
        )

    def _tokens(self, response, requested: list[str], now: datetime) -> TokenSet:
        data = _json(response)
        if not isinstance(data, dict):
            raise NetworkError(
                f"{_host(self.provider.token_url)} answered HTTP {response.status_code} "
                f"with {_content_type(response)}, not a JSON token response",
                hint="The token URL in the registry may be wrong.",
            )
        separator = self.provider.scope_separator
        if self.provider.token_path and isinstance(data.get(self.provider.token_path), dict) and "error" not in data:
            data = data[self.provider.token_path]
        if self.provider.scope_parameter == "none":
            requested = []  # nothing was asked for, so nothing can be "missing"
        if "error" not in data:
            if not isinstance(data.get("access_token"), str) or not data["access_token"]:
                # Checked before oauthlib, which calls this a refusal ("missing_token"): it is a bad answer.
                raise NetworkError(f"the token response of {self.provider.name} has no access_token")
            self._check_fields(data)
        try:
            self.client.parse_request_body_response(json.dumps(data), scope=requested)
        except Warning as changed:
            # oauthlib raises when the granted scope differs from the
            # requested one; that is information for the user, not a failure.
            del changed
        except OAuth2Error as exc:
            message = f"{self.provider.name} refused: {exc.error}" + (f" ({exc.description})" if exc.description else "")
            raise AuthorizationFailed(message, hint=HINTS.get(exc.error), error=exc.error) from None
        except (ValueError, TypeError, AttributeError, OverflowError) as exc:
            # e.g. "scope": 5 (oauthlib calls .strip() on it) or "expires_in": 1e400 (int(inf)).
            raise NetworkError(f"cannot read the token response ({type(exc).__name__})") from None
        tokens = TokenSet.from_response(data, now=now, requested_scope=requested, separator=separator)
        return checked_tokens(tokens.copy(token_type=self._token_type(data.get("token_type"))), self.provider.name)

    def _check_fields(self, data: dict) -> None:
        """Fields oauthlib would trip over, named (before oauthlib, whose errors name none)."""
        expires_in = data.get("expires_in")
        if expires_in is not None:
            # RFC 6749 §5.1: a number of seconds; some providers send it as a string.
            try:
                seconds = float(expires_in) if isinstance(expires_in, (int, float, str)) and not isinstance(expires_in, bool) else math.nan
            except ValueError:
                seconds = math.nan
            if not math.isfinite(seconds):
                raise NetworkError(
                    f"cannot read the token response of {self.provider.name}: "
                    f"field 'expires_in' is {_shown(expires_in)}, not a number of seconds"
                )
        scope = data.get("scope")
        if scope is not None and not isinstance(scope, (str, list)):
            raise NetworkError(
                f"cannot read the token response of {self.provider.name}: field 'scope' is {_shown(scope)}, not a string"
            )

    def _token_type(self, token_type: Any) -> str:
        """Bearer (RFC 6750, any case) or a type the registry declares for the provider.

        A token of another type (RFC 6749 §7.1: e.g. "mac") needs a proof the
        tool cannot give; handing it out as Bearer would fail, or worse."""
        if token_type is None:
            return "Bearer"  # oauthlib's default too: some providers omit it
        if isinstance(token_type, str):
            if token_type.casefold() == "bearer":
                return "Bearer"
            for declared in self.provider.token_types:
                if token_type.casefold() == declared.casefold():
                    return declared
        accepted = ", ".join(["Bearer", *self.provider.token_types])
        raise NetworkError(
            f"the token response of {self.provider.name} has token_type {_shown(token_type)}, "
            f"which integray-auth cannot use (accepted: {accepted}); nothing was stored",
            hint=f"Declare it in the registry's token_types for '{self.provider.id}' only if it is used like a Bearer token.",
        )


def checked_tokens(tokens: TokenSet, provider_name: str) -> TokenSet:
    """`tokens` as a provider issued them, unless a value breaks RFC 6749's
    character rules: then a bad answer (exit 11) that names the field, never its value."""
    problem = tokens.problem()
    if problem is not None:
        raise NetworkError(
            f"the token response of {provider_name} has {problem}; nothing was stored",
            hint="The provider or the token URL in the registry is misbehaving; integray-auth will not pass such a token on.",
        )
    return tokens


def fetch_userinfo(provider: Provider, access_token: str, deadline: float, session=None) -> dict[str, Any]:
    """GET the provider's userinfo_url with the new access token; its JSON object."""
    session = session or requests.Session()
    host = _host(provider.userinfo_url)
    headers = {"Authorization": bearer_header(access_token, provider.name), "Accept": "application/json", "User-Agent": USER_AGENT}
    response = send(session, "GET", provider.userinfo_url, deadline, headers=headers)
    data = _json(response) if response.status_code < 400 else None
    if not isinstance(data, dict):
        raise NetworkError(f"{host} answered HTTP {response.status_code} {_content_type(response)} for the user information")
    return data


def _json(response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _shown(value: Any, limit: int = 40) -> str:
    """A value from the server, quoted, escaped and short, for a message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _content_type(response) -> str:
    return (response.headers.get("Content-Type") or "no content type").split(";")[0]


def _host(url: str) -> str:
    return urlsplit(url).netloc or url
