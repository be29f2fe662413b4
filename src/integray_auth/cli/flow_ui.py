"""The terminal side of an authorization flow: the URL, the time left, and a
way to paste the redirect URL when the browser runs on another machine (SSH).
Everything goes to stderr.

Where a person can paste, nothing redraws the screen while they type: one
status line, then a plain prompt, so the pasted text stays visible and stable.
A spinner is used only when stdin is not a terminal (nobody types)."""

from __future__ import annotations

import math
import threading
import time

from rich.console import Console

from ..context import AppContext, isatty
from ..grants.base import FlowUI
from ..lean.printable import escape
from ..oauth.loopback import Callback, LoopbackServer

PASTE_PROMPT = "Redirect URL (paste it here, then Enter): "


class TerminalFlowUI(FlowUI):
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.paste = isatty(ctx.stdin)
        self._lock = threading.Lock()
        self._line_open = False  # the paste prompt is on screen, waiting for Enter

    def show_url(self, local_url: str, full_url: str, browser: bool) -> None:
        err = self.ctx.stderr
        # The registry's URL and the client id are outside text: escaped.
        if browser:
            err.write(
                "Opening your browser to authorize. If it does not open, visit:\n"
                f"  {escape(local_url)}\n(full URL: {escape(full_url)})\n"
            )
        else:
            # The short URL is the loopback listener: it works only on this machine.
            # With --no-browser the browser is often elsewhere (SSH), so the full URL comes first.
            err.write(
                "Open this URL in a browser to authorize (on this or any other machine):\n"
                f"  {escape(full_url)}\n"
                "On this machine, this short one-time link works too:\n"
                f"  {escape(local_url)}\n"
            )
        if self.paste:
            err.write(
                "If the browser runs on another machine, its last page will not load: paste the URL it was "
                "redirected to (from its address bar) here and press Enter.\n"
            )
        err.flush()

    def browser_failed(self) -> None:
        self.notice("Could not open a browser; open the URL above yourself. Still waiting.")

    def notice(self, message: str) -> None:
        with self._lock:
            self._close_line()
            self.ctx.stderr.write(escape(message) + "\n")
            self.ctx.stderr.flush()

    def wait(self, listener: LoopbackServer, timeout: float) -> Callback | None:
        if self.paste:
            return self._wait_with_paste(listener, timeout)
        if not isatty(self.ctx.stderr):
            return listener.wait(timeout)
        # Nobody types here (stdin is not a terminal): a spinner with the time left is fine.

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

    def _wait_with_paste(self, listener: LoopbackServer, timeout: float) -> Callback | None:
        """One static status line, then a prompt that nothing redraws: what is
        typed or pasted stays visible and in place (no spinner over it)."""
        until = time.strftime("%H:%M:%S", time.localtime(time.time() + timeout))
        minutes = f"{timeout / 60:g} minute{'' if timeout == 60 else 's'}" if timeout >= 60 else f"{int(timeout)} seconds"
        err = self.ctx.stderr
        err.write(f"Waiting up to {minutes} (until {until}) for the provider's answer; Ctrl-C stops.\n")
        self._open_line()
        threading.Thread(target=self._read_pasted, args=(listener,), daemon=True).start()
        deadline = time.monotonic() + timeout
        try:
            while True:  # in steps, so Ctrl-C is seen at once everywhere
                left = deadline - time.monotonic()
                if left <= 0:
                    return listener.result
                result = listener.wait(min(1.0, left))
                if result is not None:
                    return result
        finally:
            with self._lock:
                self._close_line()

    def _open_line(self) -> None:
        self.ctx.stderr.write(PASTE_PROMPT)
        self.ctx.stderr.flush()
        self._line_open = True

    def _close_line(self) -> None:
        """End the prompt's line, so what comes next starts on a fresh one."""
        if self._line_open:
            self.ctx.stderr.write("\n")
            self.ctx.stderr.flush()
            self._line_open = False

    def show_device_code(self, verification_uri: str, user_code: str, verification_uri_complete: str | None, seconds_left: float) -> None:
        # All three come from the provider's answer: checked there, escaped here.

        minutes, seconds = divmod(max(0, math.ceil(seconds_left)), 60)
        lines = [
            "To authorize, open this page in a browser on any device:",
            f"  {escape(verification_uri)}",
            f"and enter the code: {escape(user_code)}",
        ]
        if verification_uri_complete:
            lines.append(f"(or open {escape(verification_uri_complete)} , which has the code in it)")
        lines.append(f"Waiting for the approval ({minutes}:{seconds:02d} left, Ctrl-C to stop)...")
        self.ctx.stderr.write("\n".join(lines) + "\n")
        self.ctx.stderr.flush()

    def _read_pasted(self, listener: LoopbackServer) -> None:
        while listener.result is None:
            line = self.ctx.stdin.readline()
            if not line:
                return  # end of input: the browser redirect is the only way in
            with self._lock:
                self._line_open = False  # Enter moved the cursor to a new line
            if listener.result is not None:
                return
            problem = listener.offer(line) if line.strip() else None
            with self._lock:
                if problem:
                    self.ctx.stderr.write(
                        f"That URL was not accepted: {escape(problem)}. Paste the whole URL from the browser's address bar.\n"
                    )
                if listener.result is None:
                    self._open_line()
