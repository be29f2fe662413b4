"""The scheme, host and port of a plainly spelt http(s) URL, as
urllib.parse.urlsplit reads them, by str methods.

Why: `urllib.parse` costs a tenth of `python -c pass` to import (with
`ipaddress`, which it imports to check bracketed hosts), and `list` checks
every URL of the registry it reads back from its cache, and each
authorization's recorded endpoints. Anything not spelt plainly is left to
urlsplit: callers ask it when split_plain says None. tests/test_urlparts.py
compares the two with Hypothesis.
"""

from __future__ import annotations

_DIGITS = "0123456789"
_HOST_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" + _DIGITS + ".-_~"


def split_plain(url: str) -> tuple[str, str, str] | None:
    """(scheme, hostname, port) of 'http[s]://host[:port][/...|?...|#...]' written
    in printable ASCII with no spaces, userinfo, brackets or percent signs:
    urlsplit(url).scheme, .hostname or "", and the digits after ':' ("" for none).
    None for any other URL."""
    if url.startswith("https://"):
        scheme, rest = "https", url[8:]
    elif url.startswith("http://"):
        scheme, rest = "http", url[7:]
    else:
        return None
    if not (url.isascii() and url.isprintable()) or " " in url:
        return None  # urlsplit strips or drops some of these first
    end = len(rest)
    for stop in "/?#":
        at = rest.find(stop, 0, end)
        if at >= 0:
            end = at
    host, _, port = rest[:end].partition(":")
    if host.strip(_HOST_CHARS) or port.strip(_DIGITS):
        return None  # userinfo, brackets, '%', a second ':', ...
    return scheme, host.lower(), port
