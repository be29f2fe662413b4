"""Talking to the provider's token endpoint: requests sends, oauthlib builds
the request bodies and parses the answers.

TLS is always verified; plain http is only ever used for a loopback host,
which the registry enforces. Every failure becomes an error with the
provider's own words and a hint, never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from .. import __version__
from ..errors import AuthorizationFailed, NetworkError
from ..registry import Provider
from ..tokens import TokenSet

TIMEOUT = (10, 30)  # connect, read (seconds)
USER_AGENT = f"integray-auth/{__version__}"

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


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    client_secret: str | None = None

    def __repr__(self) -> str:
        return f"ClientCredentials(client_id={self.client_id!r}, client_secret={'***' if self.client_secret else None})"


class TokenEndpoint:
    def __init__(self, provider: Provider, credentials: ClientCredentials, session=None) -> None:
        import requests
        from oauthlib.oauth2 import WebApplicationClient

        self.provider = provider
        self.credentials = credentials
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
            **self._secret_in_body(),
        )
        return self._tokens(self._post(self.provider.token_url, body), requested, now)

    def refresh(self, refresh_token: str, requested: list[str], now: datetime) -> TokenSet:
        # Unlike prepare_request_body, the refresh body only carries client_id
        # when it is passed explicitly; a public client must send it (§3.2.1).
        client = {} if self.provider.client_auth == "client_secret_basic" else {"client_id": self.credentials.client_id}
        body = self.client.prepare_refresh_body(refresh_token=refresh_token, **client, **self._secret_in_body())
        tokens = self._tokens(self._post(self.provider.token_url, body), requested, now)
        if tokens.refresh_token is None:
            # Non-rotating providers omit it (RFC 6749 §6): keep the old one.
            tokens = tokens.copy(refresh_token=refresh_token)
        return tokens

    def revoke(self, token: str, hint: str = "refresh_token") -> None:
        """RFC 7009 revocation; the caller decides whether failure matters."""
        if not self.provider.revocation_url:
            return
        from oauthlib.common import urlencode

        # Some providers authenticate revocation differently from the token
        # endpoint (Zoom: HTTP Basic even for a public PKCE client).
        method = self.provider.revocation_auth or self.provider.client_auth
        params = [("token", token), ("token_type_hint", hint)]
        if method != "client_secret_basic":
            params.append(("client_id", self.credentials.client_id))
        params.extend(self._secret_in_body(method).items())
        self._post(self.provider.revocation_url, urlencode(params), expect_json=False, method=method)

    def _secret_in_body(self, method: str | None = None) -> dict[str, str]:
        if (method or self.provider.client_auth) == "client_secret_post" and self.credentials.client_secret:
            return {"client_secret": self.credentials.client_secret}
        return {}

    def _post(self, url: str, body: str, expect_json: bool = True, method: str | None = None) -> Any:
        import requests

        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        auth = None
        if (method or self.provider.client_auth) == "client_secret_basic" and self.credentials.client_secret:
            # RFC 6749 §2.3.1: form-urlencode each part before Basic encoding.
            auth = (quote(self.credentials.client_id, safe=""), quote(self.credentials.client_secret, safe=""))
        host = _host(url)
        try:
            response = self.session.post(url, data=body, headers=headers, auth=auth, timeout=TIMEOUT, allow_redirects=False, verify=True)
        except requests.exceptions.SSLError:
            raise NetworkError(
                f"TLS verification failed for {host}",
                hint="Check the system clock and any proxy that intercepts TLS (REQUESTS_CA_BUNDLE names a CA bundle).",
            ) from None
        except requests.exceptions.Timeout:
            raise NetworkError(f"{host} did not answer in time", hint="Check your connection and try again.") from None
        except requests.exceptions.ConnectionError:
            raise NetworkError(f"cannot connect to {host}", hint="Check your connection, proxy and the provider's token URL.") from None
        except requests.exceptions.RequestException as exc:
            raise NetworkError(f"request to {host} failed ({type(exc).__name__})") from None
        except OSError as exc:
            # Not a RequestException: requests raises a bare OSError, before connecting,
            # when REQUESTS_CA_BUNDLE (or CURL_CA_BUNDLE) names no file.
            raise NetworkError(
                f"cannot send the request to {host}: {exc}",
                hint="Check REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE.",
            ) from None
        if not expect_json:
            if response.status_code >= 400:
                self._raise_for_error(response, host)
            return None
        if response.status_code >= 400:
            self._raise_for_error(response, host)
        return response

    def _raise_for_error(self, response, host: str) -> None:
        data = _json(response)
        if isinstance(data, dict) and isinstance(data.get("error"), str):
            error = data["error"]
            description = data.get("error_description")
            message = f"{self.provider.name} refused: {error}" + (f" ({description})" if description else "")
            raise AuthorizationFailed(message, hint=HINTS.get(error), error=error)
        raise NetworkError(
            f"{host} answered HTTP {response.status_code} {_content_type(response)}",
            hint="The provider may be down, or the token URL in the registry is wrong.",
        )

    def _tokens(self, response, requested: list[str], now: datetime) -> TokenSet:
        from oauthlib.oauth2.rfc6749.errors import OAuth2Error

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
        if "error" not in data and (not isinstance(data.get("access_token"), str) or not data["access_token"]):
            # Checked before oauthlib, which calls this a refusal ("missing_token"): it is a bad answer.
            raise NetworkError(f"the token response of {self.provider.name} has no access_token")
        try:
            import json

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
        return TokenSet.from_response(data, now=now, requested_scope=requested, separator=separator)


def fetch_userinfo(provider: Provider, access_token: str, session=None) -> dict[str, Any]:
    """GET the provider's userinfo_url with the new access token; its JSON object."""
    import requests

    session = session or requests.Session()
    host = _host(provider.userinfo_url)
    headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json", "User-Agent": USER_AGENT}
    try:
        response = session.get(provider.userinfo_url, headers=headers, timeout=TIMEOUT, allow_redirects=False, verify=True)
    except (requests.exceptions.RequestException, OSError) as exc:
        raise NetworkError(f"cannot read {host}'s user information ({type(exc).__name__})") from None
    data = _json(response) if response.status_code < 400 else None
    if not isinstance(data, dict):
        raise NetworkError(f"{host} answered HTTP {response.status_code} {_content_type(response)} for the user information")
    return data


def _json(response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _content_type(response) -> str:
    return (response.headers.get("Content-Type") or "no content type").split(";")[0]


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).netloc or url
