"""The device authorization grant (RFC 8628): for SSH sessions and machines
without a browser. The provider hands out a short user code; the user enters
it on the provider's page on any device, while this command polls the token
endpoint until the provider answers with tokens, a refusal, or the code
expires. Renewed with the refresh token, like the authorization code grant.

Everything in the device endpoint's answer is outside text: the URLs are
checked (https, or http on a loopback host; no user name or password) and
everything shown is escaped by the terminal UI.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ..errors import AuthorizationFailed, AuthorizationTimeout, NetworkError
from ..lean.printable import has_unsafe
from ..lean.record import Record
from ..oauth.endpoint import HINTS, TokenEndpoint
from ..registry.model import LOOPBACK_HOSTS
from . import DEVICE_GRANT, PROVIDER_FIELDS
from .authorization_code import GRANT as AUTHORIZATION_CODE
from .base import Grant, Needs, Obtained

if TYPE_CHECKING:
    from typing import Any, Callable

    from ..registry.model import Provider
    from ..tokens import TokenSet
    from .base import ConsentRequest, RenewRequest

DEFAULT_INTERVAL = 5.0  # RFC 8628 §3.2: when the answer has no `interval`
MIN_INTERVAL = 1.0  # an interval of 0 would poll in a tight loop
SLOW_DOWN_STEP = 5.0  # RFC 8628 §3.5: add 5 seconds on every slow_down
MAX_USER_CODE = 64  # RFC 8628 §6.1 suggests 8 characters; no provider sends more than a few dozen
MAX_DEVICE_CODE = 4096
MAX_URL = 2048


class DeviceAuthorization(Record):
    """The device endpoint's answer (RFC 8628 §3.2), checked."""

    __slots__ = ("device_code", "user_code", "verification_uri", "verification_uri_complete", "expires_in", "interval")

    def __init__(
        self,
        device_code: str,
        user_code: str,
        verification_uri: str,
        verification_uri_complete: str | None,
        expires_in: float | None,
        interval: float,
    ) -> None:
        self.device_code = device_code
        self.user_code = user_code
        self.verification_uri = verification_uri
        self.verification_uri_complete = verification_uri_complete
        self.expires_in = expires_in
        self.interval = interval

    def __repr__(self) -> str:  # the device code is a credential until it expires
        return f"<DeviceAuthorization user_code={self.user_code!r} verification_uri={self.verification_uri!r}>"


class DeviceCode(Grant):
    name = "device_code"
    needs = Needs(
        needs_browser=True,  # on any device: the user enters the code there
        needs_loopback=False,
        supports_refresh=True,
        provider_fields=(*PROVIDER_FIELDS[DEVICE_GRANT], "token_url"),
    )

    def __init__(self, monotonic: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep, session=None) -> None:
        # Injected by the unit tests, so a poll loop of minutes runs in no time.
        self.monotonic = monotonic
        self.sleep = sleep
        self.session = session

    def needs_secret(self, provider: Provider) -> bool:
        # Zoom's device endpoint takes HTTP Basic even for a public client.
        return bool(provider.device_auth)

    def obtain(self, request: ConsentRequest) -> Obtained:
        provider = request.provider
        started = self.monotonic()
        endpoint = TokenEndpoint(provider, request.credentials, request.http_deadline, session=self.session)
        try:
            answer, data = endpoint.device_authorization(request.scopes)
        except AuthorizationFailed as refused:
            raise _refusal(provider, refused) from None
        code = read_answer(provider, answer.status_code, _content_type(answer), data)
        # The code's lifetime and --timeout: whichever ends first.
        by_expiry = code.expires_in is not None and code.expires_in < request.timeout
        ends = started + (code.expires_in if by_expiry else request.timeout)
        interval = code.interval
        if started + interval >= ends:
            raise AuthorizationTimeout(
                f"{provider.name} asks to wait {interval:g} seconds between polls, "
                f"longer than the {ends - started:g} seconds this authorization may take; nothing was saved",
                hint="Run the command again (--timeout gives more time).",
            )
        request.ui.show_device_code(code.verification_uri, code.user_code, code.verification_uri_complete, ends - self.monotonic())
        while True:
            self.sleep(max(0.0, min(interval, ends - self.monotonic())))
            left = ends - self.monotonic()
            if left <= 0:
                raise _out_of_time(request, code, by_expiry)
            try:
                tokens = endpoint.poll_device(code.device_code, request.scopes, request.clock(), min(request.http_deadline, left))
            except AuthorizationFailed as refused:
                if refused.error == "authorization_pending":
                    continue
                if refused.error == "slow_down":
                    interval += SLOW_DOWN_STEP
                    continue
                raise _refusal(provider, refused) from None
            except NetworkError:
                if self.monotonic() >= ends:  # the poll was cut short by the end of the user's time
                    raise _out_of_time(request, code, by_expiry) from None
                raise
            return Obtained(tokens)

    def renew(self, request: RenewRequest) -> TokenSet:
        return AUTHORIZATION_CODE.renew(request)  # the refresh token grant, the same for both (RFC 6749 §6)


def _out_of_time(request: ConsentRequest, code: DeviceAuthorization, by_expiry: bool) -> AuthorizationTimeout:
    if by_expiry:
        return AuthorizationTimeout(
            f"the code expired after {code.expires_in:g} seconds without being approved; nothing was saved",
            hint="Run the command again and enter the new code.",
        )
    return AuthorizationTimeout(
        f"the code was not approved within {request.timeout:g} seconds; nothing was saved",
        hint="Run the command again (--timeout gives more time).",
    )


def _refusal(provider: Provider, refused: AuthorizationFailed) -> Exception:
    """RFC 8628 §3.5's ends of polling, each with its own words and exit code."""
    if refused.error == "access_denied":
        return AuthorizationFailed(
            f"the request was denied at {provider.name}; nothing was saved",
            hint="Run the command again and approve the request.",
            error="access_denied",
        )
    if refused.error == "expired_token":
        return AuthorizationTimeout(
            f"the code expired at {provider.name} before it was approved; nothing was saved",
            hint="Run the command again and enter the new code.",
        )
    if refused.hint is None:
        refused.hint = "Run the command again; if it keeps failing, check the app's settings at the provider."
    refused.message = _short(refused.message, 300) + "; nothing was saved"
    return refused


def read_answer(provider: Provider, status: int, content_type: str, data: Any) -> DeviceAuthorization:
    """The device endpoint's answer, or a NetworkError (exit 11) naming what is wrong."""
    host = _host(provider.device_authorization_url)
    if not isinstance(data, dict):
        raise NetworkError(
            f"{host} answered HTTP {status} with {content_type}, not a device authorization response; nothing was saved",
            hint="The device_authorization_url in the registry may be wrong.",
        )
    if "error" in data:  # an error with HTTP 200 (GitHub answers so)
        error = data["error"]
        shown = error if isinstance(error, str) else repr(error)
        raise AuthorizationFailed(
            f"{provider.name} refused the device authorization: {_short(shown, 80)}; nothing was saved",
            hint=HINTS.get(shown, "Check that the app at the provider may use the device flow."),
            error=shown,
        )
    device_code = _text(provider, data, "device_code", MAX_DEVICE_CODE)
    user_code = _text(provider, data, "user_code", MAX_USER_CODE)
    # Google names it verification_url, after an earlier draft of the RFC.
    uri_field = "verification_uri" if "verification_uri" in data or "verification_url" not in data else "verification_url"
    verification_uri = _url(provider, data, uri_field)
    complete = _url(provider, data, "verification_uri_complete") if data.get("verification_uri_complete") is not None else None
    expires_in = _seconds(provider, data, "expires_in")
    interval = _seconds(provider, data, "interval", allow_zero=True)
    interval = DEFAULT_INTERVAL if interval is None else max(MIN_INTERVAL, interval)
    return DeviceAuthorization(device_code, user_code, verification_uri, complete, expires_in, interval)


def _bad(provider: Provider, what: str) -> NetworkError:
    return NetworkError(
        f"the device authorization answer of {provider.name} {what}; nothing was saved",
        hint="The provider is misbehaving, or the device_authorization_url in the registry is wrong.",
    )


def _text(provider: Provider, data: dict, field: str, limit: int) -> str:
    value = data.get(field)
    if value is None or value == "":
        raise _bad(provider, f"has no {field}")
    if not isinstance(value, str) or len(value) > limit or has_unsafe(value) or value != value.strip():
        raise _bad(provider, f"has a {field} that is not a short plain text")
    return value


def _url(provider: Provider, data: dict, field: str) -> str:
    """An https URL (http only for a loopback host), without user name or password:
    the user is sent there to type the code, so a hostile one must not get through."""
    value = _text(provider, data, field, MAX_URL)
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise _bad(provider, f"has a {field} that is not a URL") from None
    if "@" in parts.netloc or has_unsafe(value) or any(c.isspace() for c in value):
        raise _bad(provider, f"has a {field} with a user name, password or hidden characters in it")
    if not (parts.scheme == "https" and host) and not (parts.scheme == "http" and host in LOOPBACK_HOSTS):
        raise _bad(provider, f"has a {field} that is not an https:// URL")
    return value


def _seconds(provider: Provider, data: dict, field: str, allow_zero: bool = False) -> float | None:
    value = data.get(field)
    if value is None:
        return None
    try:
        seconds = float(value) if isinstance(value, (int, float, str)) and not isinstance(value, bool) else math.nan
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not allow_zero):
        raise _bad(provider, f"has {field} {_short(repr(value), 40)}, not a number of seconds")
    return seconds


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


def _content_type(answer) -> str:
    return (answer.headers.get("Content-Type") or "no content type").split(";")[0]


GRANT = DeviceCode()
