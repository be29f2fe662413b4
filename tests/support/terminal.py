"""Drive the installed command on a real pseudo-terminal, as a person would.

`Terminal` starts the command with a pty as its stdin, stdout and stderr, a
window size (rows x columns) and TERM=xterm, answers the terminal queries a
real emulator answers (cursor position, for prompt_toolkit), and lets a test
wait for text, type keys and collect the exit code.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time

from tests.support.cli import SCRIPT

_ESCAPE = re.compile(r"\x1b\[[0-9;?<>=]*[A-Za-z~]|\x1b[()][A-Za-z0-9]|\x1b[=>78MDEc]|\x1b\][^\x07]*\x07|\r")
CPR_QUERY = b"\x1b[6n"
CTRL_C, CTRL_D, ENTER, TAB = "\x03", "\x04", "\r", "\t"


def plain(text: str) -> str:
    """The text without escape sequences and carriage returns."""
    return _ESCAPE.sub("", text)


class Terminal:
    def __init__(self, args: list[str], env: dict | None = None, columns: int = 100, rows: int = 40,
                 term: str = "xterm", stdin_tty: bool = True) -> None:
        controller, terminal = pty.openpty()
        fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        full = {**os.environ, "NO_COLOR": "1", "TERM": term}
        full.pop("COLUMNS", None)
        full.pop("LINES", None)
        for key, value in (env or {}).items():
            if value is None:
                full.pop(key, None)
            else:
                full[key] = value
        self.process = subprocess.Popen(
            [str(SCRIPT), *args],
            stdin=terminal if stdin_tty else subprocess.DEVNULL,
            stdout=terminal, stderr=terminal, env=full, close_fds=True, start_new_session=True,
            # The pty as the session's controlling terminal, as a real one is: Ctrl-C typed
            # while nothing reads raw keys (a wait) is then SIGINT, not a plain byte.
            preexec_fn=(lambda: fcntl.ioctl(1, termios.TIOCSCTTY, 0)) if stdin_tty else None,
        )
        os.close(terminal)
        self.controller = controller
        self.raw = b""
        self.mark = 0  # expect() looks at what came after the last match
        self.closed = False
        # What a person would see: a VT100 emulator fed with the same bytes.
        import pyte

        self._screen = pyte.Screen(columns, rows)
        self._stream = pyte.ByteStream(self._screen)

    # -- reading -----------------------------------------------------------------------------

    def _read(self, timeout: float) -> bool:
        if self.closed:
            return False
        ready, _, _ = select.select([self.controller], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.controller, 65536)
        except OSError:  # EIO: every end of the terminal is closed
            chunk = b""
        if not chunk:
            self.closed = True
            return False
        queries = (self.raw[-8:] + chunk).count(CPR_QUERY) - self.raw[-8:].count(CPR_QUERY)
        self.raw += chunk
        self._stream.feed(chunk)
        for _ in range(queries):
            os.write(self.controller, b"\x1b[1;1R")
        return True

    @property
    def text(self) -> str:
        return plain(self.raw.decode("utf-8", "replace"))

    def screen(self) -> list[str]:
        """The lines the terminal's window shows now, without trailing blanks."""
        return [line.rstrip() for line in self._screen.display]

    def screen_text(self) -> str:
        return "\n".join(self.screen()).strip("\n")

    def cursor_line(self) -> str:
        return self._screen.display[self._screen.cursor.y].rstrip()

    def expect(self, wanted: str, timeout: float = 20) -> str:
        """Wait until `wanted` appears after the previous match; return the text up to it."""
        wanted = wanted.rstrip()  # a prompt's trailing space may be drawn as a cursor move
        deadline = time.monotonic() + timeout
        while True:
            text = self.text
            found = text.find(wanted, self.mark)
            if found >= 0:
                before = text[self.mark:found + len(wanted)]
                self.mark = found + len(wanted)
                return before
            left = deadline - time.monotonic()
            if left <= 0 or (self.closed and not self._read(0)):
                raise AssertionError(f"{wanted!r} not shown within {timeout}s; the terminal shows:\n{text}")
            self._read(min(left, 0.5))

    def settle(self, quiet: float = 0.4, timeout: float = 10) -> str:
        """Read until nothing new arrives for `quiet` seconds; return what came since the mark."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            before = len(self.raw)
            self._read(quiet)
            if len(self.raw) == before:
                break
        text = self.text
        new = text[self.mark:]
        self.mark = len(text)
        return new

    # -- writing -----------------------------------------------------------------------------

    def type(self, keys: str, pause: float = 0.05) -> None:
        for key in keys:
            os.write(self.controller, key.encode())
            time.sleep(pause)
            self._read(0)

    def send(self, text: str) -> None:
        os.write(self.controller, text.encode())

    # -- the end -----------------------------------------------------------------------------

    def wait(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while not self.closed and time.monotonic() < deadline:
            self._read(0.2)
            if self.process.poll() is not None:
                self._read(0.2)
                break
        try:
            return self.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the command did not end within {timeout}s; the terminal shows:\n{self.text}") from None

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        try:
            os.close(self.controller)
        except OSError:
            pass

    def __enter__(self) -> "Terminal":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_terminal(controller: int, timeout: float):
    """Yield what the command writes to its terminal until it closes it (EOF, or EIO on Linux);
    raise TimeoutError after `timeout` seconds with nothing to read."""
    while True:
        ready, _, _ = select.select([controller], [], [], timeout)
        if not ready:
            raise TimeoutError(f"no output for {timeout}s")
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: the command closed the terminal
            return
        if not chunk:
            return
        yield chunk


def run_in_terminal(args: list[str], answers: list[tuple[str, str]], timeout: float = 20) -> tuple[int, str]:
    """Run the command on a pty; answer each prompt once its text appears."""
    controller, terminal = pty.openpty()
    env = {**os.environ, "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "200"}
    process = subprocess.Popen([str(SCRIPT), *args], stdin=terminal, stdout=terminal, stderr=terminal, env=env, close_fds=True)
    os.close(terminal)
    seen, pending = "", list(answers)
    try:
        for chunk in read_terminal(controller, timeout):
            seen += chunk.decode("utf-8", "replace")
            if pending and pending[0][0] in seen.rsplit("\n", 1)[-1]:
                os.write(controller, (pending.pop(0)[1] + "\n").encode())
    except TimeoutError:
        raise AssertionError(f"no output for {timeout}s; so far:\n{seen}") from None
    finally:
        os.close(controller)
        code = process.wait(timeout=timeout)
    assert not pending, f"prompts never shown: {pending}; output:\n{seen}"
    return code, re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", seen)
