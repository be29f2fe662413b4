"""A consent in the browser that comes back to our loopback listener
(RFC 8252 §7.3), shared by the grants that use one."""

from __future__ import annotations

from ..errors import AuthorizationTimeout, IntegrayAuthError
from ..oauth import pages

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable

    from ..oauth.loopback import Callback, LoopbackServer
    from ..tokens import TokenSet
    from .base import ConsentRequest


def consent_in_browser(
    request: ConsentRequest, listener: LoopbackServer, url: str, exchange: Callable[[Callback], TokenSet]
) -> TokenSet:
    """Show `url`, open the browser, wait for the callback and turn it into
    tokens with `exchange`; the browser gets its final page either way.
    Call it inside `with listener:`, which serves before the browser opens."""
    listener.start_url = url
    request.ui.show_url(listener.local_url, url, request.browser is not None)
    if request.browser is not None and not request.browser(url):
        request.ui.browser_failed()
    callback = request.ui.wait(listener, request.timeout)
    if callback is None:
        raise AuthorizationTimeout(
            f"no answer from the browser within {int(request.timeout)} seconds; nothing was saved",
            hint="Run the command again (--timeout gives more time; --no-browser prints the URL to open elsewhere).",
        )
    try:
        tokens = exchange(callback)
    except IntegrayAuthError as error:
        if not callback.error:
            listener.finish(pages.exchange_failed(error.message))
        raise
    listener.finish(pages.success(request.authorization_name, request.provider.name))
    return tokens
