"""The throwaway loopback listener that catches the provider's redirect.

RFC 8252 §7.3 and §8.3: loopback address only (127.0.0.1, and [::1] too when
the redirect URI says `localhost`), an OS-chosen port unless the provider
pins ports, the exact callback path, and open only while the flow runs.
A request with a wrong or missing `state` gets a 400 page and the listener
keeps waiting; anything but the callback (a favicon, a probe) gets a 404.
It serves from its own thread before the browser opens, because
`webbrowser.open` may wait for a BROWSER program to exit.
"""

from __future__ import annotations

import errno
import hmac
import os
import socket
import socketserver
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import parse_qsl, urlsplit

from ..errors import NetworkError
from . import pages

socketserver_bind = socketserver.TCPServer.server_bind

# How long closing waits for the browser's final page to be written.
PAGE_SEND_WAIT = 5.0

# How long the browser's callback request waits for the token exchange, so
# its page can tell the real outcome; after that it gets a neutral page.
OUTCOME_WAIT = 60.0
WAIT_SLICE = 0.25  # the longest uninterruptible wait (see LoopbackServer.wait)

# A port someone else holds, or one we may not use (Windows' excluded ranges).
# Windows reports WSA codes (10048, 10013), not errno's EADDRINUSE (100 there).
_PORT_UNAVAILABLE = frozenset(
    code
    for code in (errno.EADDRINUSE, errno.EACCES, getattr(errno, "WSAEADDRINUSE", None), getattr(errno, "WSAEACCES", None))
    if code is not None
)


@dataclass(frozen=True)
class Callback:
    """The redirect's query parameters, accepted by path, state and iss checks."""

    params: dict[str, str]

    @property
    def error(self) -> str | None:
        return self.params.get("error")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # On POSIX, SO_REUSEADDR only lets us rebind a pinned port whose last
    # connection is in TIME_WAIT (re-authorizing within a minute); it never
    # lets two sockets listen. On Windows it would let another process take
    # the port, so there we ask for exclusive use instead.
    allow_reuse_address = os.name != "nt"

    def server_bind(self) -> None:
        if os.name == "nt" and hasattr(socket, "SO_EXCLUSIVEADDRUSE"):
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
        # Not HTTPServer.server_bind: its getfqdn() may wait on DNS for nothing.
        socketserver_bind(self)
        self.server_name, self.server_port = "localhost", self.server_address[1]

    def handle_error(self, request, client_address) -> None:  # noqa: ANN001
        pass  # a browser closing a socket early is not our problem, and never print tracebacks


class _Server6(_Server):
    address_family = socket.AF_INET6


class LoopbackServer:
    def __init__(
        self,
        host: str,
        path: str,
        state: str | None,
        ports: tuple[int, ...] = (),
        expected_issuer: str | None = None,
        is_complete: Callable[[dict[str, str]], bool] = lambda p: "code" in p or "error" in p,
    ) -> None:
        self.host = host
        self.path = path
        self.state = state
        self.ports = ports
        self.expected_issuer = expected_issuer
        self.is_complete = is_complete
        self.start_url: str | None = None
        self.port = 0
        self._servers: list[_Server] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._result: Callback | None = None
        self._received = threading.Event()
        self._outcome: bytes | None = None
        self._outcome_ready = threading.Event()
        # Set once the browser that delivered the callback has its final page:
        # the process must not exit (killing the daemon handler) before that,
        # or the user sees "connection reset" instead of the outcome.
        self._page_sent = threading.Event()
        self._page_sent.set()  # nothing owed until a callback arrives over HTTP

    @property
    def redirect_uri(self) -> str:
        return f"http://{self.host}:{self.port}{self.path}"

    @property
    def local_url(self) -> str:
        """A short URL that redirects to the provider (easy to copy over SSH)."""
        return f"http://{self.host}:{self.port}/"

    # -- lifecycle -------------------------------------------------------
    def start(self) -> None:
        if self.ports:
            for port in self.ports:
                if self._bind(port):
                    break
            else:
                listed = ", ".join(str(p) for p in self.ports)
                raise PortBusyError(
                    f"every callback port the provider allows is taken on {self.host} ({listed})",
                    hint="Stop the program using one of them (e.g. another integray-auth still waiting), then try again.",
                )
        else:
            for _ in range(20):
                if self._bind(0):
                    break
            else:
                raise PortBusyError(f"cannot open a callback port on {self.host}")
        for server in self._servers:
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            thread.start()
            self._threads.append(thread)

    def _bind(self, port: int) -> bool:
        handler = self._handler_class()
        try:
            first = _Server(("127.0.0.1", port), handler)
        except OSError as exc:
            if exc.errno in _PORT_UNAVAILABLE:
                return False
            raise NetworkError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from None
        servers = [first]
        if self.host == "localhost":
            # `localhost` may resolve to ::1 first; listen there too on the
            # same port, or the browser may reach nobody (or somebody else).
            try:
                servers.append(_Server6(("::1", first.server_address[1]), handler))
            except OSError as exc:
                if exc.errno in _PORT_UNAVAILABLE:
                    # Somebody else's [::1]:port would get the callback: try another port.
                    first.server_close()
                    return False
                # No IPv6 loopback on this machine: 127.0.0.1 alone is right.
        self._servers = servers
        self.port = first.server_address[1]
        return True

    def close(self) -> None:
        self._outcome_ready.set()  # release a callback request still waiting
        self._page_sent.wait(PAGE_SEND_WAIT)
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=2)
        self._servers, self._threads = [], []

    def __enter__(self) -> "LoopbackServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- results ---------------------------------------------------------
    def wait(self, timeout: float) -> Callback | None:
        """The accepted callback, or None when `timeout` seconds pass."""
        # In short slices: on Windows (Python < 3.14) a lock wait cannot be
        # interrupted, so one 300-second wait would hold Ctrl-C back until it ends.
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if self._received.wait(max(0.0, min(WAIT_SLICE, left))):
                return self._result
            if left <= WAIT_SLICE:
                return None

    @property
    def result(self) -> Callback | None:
        return self._result

    def finish(self, page: bytes) -> None:
        """Give the waiting browser its final page (after the token exchange)."""
        self._outcome = page
        self._outcome_ready.set()

    def offer(self, url: str) -> str | None:
        """Accept a redirect URL pasted by the user; return why it was rejected, if it was."""
        try:
            parts = urlsplit(url.strip())
        except ValueError:
            return "that is not a URL"
        if parts.path != self.path:
            return f"the URL's path is not {self.path}"
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        problem = self._check(params)
        if problem:
            return problem
        if not self._accept(params):
            return "this authorization already finished"
        self._outcome_ready.set()  # no browser is waiting for a page
        return None

    def _check(self, params: dict[str, str]) -> str | None:
        if self.state is not None:
            got = params.get("state")
            if got is None:
                return "the redirect has no state parameter"
            if not hmac.compare_digest(got.encode(), self.state.encode()):
                return "the redirect's state does not match this authorization request"
        if self.expected_issuer is not None:
            # RFC 9207 §2.4: a provider that sends iss must always send it, and
            # it must be the issuer we started with (mix-up defence).
            iss = params.get("iss")
            if iss is None or not hmac.compare_digest(iss.encode(), self.expected_issuer.encode()):
                return "the redirect's iss does not name the expected provider"
        if not self.is_complete(params):
            return "the redirect carries neither a code nor an error"
        return None

    def _accept(self, params: dict[str, str], browser_waiting: bool = False) -> bool:
        with self._lock:
            if self._result is not None:
                return False
            self._result = Callback(params=params)
            if browser_waiting:
                self._page_sent.clear()  # before anyone can see the result and close
        self._received.set()
        return True

    def _handler_class(self):
        listener = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "integray-auth"
            sys_version = ""
            timeout = 10  # an idle connection (browsers pre-connect) never holds a thread for long

            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                if parts.path == "/" and listener.start_url and not parts.query:
                    self._send(302, b"", location=listener.start_url)
                    return
                if parts.path != listener.path:
                    self._send(404, pages.not_found())
                    return
                params = dict(parse_qsl(parts.query, keep_blank_values=True))
                problem = listener._check(params)
                if problem:
                    self._send(400, pages.bad_request(problem[0].upper() + problem[1:] + "."))
                    return
                # Record the result before answering: the browser may be a
                # program that the CLI is blocked on (webbrowser waits for it).
                listener._page_sent.clear()
                if not listener._accept(params, browser_waiting=True):
                    listener._page_sent.set()
                    self._send(400, pages.already_done())
                    return
                try:
                    if "error" in params:
                        self._send(200, pages.provider_error(params["error"], params.get("error_description")))
                        return
                    listener._outcome_ready.wait(OUTCOME_WAIT)
                    self._send(200, listener._outcome or pages.page(
                        "Received", "<p>integray-auth received the answer. Return to the terminal.</p>", ok=True))
                finally:
                    listener._page_sent.set()

            def _send(self, status: int, body: bytes, location: str | None = None) -> None:
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.send_header("Referrer-Policy", "no-referrer")
                self.send_header("Connection", "close")
                self.end_headers()
                if body:
                    self.wfile.write(body)

            def log_message(self, format: str, *args) -> None:  # noqa: A002
                pass  # the request line carries the code: never log it

        return Handler


class PortBusyError(NetworkError):
    pass
