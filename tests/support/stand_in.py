"""Tiny loopback HTTP stand-ins for endpoints no real server covers in tests
(Reservanto's protocol, a token endpoint answering odd things)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class QuietHandler(BaseHTTPRequestHandler):
    def send_json(self, status: int, body: dict | str) -> None:
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def read_body(self) -> bytes:
        return self.rfile.read(int(self.headers["Content-Length"]))

    def log_message(self, *args) -> None:
        pass


class StandIn:
    """What every stand-in shares: its constructor sets `server` (see serve()); close() ends it."""

    server: ThreadingHTTPServer

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def running(stand_in):
    """A fixture's body (`yield from running(...)`): the stand-in for the test, closed after it."""
    try:
        yield stand_in
    finally:
        stand_in.close()


class CountingEndpoint(StandIn):
    """A token endpoint (or the host a hostile overlay names) that counts every connection,
    before any request is read, and answers any GET or POST with `access_token`."""

    def __init__(self, access_token: str) -> None:
        self.connections = 0
        counter = self

        class Handler(QuietHandler):
            def setup(self):
                counter.connections += 1
                super().setup()

            def do_POST(self):  # noqa: N802
                if "Content-Length" in self.headers:
                    self.read_body()
                self.send_json(200, {"access_token": access_token, "token_type": "Bearer", "expires_in": 3600})

            do_GET = do_POST

        self.server, self.url = serve(Handler)


def serve(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, str]:
    """Serve `handler` on 127.0.0.1 in a daemon thread; return the server and its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def trickle(handler: BaseHTTPRequestHandler, data: bytes, stop: threading.Event, every: float = 1.0) -> int:
    """Write `data` to the client one byte every `every` seconds (a server that
    never times out any single read); stop early when `stop` is set or the
    client has gone. Returns how many bytes were sent."""
    sent = 0
    for byte in data:
        if stop.is_set():
            break
        try:
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
        except OSError:  # the client hung up
            break
        sent += 1
        stop.wait(every)
    return sent


def flood(handler: BaseHTTPRequestHandler, head: bytes, filler: bytes, size: int, tail: bytes, chunked: bool) -> int:
    """Answer 200 with a JSON body of `size` bytes (head + filler... + tail),
    generated as it is sent, with Content-Length or chunked; stop when the
    client hangs up. Returns how many body bytes the client accepted."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    if chunked:
        handler.send_header("Transfer-Encoding", "chunked")
    else:
        handler.send_header("Content-Length", str(size))
    handler.end_headers()
    block = filler * (64 * 1024 // len(filler))
    sent = 0
    pieces = [head] if head else []  # an empty chunk would end a chunked body
    remaining = size - len(head) - len(tail)
    try:
        while True:
            for piece in pieces:
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                sent += len(piece)
            if remaining <= 0:
                break
            step = block[: min(len(block), remaining)]
            remaining -= len(step)
            pieces = [step] if remaining > 0 else [step, tail]
        if chunked:
            handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()
    except OSError:  # refused: the client closed the connection
        pass
    return sent
