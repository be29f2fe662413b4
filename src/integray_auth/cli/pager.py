"""Long text for a person goes through their pager (`PAGER`, else `less -FRX`),
as git and gh do; never when stdout is not a terminal, never with --no-pager.

`less -F` quits at once when the text fits on one screen, `-R` keeps the bold
headers, `-X` leaves the text on the screen afterwards.
"""

from __future__ import annotations

import contextlib
import io
import shlex
import subprocess
from typing import Iterator

from ..context import AppContext

DEFAULT_PAGER = "less -FRX"


class _TerminalBuffer(io.StringIO):
    """Collects the output as it would be written to the terminal (same styles)."""

    def isatty(self) -> bool:
        return True


@contextlib.contextmanager
def paged(ctx: AppContext, enabled: bool = True) -> Iterator[None]:
    """Within this block, ctx.stdout is collected; on success it goes to the pager."""
    if not enabled or not ctx.stdout_is_terminal:
        yield
        return
    real, buffer = ctx.stdout, _TerminalBuffer()
    ctx.stdout = buffer
    try:
        yield
    finally:
        ctx.stdout = real
    show(ctx, buffer.getvalue())


def show(ctx: AppContext, text: str) -> None:
    command = ctx.environ.get("PAGER", DEFAULT_PAGER)
    try:
        argv = shlex.split(command)
    except ValueError:
        argv = []
    if not argv:  # PAGER="" means no pager, as for git
        ctx.stdout.write(text)
        return
    # The pager needs none of our variables (client secrets may be among them).
    env = {k: v for k, v in ctx.environ.items() if not k.startswith("INTEGRAY_AUTH_")}
    env.setdefault("LESS", "FRX")  # also when PAGER=less, like gh
    ctx.stdout.flush()
    try:
        pager = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=ctx.stdout, env=env, encoding="utf-8", errors="replace")
    except (OSError, ValueError):  # no such pager (no less on Windows): print it ourselves
        ctx.stdout.write(text)
        return
    try:
        pager.stdin.write(text)
        pager.stdin.close()
    except (BrokenPipeError, OSError):
        pass  # the person quit the pager before the end
    while True:
        try:
            pager.wait()
            return
        except KeyboardInterrupt:
            continue  # Ctrl-C belongs to the pager (less scrolls back); wait for it to quit
