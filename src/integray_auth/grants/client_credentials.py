"""The client credentials grant (RFC 6749 §4.4): a machine authorization.

No user and no browser: a confidential client asks for a token with its own
credentials (a client secret, by HTTP Basic or in the body, or a JWT signed
with its private key, RFC 7523). There is no refresh token (§4.4.3), so
renewing is asking again: `token` re-mints under the authorization's lock
like any refresh (usecases/access_token.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..oauth.endpoint import TokenEndpoint
from .base import Grant, Needs, Obtained

if TYPE_CHECKING:
    from ..tokens import TokenSet
    from .base import ConsentRequest, RenewRequest


class ClientCredentials(Grant):
    name = "client_credentials"
    needs = Needs(
        needs_browser=False,
        needs_loopback=False,
        # The client authenticates itself: a secret, or its key where the
        # provider's client_auth is private_key_jwt (usecases/clients.py).
        needs_client_secret=True,
        supports_refresh=True,  # by re-minting, not by a refresh token
        provider_fields=("token_url",),
    )

    def obtain(self, request: ConsentRequest) -> Obtained:
        endpoint = TokenEndpoint(request.provider, request.credentials, request.http_deadline)
        return Obtained(endpoint.client_credentials(request.scopes, request.clock()))

    def can_renew(self, tokens: TokenSet) -> bool:
        return True  # the client's own credentials mint a new token at any time

    def renew(self, request: RenewRequest) -> TokenSet:
        endpoint = TokenEndpoint(request.provider, request.credentials(), request.http_deadline)
        # What the connectors need now (or the narrower set asked for): a re-mint
        # is a new request, not bound to the scope granted before.
        scopes = request.scopes if request.scopes is not None else request.requested_scopes
        return endpoint.client_credentials(scopes, request.clock())


GRANT = ClientCredentials()
