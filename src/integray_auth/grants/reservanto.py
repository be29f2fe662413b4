"""Reservanto's long-time-token grant (https://api.reservanto.cz/Help).

Not OAuth 2.0: the merchant consents at `Authorize/GetLongTimeToken`, which
redirects to our callback with `accepted=1&token=<LongTimeToken>`; rights
are a repeated `rights=` parameter; there is no `state`, so the callback
path itself carries a one-time random segment. The long-time token is kept
like a refresh token and exchanged for a 30-minute ShortTimeToken, sent as
a raw `Authorization` header by API clients.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import requests

from ..errors import AuthorizationFailed, NetworkError
from ..oauth import pkce
from ..oauth.endpoint import USER_AGENT, checked_tokens, send
from ..oauth.loopback import LoopbackServer
from ..registry.model import Provider
from ..tokens import TokenSet
from .base import Grant, Obtained
from .loopback_consent import LOOPBACK_NEEDS, consent_in_browser

if TYPE_CHECKING:
    from .base import ConsentRequest, RenewRequest

SHORT_TOKEN_LIFETIME = timedelta(minutes=30)


class ReservantoLongTimeToken(Grant):
    name = "reservanto_long_time_token"
    # The long-time token is kept as the refresh token; renewing re-mints a short-time one.
    needs = LOOPBACK_NEEDS

    def obtain(self, request: ConsentRequest) -> Obtained:
        provider = request.provider
        # No state in this protocol: an unguessable path segment does its job.
        path = f"{provider.redirect_path.rstrip('/')}/{pkce.make_state()}"
        listener = LoopbackServer(provider.redirect_host, path, None, provider.redirect_ports, is_complete=is_complete)
        with listener:
            url = authorization_url(provider, request.credentials.client_id, listener.redirect_uri, request.scopes)
            return consent_in_browser(
                request,
                listener,
                url,
                lambda callback: short_time_token(
                    provider, long_time_token(provider, callback.params), request.scopes, request.clock(), request.http_deadline
                ),
            )

    def renew(self, request: RenewRequest) -> TokenSet:
        return short_time_token(
            request.provider, request.tokens.refresh_token, request.requested_scopes, request.clock(), request.http_deadline
        )


def authorization_url(provider: Provider, client_id: str, redirect_uri: str, rights: list[str]) -> str:
    query = [("clientId", client_id), *(("rights", r) for r in rights), ("redirectUrl", redirect_uri)]
    return f"{provider.authorization_url}?{urlencode(query)}"


def is_complete(params: dict[str, str]) -> bool:
    return "accepted" in params


def long_time_token(provider: Provider, params: dict[str, str]) -> str:
    if params.get("accepted") != "1" or not params.get("token"):
        raise AuthorizationFailed(
            f"{provider.name} refused: the merchant did not accept the request",
            hint="Run the command again and accept the requested rights.",
        )
    return params["token"]


def short_time_token(
    provider: Provider, long_token: str, rights: list[str], now: datetime, deadline: float, session=None
) -> TokenSet:

    session = session or requests.Session()
    # allow_redirects is off in send(): a 307/308 would re-send the long-time token elsewhere.
    response = send(
        session,
        "POST",
        provider.token_url,
        deadline,
        json={"LongTimeToken": long_token, "TimeStamp": int(time.time())},
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
    )
    try:
        data = response.json()
    except ValueError:
        raise NetworkError(f"{provider.name} answered HTTP {response.status_code} without JSON") from None
    if response.status_code >= 500:
        # Server trouble, not a refusal: the long-time token must not be given up for it.
        raise NetworkError(f"{provider.name} answered HTTP {response.status_code}", hint="Try again later.")
    if not isinstance(data, dict) or data.get("IsError") or not data.get("ShortTimeToken"):
        message = data.get("ErrorMessage") if isinstance(data, dict) else None
        raise AuthorizationFailed(
            f"{provider.name} refused the long-time token" + (f" ({message})" if message else ""),
            hint="Run 'integray-auth authorize NAME' to connect again.",
            error="invalid_grant",
        )
    return checked_tokens(TokenSet(
        access_token=data["ShortTimeToken"],  # not str(): a list would pass as its repr
        token_type="ReservantoShortTimeToken",
        refresh_token=long_token,
        expires_at=(now + SHORT_TOKEN_LIFETIME).isoformat().replace("+00:00", "Z"),
        scope=list(rights),
    ), provider.name)


GRANT = ReservantoLongTimeToken()
