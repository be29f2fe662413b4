"""Opening the user's browser without handing it anything of ours.

The browser, and whatever BROWSER names, is a program we do not control: it
must not inherit the client secret (INTEGRAY_AUTH_<PROVIDER>_CLIENT_SECRET)
or any other setting the tool reads from its environment. `webbrowser` has
no way to pass an environment to the programs it starts, and removing the
variables from os.environ around the call would change them for every
thread of this process (the listener's, the paste reader's) and is not safe
next to C code reading the environment at the same time. So a small child
Python, started with a scrubbed copy of the environment, does the opening:
`webbrowser`'s platform logic (BROWSER, xdg-open, macOS, Windows) stays
whole, and nothing in this process changes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Mapping

# Every variable of the tool's own is removed, not just today's secrets: a
# browser needs none of them, and a secret added later is covered at once.
from ..childenv import OWN_PREFIX, child_environment  # noqa: F401 - one scrub function for every child

# Run with -I (isolated mode), so neither the working directory (a planted
# webbrowser.py) nor PYTHON* variables or user site-packages reach it. Ctrl-C
# reaches it too (same process group): it ends quietly, with no traceback of
# its own on our stderr, as does a broken BROWSER setting.
_OPENER = """\
import signal, sys, webbrowser
signal.signal(signal.SIGINT, signal.SIG_DFL)
try:
    opened = webbrowser.open(sys.argv[1])
except Exception:
    opened = False
sys.exit(0 if opened else 1)
"""


def open_url(url: str, environ: Mapping[str, str] | None = None) -> bool:
    """Open url in the user's browser; False when no browser could be started.

    Waits as `webbrowser.open` does (for a BROWSER program, until it exits).
    The browser's stdout goes to our stderr: stdout carries only data.
    """
    if not sys.executable:
        return False
    env = child_environment(os.environ if environ is None else environ)
    try:
        stdout = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        stdout = subprocess.DEVNULL
    try:
        # No stdin either: under `mcp proxy` ours is the agent's MCP stream.
        done = subprocess.run(
            [sys.executable, "-I", "-c", _OPENER, url], env=env, stdin=subprocess.DEVNULL, stdout=stdout, check=False
        )
    except OSError:
        return False
    return done.returncode == 0
