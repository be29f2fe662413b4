"""A BROWSER for authorization servers that approve at once (the MCP conformance
suite's, or a test server told to): it opens the URL and follows the redirects,
the last of which reaches integray-auth's loopback listener, as a person's
browser would. Exit 0 when the listener answered.

Run as `BROWSER` (through a shim: webbrowser runs it with the URL as its argument).
Like a real browser it returns at once: integray-auth waits for the BROWSER program
to exit before it waits for the callback, and the listener answers the callback
only after the code exchange, so the opening runs in a detached child.
"""

from __future__ import annotations

import sys

import requests


def main(url: str) -> int:
    try:
        answer = requests.get(url, timeout=30, allow_redirects=True)
    except requests.RequestException as exc:
        print(f"redirect_browser: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0 if answer.status_code < 500 else 1


def launch(url: str) -> int:
    import subprocess

    subprocess.Popen(
        [sys.executable, __file__, "--open", url], start_new_session=True,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--open":
        sys.exit(main(sys.argv[2]))
    sys.exit(launch(sys.argv[-1]))
