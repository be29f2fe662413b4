"""One HTTP exchange with a deadline for all of it and a cap on the answer's size.

requests' timeouts apply to each socket read, so a server that sends a byte
every few seconds holds a call forever, and a server that sends tens of MB
fills memory. `send()` bounds both. Its signature matches the shared helper
planned for `oauth/endpoint.py`, so callers can switch to that one by
changing an import.
"""

from __future__ import annotations

from typing import Any

from ..errors import NetworkError

CONNECT_TIMEOUT, READ_TIMEOUT = 10.0, 30.0  # per step, each also bounded by the deadline
CHUNK = 16 * 1024


class Answer:
    """An HTTP answer read whole (and small): status, headers, body."""

    __slots__ = ("status_code", "headers", "content")

    def __init__(self, status_code: int, headers, content: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = content


class _TooLarge(Exception):
    pass


class _Late(Exception):
    pass


def send(session, method: str, url: str, deadline: float, max_bytes: int, **kwargs) -> Answer:
    """`method url` within `deadline` seconds and at most `max_bytes` of body;
    every failure is a NetworkError naming the host.

    No socket read can be interrupted portably, so the exchange runs in a
    daemon thread that the caller stops waiting for at the deadline; left
    behind, it drops the answer at its next chunk or dies with the process.
    """
    import threading
    import time

    host = _host(url)
    ends = time.monotonic() + deadline
    timeout = (min(CONNECT_TIMEOUT, deadline), min(READ_TIMEOUT, deadline))
    outcome: dict[str, Any] = {}

    def exchange() -> None:
        try:
            outcome["answer"] = _read(session, method, url, timeout, ends, max_bytes, kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            outcome["error"] = exc

    worker = threading.Thread(target=exchange, name="integray-auth-http", daemon=True)
    worker.start()
    worker.join(deadline)
    if worker.is_alive() or isinstance(outcome.get("error"), _Late):
        raise NetworkError(f"{host} did not complete its answer within {deadline:g} seconds", hint="Check your connection and try again.")
    if "answer" in outcome:
        return outcome["answer"]
    raise _network_error(outcome["error"], host, max_bytes) from None


def _read(session, method: str, url: str, timeout, ends: float, max_bytes: int, kwargs) -> Answer:
    import time

    response = session.request(method, url, timeout=timeout, stream=True, allow_redirects=False, verify=True, **kwargs)
    try:
        length = response.headers.get("Content-Length", "")
        if length.strip().isdigit() and int(length) > max_bytes:
            raise _TooLarge  # refused before reading a byte of it
        body = bytearray()
        # Counted after decoding: a small gzip body cannot unpack into a large one.
        for chunk in response.iter_content(CHUNK):
            body += chunk
            if len(body) > max_bytes:
                raise _TooLarge
            if time.monotonic() > ends:
                raise _Late
        return Answer(response.status_code, response.headers, bytes(body))
    finally:
        response.close()


def _network_error(exc: BaseException, host: str, max_bytes: int) -> BaseException:
    import requests

    if isinstance(exc, _TooLarge):
        return NetworkError(
            f"the answer of {host} is larger than {max_bytes // 1024} KB; integray-auth read no further",
            hint="Check the URL; the server may be misbehaving.",
        )
    if isinstance(exc, requests.exceptions.SSLError):
        return NetworkError(
            f"TLS verification failed for {host}",
            hint="Check the system clock and any proxy that intercepts TLS (REQUESTS_CA_BUNDLE names a CA bundle).",
        )
    if isinstance(exc, requests.exceptions.Timeout):
        return NetworkError(f"{host} did not answer in time", hint="Check your connection and try again.")
    if isinstance(exc, requests.exceptions.ConnectionError):
        return NetworkError(f"cannot connect to {host}", hint="Check your connection, proxy and the URL.")
    if isinstance(exc, requests.exceptions.RequestException):
        return NetworkError(f"request to {host} failed ({type(exc).__name__})")
    if isinstance(exc, OSError):
        # requests raises a bare OSError, before connecting, when
        # REQUESTS_CA_BUNDLE (or CURL_CA_BUNDLE) names no file.
        return NetworkError(f"cannot send the request to {host}: {exc}", hint="Check REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE.")
    return exc  # a bug of ours, or Ctrl-C: not a network problem


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).netloc.rpartition("@")[2] or url
    except ValueError:
        return url
