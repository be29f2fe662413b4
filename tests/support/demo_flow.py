"""Demo of the test infrastructure: one whole login, as the CLI will do it, with timings.

    .venv/bin/python -m tests.support.demo_flow [--browser http|chromium] [--deny] [--grant-scopes "read"]

It starts the authorization server and a private Secret Service, serves a loopback listener,
opens the authorization URL with webbrowser (BROWSER = a test browser), redeems the code with
PKCE, stores the tokens in the keyring, refreshes, revokes, and stops everything it started.
Run it from the repository root. It reads no keyring of yours: the one it uses is private.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.server
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import webbrowser
from pathlib import Path

import requests

from tests.support.keyring_session import KeyringSession
from tests.support.plugin import CHROMIUM_BROWSER, HTTP_BROWSER, ScriptedBrowser, running_auth_server

started = time.monotonic()


def step(message: str) -> None:
    print(f"{time.monotonic() - started:6.2f} s  {message}", flush=True)


class CallbackListener(http.server.HTTPServer):
    """127.0.0.1:0, /callback only; serves in a thread BEFORE the browser is opened, so a
    BROWSER command that blocks cannot deadlock the flow (oauth-server.md 5.3)."""

    def __init__(self) -> None:
        self.params: dict[str, str] = {}
        self.done = threading.Event()
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                if url.path != "/callback" or listener.done.is_set():
                    self.send_error(404)
                    return
                # Record the answer before writing the page: the browser may drop the connection.
                listener.params = dict(urllib.parse.parse_qsl(url.query))
                listener.done.set()
                body = b"Demo: you can close this tab."
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format, *args):  # noqa: A002 - stdlib signature
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.redirect_uri = f"http://127.0.0.1:{self.server_port}/callback"
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()


def login(server, keyring_session: KeyringSession, browser: ScriptedBrowser) -> int:
    """The CLI's part: listener, browser, code exchange, keyring, refresh, revoke."""
    listener = CallbackListener()
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state = secrets.token_urlsafe(16)
    query = {
        "response_type": "code",
        "client_id": server.client_id,
        "redirect_uri": listener.redirect_uri,
        "scope": "openid read write offline_access",
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    opened = webbrowser.open(f"{server.authorization_endpoint}?{urllib.parse.urlencode(query)}")
    step(f"webbrowser.open() -> {opened}; {browser.script.name} signs in as {server.username}")
    try:
        if not listener.done.wait(60):
            step(f"no callback; browser says {browser.result(timeout=1)}")
            return 1
    finally:
        listener.shutdown()
        listener.server_close()
    params = listener.params
    step(
        f"callback received: {sorted(params)}; state matches: {secrets.compare_digest(params.get('state', ''), state)}"
    )
    result = browser.result()
    step(
        f"browser result: ok={result['ok']} callback_status={result['callback_status']} error={result['error']}"
    )
    if "error" in params:
        step(f"the provider refused: {params['error']}")
        return 0

    token_request = {"client_id": server.client_id}
    redeem = {
        "grant_type": "authorization_code",
        "code": params["code"],
        "redirect_uri": listener.redirect_uri,
        "code_verifier": verifier,
    }
    tokens = requests.post(server.token_endpoint, data={**token_request, **redeem}, timeout=30).json()
    step(f"tokens: {sorted(tokens)}, scope {tokens['scope']!r}, expires_in {tokens['expires_in']}")

    store = (
        "import sys, keyring; "
        "keyring.set_password('integray-auth:demo', 'demo', sys.stdin.read()); "
        "print(type(keyring.get_keyring()).__module__, len(keyring.get_password('integray-auth:demo', 'demo')))"
    )
    stored = subprocess.run(
        [sys.executable, "-c", store],
        input=json.dumps(tokens),
        env=keyring_session.subprocess_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    step(f"stored in the keyring by a subprocess: backend, length = {stored.stdout.split()}")

    refreshed = requests.post(
        server.token_endpoint,
        data={**token_request, "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        timeout=30,
    ).json()
    step(f"refreshed; refresh token rotated: {refreshed['refresh_token'] != tokens['refresh_token']}")
    revoked = requests.post(
        server.revocation_endpoint,
        data={**token_request, "token": refreshed["refresh_token"], "token_type_hint": "refresh_token"},
        timeout=30,
    )
    step(f"revoked: HTTP {revoked.status_code}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--browser", choices=("http", "chromium"), default="http")
    parser.add_argument("--deny", action="store_true", help="click Cancel on the consent page")
    parser.add_argument("--grant-scopes", help="grant only these scopes (space-separated)")
    args = parser.parse_args()

    with (
        running_auth_server() as server,
        KeyringSession() as keyring_session,
        tempfile.TemporaryDirectory() as tmp,
    ):
        step(
            f"authorization server at {server.issuer}; private Secret Service on {keyring_session.env['DBUS_SESSION_BUS_ADDRESS']}"
        )
        script = CHROMIUM_BROWSER if args.browser == "chromium" else HTTP_BROWSER
        browser = ScriptedBrowser(script, Path(tmp) / "browser", can_hold_callback=args.browser == "http")
        # This process is the "CLI": webbrowser reads BROWSER on first use, so set it now.
        os.environ.update(browser.env(approve=not args.deny, grant_scopes=args.grant_scopes))
        try:
            status = login(server, keyring_session, browser)
        finally:
            browser.kill()
    step("stopped the server, the Secret Service and the browser")
    return status


if __name__ == "__main__":
    sys.exit(main())
