"""The authorization code grant (RFC 6749 §4.1) through the browser and a
loopback redirect (RFC 8252), with PKCE (RFC 7636) and state; renewed with
the refresh token (§6)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from oauthlib.common import add_params_to_uri

from ..errors import AuthorizationFailed
from ..oauth import pkce
from ..oauth.endpoint import HINTS, TokenEndpoint
from ..oauth.issuer import issuer_check
from ..oauth.loopback import LoopbackServer
from ..oauth.pkce import s256_challenge
from .base import Grant, Obtained
from .loopback_consent import LOOPBACK_NEEDS, consent_in_browser

if TYPE_CHECKING:
    from ..oauth.loopback import Callback, LoopbackServer
    from ..registry.model import Provider
    from ..tokens import TokenSet
    from .base import ConsentRequest, RenewRequest


class AuthorizationCode(Grant):
    name = "authorization_code"
    needs = LOOPBACK_NEEDS

    def obtain(self, request: ConsentRequest) -> Obtained:
        provider = request.provider
        state = pkce.make_state()
        listener = LoopbackServer(
            provider.redirect_host,
            provider.redirect_path,
            state,
            provider.redirect_ports,
            **issuer_check(provider),  # RFC 9207 (mix-up defence)
        )
        verifier = pkce.make_verifier() if provider.pkce != "unsupported" else None
        with listener:
            url = authorization_url(
                provider, request.credentials.client_id, listener.redirect_uri, request.scopes, state, verifier,
                request.extra_params,
            )
            return consent_in_browser(
                request, listener, url, lambda callback: _exchange(request, listener, callback, verifier)
            )

    def renew(self, request: RenewRequest) -> TokenSet:
        tokens = request.tokens
        # A refresh asks for the scope granted before (RFC 6749 §6), so an answer that
        # omits `scope` means that one (§5.1), not everything the connectors requested.
        granted = tokens.scope if tokens.scope is not None else request.requested_scopes
        endpoint = TokenEndpoint(request.provider, request.credentials(), request.http_deadline)
        if request.scopes is not None:
            # Narrowed to a subset (§6), where the registry says the provider does it.
            return endpoint.refresh(tokens.refresh_token, request.scopes, request.clock(), narrow_to=request.scopes)
        return endpoint.refresh(tokens.refresh_token, granted, request.clock())


def _exchange(request: ConsentRequest, listener: LoopbackServer, callback: Callback, verifier: str | None) -> TokenSet:
    provider = request.provider
    if callback.error:
        description = callback.params.get("error_description")
        raise AuthorizationFailed(
            f"{provider.name} refused: {callback.error}" + (f" ({description})" if description else ""),
            hint=HINTS.get(callback.error, "Run the command again."),
        )
    endpoint = TokenEndpoint(provider, request.credentials, request.http_deadline)
    return endpoint.exchange_code(callback.params["code"], listener.redirect_uri, verifier, request.scopes, request.clock())


def authorization_url(
    provider: Provider, client_id: str, redirect_uri: str, scopes: list[str], state: str, verifier: str | None,
    extra_params: dict[str, str] | None = None,
) -> str:

    # Built with oauthlib's encoder, not prepare_grant_uri: that one refuses
    # http:// even for a loopback development server the registry allows.
    params = [("response_type", "code"), ("client_id", client_id), ("redirect_uri", redirect_uri)]
    if scopes and provider.scope_parameter != "none":
        params.append((provider.scope_parameter, provider.scope_separator.join(scopes)))
    params.append(("state", state))
    if provider.resource:
        params.append(("resource", provider.resource))  # RFC 8707 §2.1
    if verifier is not None:
        params += [("code_challenge", s256_challenge(verifier)), ("code_challenge_method", "S256")]
    params += [(k, v) for k, v in provider.authorization_params.items()]
    params += [(k, v) for k, v in (extra_params or {}).items() if k not in provider.authorization_params]
    return add_params_to_uri(provider.authorization_url, params)


GRANT = AuthorizationCode()
