"""The terminal side of an authorization flow: the URL, a spinner with the
time left, and a way to paste the redirect URL when the browser runs on
another machine (SSH). Everything goes to stderr."""

from __future__ import annotations

import threading
import time

from ..context import AppContext, isatty
from ..grants.base import FlowUI
from ..oauth.loopback import Callback, LoopbackServer
from ..printable import escape


class TerminalFlowUI(FlowUI):
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.paste = isatty(ctx.stdin)

    def show_url(self, local_url: str, full_url: str, browser: bool) -> None:
        err = self.ctx.stderr
        lead = "Opening your browser to authorize. If it does not open, visit:" if browser else "Open this URL in a browser to authorize:"
        # The registry's URL and the client id are outside text: escaped.
        err.write(f"{lead}\n  {escape(local_url)}\n(full URL: {escape(full_url)})\n")
        if self.paste:
            err.write("If the browser runs on another machine, paste the URL it was redirected to here and press Enter.\n")
        err.flush()

    def browser_failed(self) -> None:
        self.ctx.stderr.write("Could not open a browser; open the URL above yourself. Still waiting.\n")
        self.ctx.stderr.flush()

    def notice(self, message: str) -> None:
        self.ctx.stderr.write(escape(message) + "\n")
        self.ctx.stderr.flush()

    def wait(self, listener: LoopbackServer, timeout: float) -> Callback | None:
        if self.paste:
            threading.Thread(target=self._read_pasted, args=(listener,), daemon=True).start()
        if not isatty(self.ctx.stderr):
            return listener.wait(timeout)
        from rich.console import Console

        console = Console(file=self.ctx.stderr)
        deadline = time.monotonic() + timeout
        with console.status("") as status:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return listener.result
                minutes, seconds = divmod(int(left), 60)
                status.update(f"Waiting for the provider's answer ({minutes}:{seconds:02d} left, Ctrl-C to stop)")
                result = listener.wait(min(1.0, left))
                if result is not None:
                    return result

    def _read_pasted(self, listener: LoopbackServer) -> None:
        while listener.result is None:
            line = self.ctx.stdin.readline()
            if not line:
                return  # end of input: the browser redirect is the only way in
            if not line.strip():
                continue
            problem = listener.offer(line)
            if problem:
                self.notice(f"That URL was not accepted: {problem}. Paste the whole URL from the browser's address bar.")
