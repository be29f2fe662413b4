"""A BROWSER for tests that signs in and answers the consent page with requests (no JavaScript).

    BROWSER=<shim that runs this> integray-auth add ...      or      python http_browser.py URL

It follows the URL (a short local URL that redirects to the provider is fine), posts the
django-oauth-toolkit login form, then the consent form (approve or cancel), and delivers the
redirect to the loopback callback itself so it can record the CLI's answer. Settings and the
result file: browser_common.py.
"""

from __future__ import annotations

import urllib.parse
from html.parser import HTMLParser

from browser_common import (
    Result,
    Settings,
    callback_variant,
    detach_unless_worker,
    prelude_headers,
    redirect_uri_in,
    run_worker,
    same_endpoint,
)

if __name__ == "__main__":
    # webbrowser waits for this launcher: detach the worker before paying for `import requests`.
    detach_unless_worker(__file__)

import requests  # noqa: E402

MAX_REDIRECTS = 20


class PageParser(HTMLParser):
    """Collects every <form>'s attributes with the attributes of its <input>s, and the
    page's visible text (for error messages)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self.text: list[str] = []
        self._in_form = False
        self._skip = 0  # depth inside <head>, <script> or <style>

    def handle_starttag(self, tag, attrs):
        if tag in ("head", "script", "style"):
            self._skip += 1
        elif tag == "form":
            self.forms.append({"attrs": dict(attrs), "inputs": []})
            self._in_form = True
        elif tag == "input" and self._in_form:
            self.forms[-1]["inputs"].append(dict(attrs))

    def handle_endtag(self, tag):
        if tag in ("head", "script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag == "form":
            self._in_form = False

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.text.append(data.strip())


def parse(response: requests.Response) -> PageParser:
    parser = PageParser()
    parser.feed(response.text)
    return parser


def page_summary(response: requests.Response) -> str:
    return f"HTTP {response.status_code} at {response.url}: {' '.join(parse(response).text)[:300]}"


def login_form(response: requests.Response) -> dict | None:
    forms = parse(response).forms
    return next((f for f in forms if any(i.get("name") == "username" for i in f["inputs"])), None)


class Walker:
    """A cookie-keeping session that follows redirects by hand, stopping at the callback."""

    def __init__(self, settings: Settings) -> None:
        self.session = requests.Session()
        # Everything is on loopback; a proxy from the environment must never see it.
        self.session.trust_env = False
        self.timeout = settings.timeout
        self.redirect_uri: str | None = None

    def go(
        self, method: str, url: str, data: dict | None = None
    ) -> tuple[requests.Response | None, str | None]:
        """Request url, following redirects. Returns (page, None), or (None, callback URL) as
        soon as a redirect points at the redirect_uri of the authorization request."""
        for _ in range(MAX_REDIRECTS):
            # The authorization request passes by (directly or via the CLI's short URL)
            # before anything redirects to the callback; its redirect_uri names the callback.
            self.redirect_uri = self.redirect_uri or redirect_uri_in(url)
            if self.redirect_uri and same_endpoint(url, self.redirect_uri):
                return None, url
            response = self.session.request(
                method, url, data=data, allow_redirects=False, timeout=self.timeout
            )
            if not response.is_redirect:
                return response, None
            url = urllib.parse.urljoin(response.url, response.headers["Location"])
            method, data = "GET", None
        raise RuntimeError(f"more than {MAX_REDIRECTS} redirects, last to {url}")

    def status_of(self, url: str, headers: dict[str, str] | None = None) -> int | None:
        """The status of a GET, or None when nothing answers."""
        try:
            return self.session.get(url, headers=headers, allow_redirects=False, timeout=self.timeout).status_code
        except requests.RequestException:
            return None


def sign_in(walker: Walker, page: requests.Response, settings: Settings):
    """Post the login form when the page is one; returns the next (page, callback URL)."""
    login = login_form(page)
    if login is None:
        return page, None
    fields = {i["name"]: i.get("value", "") for i in login["inputs"] if i.get("name")}
    fields.update(username=settings.user, password=settings.password)
    action = urllib.parse.urljoin(page.url, login["attrs"].get("action") or page.url)
    page, callback = walker.go("POST", action, fields)
    if page is not None and login_form(page) is not None:
        raise RuntimeError(f"login as {settings.user!r} failed: {page_summary(page)}")
    return page, callback


def answer_consent(walker: Walker, page: requests.Response, settings: Settings) -> str:
    """Approve or cancel on DOT's consent page; returns the callback URL it redirects to."""
    consent = next((f for f in parse(page).forms if f["attrs"].get("id") == "authorizationForm"), None)
    if consent is None:
        raise RuntimeError(f"expected the consent page, got {page_summary(page)}")
    fields = {
        i["name"]: i.get("value", "")
        for i in consent["inputs"]
        if i.get("type") == "hidden" and i.get("name")
    }
    if settings.grant_scopes:
        fields["scope"] = settings.grant_scopes
    if settings.approve:
        fields["allow"] = "Authorize"  # Cancel is the unnamed submit button: no field at all
    action = urllib.parse.urljoin(page.url, consent["attrs"].get("action") or page.url)
    page, callback = walker.go("POST", action, fields)
    if callback is None:
        raise RuntimeError(f"the consent answer did not redirect to the callback: {page_summary(page)}")
    return callback


def run(settings: Settings) -> Result:
    result = Result()
    walker = Walker(settings)
    try:
        page, callback = walker.go("GET", settings.url)
        if callback is None:
            page, callback = sign_in(walker, page, settings)
        if callback is None:
            callback = answer_consent(walker, page, settings)
        result.callback_url = callback
        for step in settings.prelude:
            result.prelude[step] = walker.status_of(callback_variant(callback, step), prelude_headers(callback, step))
        if not settings.no_callback:
            response = walker.session.get(callback, allow_redirects=False, timeout=settings.timeout)
            result.callback_status, result.callback_body = response.status_code, response.text
        result.ok = True
    except Exception as exc:  # reported in the result file, the only channel back to the test
        result.error = f"{type(exc).__name__}: {exc}"
    return result


if __name__ == "__main__":
    run_worker(run)
