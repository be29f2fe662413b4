"""The grant interface: what every way of obtaining tokens offers, and what it is given.

Modelled on kubelogin (pkg/usecases/authentication/): a use case picks one
grant, and each grant has one way to obtain a token set. Each grant module
holds one `Grant` subclass; `grants/__init__.py` names them. The use cases
keep everything that is not the protocol: checks before the user is asked,
the scope report, persisting, the lock.

A grant module is imported only when its grant is used (grants.get): `token`
imports one when it renews tokens, and talks to the provider then anyway.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lean.record import Record

if TYPE_CHECKING:
    from datetime import datetime
    from typing import Callable

    from ..oauth.endpoint import ClientCredentials
    from ..oauth.loopback import Callback, LoopbackServer
    from ..registry.model import Provider
    from ..tokens import TokenSet


class Needs(Record):
    """What a grant needs from the registry, the client and the terminal,
    declared so the use cases can check it before anything is asked of the user."""

    __slots__ = ("needs_browser", "needs_loopback", "needs_client_secret", "supports_refresh", "provider_fields")

    def __init__(
        self,
        needs_browser: bool,  # a person consents in a browser (on this machine or another)
        needs_loopback: bool,  # the browser comes back to a listener on this machine (a registered redirect URI)
        needs_client_secret: bool = False,  # always, whatever the provider's client_auth says
        supports_refresh: bool = True,  # tokens can be renewed without the user (refresh or re-mint)
        provider_fields: tuple[str, ...] = (),  # registry fields it cannot work without
    ) -> None:
        self.needs_browser = needs_browser
        self.needs_loopback = needs_loopback
        self.needs_client_secret = needs_client_secret
        self.supports_refresh = supports_refresh
        self.provider_fields = provider_fields


class FlowUI:
    """What a grant may ask of the terminal; the command layer provides it
    (cli/flow_ui.py). Everything it shows goes to stderr."""

    def show_url(self, local_url: str, full_url: str, browser: bool) -> None:
        """Tell the user where to consent; `browser` says whether one is being opened."""
        raise NotImplementedError

    def browser_failed(self) -> None:
        raise NotImplementedError

    def notice(self, message: str) -> None:
        raise NotImplementedError

    def wait(self, listener: LoopbackServer, timeout: float) -> Callback | None:
        """The listener's callback, or None after `timeout` seconds."""
        raise NotImplementedError

    def show_device_code(self, verification_uri: str, user_code: str, verification_uri_complete: str | None, seconds_left: float) -> None:
        """Tell the user where to enter the device flow's code (RFC 8628 §3.3), and that polling has begun."""
        raise NotImplementedError


class ConsentRequest(Record):
    """One request for tokens: which provider, which client, which scopes, how
    to reach the user, and how long to wait for them."""

    __slots__ = (
        "provider", "credentials", "scopes", "authorization_name", "ui", "browser", "clock", "timeout", "http_deadline",
        "extra_params",
    )

    def __init__(
        self,
        provider: Provider,
        credentials: ClientCredentials,  # resolved (and the secret checked) before anything is shown
        scopes: list[str],  # as requested by the authorization's connectors
        authorization_name: str,  # for the browser's final page
        ui: FlowUI,
        browser: Callable[[str], bool] | None,  # opens a URL, False if it could not; None: --no-browser
        clock: Callable[[], datetime],
        timeout: float,  # seconds the user has to consent (--timeout)
        http_deadline: float,  # seconds one exchange with the provider may take (INTEGRAY_AUTH_HTTP_TIMEOUT)
        # Added to the consent URL for this request only: the registry's
        # incremental_consent_params when it extends an existing grant.
        extra_params: dict[str, str] | None = None,
    ) -> None:
        self.extra_params = {} if extra_params is None else extra_params
        self.provider = provider
        self.credentials = credentials
        self.scopes = scopes
        self.authorization_name = authorization_name
        self.ui = ui
        self.browser = browser
        self.clock = clock
        self.timeout = timeout
        self.http_deadline = http_deadline


class RenewRequest(Record):
    """Renew the stored tokens of an authorization without the user."""

    __slots__ = ("provider", "tokens", "requested_scopes", "credentials", "clock", "http_deadline", "scopes")

    def __init__(
        self,
        provider: Provider,
        tokens: TokenSet,  # as stored, read again under the tokens lock
        requested_scopes: list[str],
        # Called only by the grants that present a client to renew: Reservanto's
        # long-time token needs none, and resolving one may fail or read the keyring.
        credentials: Callable[[], ClientCredentials],
        clock: Callable[[], datetime],
        http_deadline: float,  # seconds one exchange with the provider may take (INTEGRAY_AUTH_HTTP_TIMEOUT)
        # A subset of the grant to narrow it to (RFC 6749 §6; the registry's
        # refresh_narrows_scope); None: the grant as it is.
        scopes: list[str] | None = None,
    ) -> None:
        self.provider = provider
        self.tokens = tokens
        self.requested_scopes = requested_scopes
        self.credentials = credentials
        self.clock = clock
        self.http_deadline = http_deadline
        self.scopes = scopes


class Obtained(Record):
    """What a grant obtained: the tokens, and the values of the provider's
    answer the registry says to keep with the authorization
    (`callback_parameters`: QuickBooks' realmId)."""

    __slots__ = ("tokens", "received")

    def __init__(self, tokens: TokenSet, received: dict[str, str] | None = None) -> None:
        self.tokens = tokens
        self.received = {} if received is None else received


class Grant:
    """One way of obtaining tokens. Subclasses set `name` and `needs` and
    implement `obtain` and (where `needs.supports_refresh`) `renew`.

    Both raise only `IntegrayAuthError`s: `AuthorizationFailed` for a refusal
    (with `error="invalid_grant"` when the grant itself is gone, which makes the
    authorization Not authorized), `AuthorizationTimeout`, `NetworkError`.
    """

    name: str = ""
    needs: Needs

    def obtain(self, request: ConsentRequest) -> Obtained:
        """Tokens for `request`, once the user (or, for a machine, the client alone) got them."""
        raise NotImplementedError

    def needs_secret(self, provider: Provider) -> bool:
        """Whether the client secret is needed for `provider`, whatever its client_auth says."""
        return self.needs.needs_client_secret

    def can_renew(self, tokens: TokenSet) -> bool:
        """Whether `renew` can work with these stored tokens (a refresh token by default)."""
        return self.needs.supports_refresh and tokens.refresh_token is not None

    def renew(self, request: RenewRequest) -> TokenSet:
        """Fresh tokens from the stored ones: a refresh, or a re-mint."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<grant {self.name}>"
