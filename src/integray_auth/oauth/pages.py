"""The pages the browser lands on after consent.

Self-contained on purpose (RFC 9700 §4.2.4): no external images, fonts or
scripts, so the authorization code in the URL never leaks via a Referer,
and a no-referrer policy besides.
"""

from __future__ import annotations

import html

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - integray-auth</title>
<style>
body{{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;background:#f5f6f8;color:#1d2330;margin:0}}
main{{max-width:34rem;margin:12vh auto;background:#fff;border-radius:12px;padding:2rem 2.5rem;
box-shadow:0 2px 12px rgba(0,0,0,.08)}}
h1{{font-size:1.4rem;margin:0 0 1rem;color:{color}}}
p{{line-height:1.5}} code{{background:#eef0f4;padding:.1rem .3rem;border-radius:4px}}
</style></head>
<body><main><h1>{title}</h1>{body}</main></body></html>
"""


def page(title: str, body_html: str, ok: bool) -> bytes:
    return _TEMPLATE.format(title=html.escape(title), body=body_html, color="#1a7f37" if ok else "#c62828").encode()


def success(authorization_name: str, provider_name: str) -> bytes:
    return page(
        "Authorized",
        f"<p>integray-auth authorized <strong>{html.escape(authorization_name)}</strong> "
        f"with {html.escape(provider_name)}.</p><p>You can close this tab and return to the terminal.</p>",
        ok=True,
    )


def provider_error(error: str, description: str | None) -> bytes:
    detail = f"<p>{html.escape(description)}</p>" if description else ""
    return _failed(f"<p>The provider answered <code>{html.escape(error)}</code>.</p>{detail}")


def exchange_failed(message: str) -> bytes:
    return _failed(f"<p>The provider accepted, but integray-auth could not get the tokens: {html.escape(message)}.</p>")


def _failed(what_html: str) -> bytes:
    """A failed authorization's page: what went wrong; the terminal says what to do about it."""
    return page("Authorization failed", what_html + "<p>Return to the terminal for what to do next.</p>", ok=False)


def bad_request(reason: str) -> bytes:
    return page(
        "Request rejected",
        f"<p>{html.escape(reason)}</p><p>integray-auth is still waiting for the right answer from the provider.</p>",
        ok=False,
    )


def not_found() -> bytes:
    return page("Not found", "<p>integray-auth does not serve this page.</p>", ok=False)


def already_done() -> bytes:
    return page("Already finished", "<p>This authorization already finished. You can close this tab.</p>", ok=False)


def misdirected() -> bytes:
    # Says nothing about the flow: the asker is not who the URL was given to.
    return page("Wrong address", "<p>integray-auth does not answer requests for this address.</p>", ok=False)


def start_used() -> bytes:
    return page(
        "Link already used",
        "<p>This one-time link was already opened, so integray-auth stopped this authorization "
        "to keep anyone else from finishing it.</p><p>Return to the terminal and run the command again.</p>",
        ok=False,
    )
