"""A consent in the browser that comes back to our loopback listener
(RFC 8252 §7.3), shared by the grants that use one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import AuthorizationFailed, AuthorizationTimeout, IntegrayAuthError
from ..oauth import pages
from ..registry.names import PARAMETER_VALUE_PATTERN
from .base import Needs, Obtained

if TYPE_CHECKING:
    from typing import Callable

    from ..oauth.loopback import Callback, LoopbackServer
    from ..registry.model import Provider
    from ..tokens import TokenSet
    from .base import ConsentRequest

# What every grant that consents this way needs: a browser, our listener, and
# the two endpoints; its tokens are renewed without the user.
LOOPBACK_NEEDS = Needs(
    needs_browser=True,
    needs_loopback=True,
    supports_refresh=True,
    provider_fields=("authorization_url", "token_url"),
)


def consent_in_browser(
    request: ConsentRequest, listener: LoopbackServer, url: str, exchange: Callable[[Callback], TokenSet]
) -> Obtained:
    """Show `url`, open the browser, wait for the callback and turn it into
    tokens with `exchange`, keeping the values the registry names from the
    redirect; the browser gets its final page either way.
    Call it inside `with listener:`, which serves before the browser opens."""
    listener.start_url = url
    request.ui.show_url(listener.local_url, url, request.browser is not None)
    # The browser gets the one-time short URL: its command line is visible to
    # every local user, and the full URL carries state and PKCE challenge.
    if request.browser is not None and not request.browser(listener.local_url):
        request.ui.browser_failed()
    callback = request.ui.wait(listener, request.timeout)
    if callback is None:
        raise AuthorizationTimeout(
            f"no answer from the browser within {int(request.timeout)} seconds; nothing was saved",
            # Not a flag already given: with --no-browser there is no browser here.
            hint="Run the command again (--timeout gives more time"
            + ("; --no-browser prints the URL to open elsewhere)." if request.browser is not None else ")."),
        )
    try:
        received = callback_values(request.provider, callback.params)
        tokens = exchange(callback)
    except IntegrayAuthError as error:
        if not callback.error:
            listener.finish(pages.exchange_failed(error.message))
        raise
    listener.finish(pages.success(request.authorization_name, request.provider.name))
    return Obtained(tokens, received)


def callback_values(provider: Provider, params: dict[str, str]) -> dict[str, str]:
    """The redirect's values the registry says to keep (QuickBooks' realmId)."""
    kept = {}
    for name in provider.callback_parameters:
        value = params.get(name)
        if value is None:
            continue
        if not PARAMETER_VALUE_PATTERN.fullmatch(value):  # it reaches terminals and URLs later
            raise AuthorizationFailed(f"{provider.name} sent a {name} that is not a plain value; nothing was saved")
        kept[name] = value
    return kept
