"""The throwaway loopback listener that catches the provider's redirect.

RFC 8252 §7.3 and §8.3: loopback address only (127.0.0.1, and [::1] too when
the redirect URI says `localhost`), an OS-chosen port unless the provider
pins ports, the exact callback path, and open only while the flow runs.
A request with a wrong or missing `state`, or with a parameter repeated
(RFC 6749 §3.1), gets a 400 page and the listener keeps waiting; anything but
the callback (a favicon, a probe) gets a 404. It serves from its own thread
before the browser opens, because `webbrowser.open` may wait for a BROWSER
program to exit.

Other local users can connect to a loopback port too, so the listener gives
them nothing to work with: the short URL that redirects to the provider has
an unguessable path and works once (a second fetch means somebody else may
hold the authorization request, and stops the flow); only requests whose Host
is the address the listener was opened on are answered (DNS rebinding);
connections are bounded in number and each must deliver its request within
one deadline, so trickling bytes cannot hold threads.
"""

from __future__ import annotations

import errno
import hmac
import io
import os
import secrets
import socket
import socketserver
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import parse_qsl, urlsplit

from ..errors import AuthorizationFailed, NetworkError
from . import pages
from .issuer import iss_problem

socketserver_bind = socketserver.TCPServer.server_bind

# How long closing waits for the browser's final page to be written.
PAGE_SEND_WAIT = 5.0

# How long the browser's callback request waits for the token exchange, so
# its page can tell the real outcome; after that it gets a neutral page.
OUTCOME_WAIT = 60.0
WAIT_SLICE = 0.25  # the longest uninterruptible wait (see LoopbackServer.wait)

# A browser sends its request the moment it connects; a connection that has
# not delivered a whole request head by then is idle (a pre-connect) or hostile.
REQUEST_DEADLINE = 10.0
MAX_CONNECTIONS = 16  # at once; more are closed unanswered
MAX_REQUEST_HEAD = 64 * 1024  # request line and headers (cookies for 127.0.0.1 included)
MAX_PARAMETERS = 100  # in one callback query
RESPONSE_TIMEOUT = 10.0  # for writing a page (a few KB: the socket buffer takes it at once)

# A port someone else holds, or one we may not use (Windows' excluded ranges).
# Windows reports WSA codes (10048, 10013), not errno's EADDRINUSE (100 there).
_PORT_UNAVAILABLE = frozenset(
    code
    for code in (errno.EADDRINUSE, errno.EACCES, getattr(errno, "WSAEADDRINUSE", None), getattr(errno, "WSAEACCES", None))
    if code is not None
)


class CallbackRefused(ValueError):
    """A callback query that cannot be taken as an answer; str() says why."""


def parse_query(query: str) -> dict[str, str]:
    """The parameters of a callback query, or CallbackRefused.

    RFC 6749 §3.1: parameters must not be repeated. Taking the first or the
    last of two `state` (or `code`, `iss`) values would let whoever added one
    choose which is checked and which is used.
    """
    try:
        pairs = parse_qsl(query, keep_blank_values=True, errors="strict", max_num_fields=MAX_PARAMETERS)
    except UnicodeDecodeError:
        raise CallbackRefused("the redirect has parameters that are not UTF-8") from None
    except ValueError:  # more than max_num_fields
        raise CallbackRefused(f"the redirect carries more than {MAX_PARAMETERS} parameters") from None
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise CallbackRefused(f"the redirect repeats the parameter {name!r}")
        params[name] = value
    return params


def split_target(target: str) -> tuple[str, str]:
    """(path, query) of an HTTP request target; no urlsplit, which takes
    `//x` for a host and raises on `//[`."""
    path, _, query = target.partition("#")[0].partition("?")
    return path, query


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
    # Set by LoopbackServer._bind: the Host values this socket answers, and
    # the connection slots shared by every socket of one listener.
    allowed_hosts: frozenset[str] = frozenset()
    slots: threading.BoundedSemaphore

    def process_request(self, request, client_address) -> None:  # noqa: ANN001
        if not self.slots.acquire(blocking=False):
            self.shutdown_request(request)  # full: refuse rather than queue a thread
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:  # noqa: ANN001
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

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
        issuer_required: bool = True,
    ) -> None:
        self.host = host
        self.path = path
        self.state = state
        self.ports = ports
        self.expected_issuer = expected_issuer
        # Whether the provider declared it sends iss (RFC 9207): then a missing one is refused too.
        self.issuer_required = issuer_required
        self.is_complete = is_complete
        self.start_url: str | None = None
        self.port = 0
        # The short URL's path: unguessable, so only who was shown it can fetch it.
        self._start_path = "/" + secrets.token_urlsafe(32)
        self._start_claimed = False
        self._spoiled = False  # the short URL was fetched twice: see wait()
        self._servers: list[_Server] = []
        self._threads: list[threading.Thread] = []
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._lock = threading.Lock()
        self._result: Callback | None = None
        self._received = threading.Event()
        self._outcome: bytes | None = None
        self._outcome_ready = threading.Event()
        # Set once the browser that delivered the accepted callback has its
        # final page: the process must not exit (killing the daemon handler)
        # before that, or the user sees "connection reset" instead of the
        # outcome. One per accepted request, so a refused later request can
        # never release it.
        self._page_owed: threading.Event | None = None

    @property
    def redirect_uri(self) -> str:
        return f"http://{self.host}:{self.port}{self.path}"

    @property
    def local_url(self) -> str:
        """A short one-time URL that redirects to the provider (easy to copy over SSH,
        and what the browser gets on its command line instead of the request itself)."""
        return f"http://127.0.0.1:{self.port}{self._start_path}"

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
        bound = first.server_address[1]
        for server in servers:
            # The literal this socket was opened on, and the redirect URI's own
            # host: a page on a rebound DNS name sends its own name and gets nothing.
            literal = "127.0.0.1" if server.address_family == socket.AF_INET else "[::1]"
            server.allowed_hosts = frozenset({f"{literal}:{bound}", f"{self.host}:{bound}"})
            server.slots = self._slots
        self._servers = servers
        self.port = bound
        return True

    def close(self) -> None:
        self._outcome_ready.set()  # release a callback request still waiting
        owed = self._page_owed
        if owed is not None:
            owed.wait(PAGE_SEND_WAIT)
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
        """The accepted callback, or None when `timeout` seconds pass.

        Raises AuthorizationFailed when the short URL was fetched twice: one of
        the two was not the user's browser, and whoever it was holds a valid
        authorization request (state and PKCE challenge) that could end here
        with their own account.
        """
        # In short slices: on Windows (Python < 3.14) a lock wait cannot be
        # interrupted, so one 300-second wait would hold Ctrl-C back until it ends.
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if self._received.wait(max(0.0, min(WAIT_SLICE, left))):
                if self._spoiled:
                    raise AuthorizationFailed(
                        "the one-time local URL was opened twice, so another program or local user may have "
                        "this authorization request; integray-auth stopped it and saved nothing",
                        hint="Run the command again and open the new URL once "
                        "(--no-browser keeps it off the process list).",
                    )
                return self._result
            if left <= WAIT_SLICE:
                return None

    @property
    def result(self) -> Callback | None:
        return None if self._spoiled else self._result

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
        try:
            params = parse_query(parts.query)
        except CallbackRefused as refused:
            return str(refused)
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
        problem = iss_problem(params.get("iss"), self.expected_issuer, self.issuer_required)
        if problem:
            return problem
        if not self.is_complete(params):
            return "the redirect carries neither a code nor an error"
        return None

    def _accept(self, params: dict[str, str], browser_waiting: bool = False) -> threading.Event | bool:
        """Record the one result; with browser_waiting, the Event to set once its page is sent."""
        with self._lock:
            if self._result is not None or self._spoiled:
                return False
            self._result = Callback(params=params)
            owed: threading.Event | bool = True
            if browser_waiting:
                owed = self._page_owed = threading.Event()  # before anyone can see the result and close
        self._received.set()
        return owed

    def _claim_start(self) -> str | None:
        """The provider URL for the first fetch of the short URL; None after that."""
        with self._lock:
            if self.start_url is None:
                return None
            if not self._start_claimed:
                self._start_claimed = True
                return self.start_url
            if self._result is None:
                self._spoiled = True
        if self._spoiled:
            self._received.set()
        return None

    def _handler_class(self):
        listener = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "integray-auth"
            sys_version = ""
            timeout = REQUEST_DEADLINE

            def handle(self) -> None:
                # The whole request head within one deadline, not one timeout per
                # read: a client trickling a byte every few seconds is cut off too.
                head = _read_head(self.connection, time.monotonic() + REQUEST_DEADLINE)
                self.connection.settimeout(RESPONSE_TIMEOUT)
                if head is None:
                    return  # too slow, or closed: nothing worth answering
                if len(head) > MAX_REQUEST_HEAD:
                    self.requestline, self.request_version, self.command = "", "HTTP/1.0", ""
                    self._send(431, pages.bad_request("The request is too large."))
                    return
                self.rfile = io.BytesIO(head)
                super().handle()

            def do_GET(self) -> None:  # noqa: N802
                hosts = self.headers.get_all("Host") or []
                if len(hosts) != 1 or hosts[0].strip().lower() not in self.server.allowed_hosts:
                    self._send(421, pages.misdirected())
                    return
                path, query = split_target(self.path)
                if path == listener._start_path and not query:
                    start = listener._claim_start()
                    if start is None:
                        self._send(410, pages.start_used())
                    else:
                        self._send(302, b"", location=start)
                    return
                if path != listener.path:
                    self._send(404, pages.not_found())
                    return
                try:
                    params = parse_query(query)
                except CallbackRefused as refused:
                    self._send(400, pages.bad_request(_sentence(str(refused))))
                    return
                problem = listener._check(params)
                if problem:
                    self._send(400, pages.bad_request(_sentence(problem)))
                    return
                # Record the result before answering: the browser may be a
                # program that the CLI is blocked on (webbrowser waits for it).
                owed = listener._accept(params, browser_waiting=True)
                if not owed:
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
                    owed.set()

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


def _sentence(text: str) -> str:
    return text[0].upper() + text[1:] + "."


def _read_head(connection: socket.socket, deadline: float) -> bytes | None:
    """The request up to its blank line (or what came before the client closed,
    or more than MAX_REQUEST_HEAD); None when the deadline passes first."""
    head = b""
    while b"\r\n\r\n" not in head and b"\n\n" not in head and len(head) <= MAX_REQUEST_HEAD:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        connection.settimeout(left)
        try:
            chunk = connection.recv(8192)
        except (TimeoutError, socket.timeout):
            return None
        except OSError:
            return None
        if not chunk:
            break
        head += chunk
    return head


class PortBusyError(NetworkError):
    pass
