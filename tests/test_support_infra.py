"""The test infrastructure itself (tests/support), checked against the real parts.

A small loopback listener stands in for the CLI here, so these tests need nothing from
src/: if one fails, the fault is in the server, a browser, the keyring session or a fixture.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import requests

from tests.support.plugin import require
from tests.support.stand_in import StandIn, running

CALLBACK_PAGE = "Signed in. You can close this tab."


class Loopback(StandIn):
    """A one-purpose stand-in for the CLI's listener: records every request it gets and
    answers /callback with 200 and anything else with 404."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.callback = threading.Event()
        self.state = secrets.token_urlsafe(16)
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                recorder.requests.append(self.path)
                found = urllib.parse.urlsplit(self.path).path == "/callback"
                body = (CALLBACK_PAGE if found else "not found").encode()
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                if found and query.get("state") == [recorder.state]:
                    recorder.callback.set()

            def log_message(self, format, *args):  # noqa: A002 - stdlib signature
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.redirect_uri = f"http://127.0.0.1:{self.server.server_port}/callback"
        # A short poll interval: shutdown() waits up to one interval (0.5 s by default).
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def params(self) -> dict[str, str]:
        """The query of the (correct-state) callback the listener received."""
        assert self.callback.wait(30), f"no callback with the right state; got {self.requests}"
        path = next(p for p in self.requests if f"state={self.state}" in p)
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(path).query))


@pytest.fixture
def loopback():
    yield from running(Loopback())


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_url(
    server, loopback: Loopback, challenge: str, client_id=None, scope="openid read write"
) -> str:
    query = {
        "response_type": "code",
        "client_id": client_id or server.client_id,
        "redirect_uri": loopback.redirect_uri,
        "scope": scope,
        "state": loopback.state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return f"{server.authorization_endpoint}?{urllib.parse.urlencode(query)}"


def open_like_the_cli(url: str, browser_env: dict[str, str]) -> float:
    """Open url the way the CLI will: webbrowser.open() in a process that has BROWSER set.
    Returns how long open() blocked."""
    code = (
        "import sys, time, webbrowser; t = time.monotonic(); ok = webbrowser.open(sys.argv[1]); "
        "print(time.monotonic() - t); sys.exit(0 if ok else 1)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, url],
        env={**os.environ, **browser_env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"webbrowser.open() failed: {done.stderr}"
    blocked = float(done.stdout)
    assert blocked < 5, f"webbrowser.open() blocked {blocked:.1f} s: the browser script must detach"
    return blocked


def redeem(server, code: str, loopback: Loopback, verifier: str, **extra) -> requests.Response:
    return requests.post(
        server.token_endpoint,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": loopback.redirect_uri,  # repeated exactly, port included
            "client_id": server.client_id,
            "code_verifier": verifier,
            **extra,
        },
        timeout=30,
    )


def authorize(server, loopback, browser, client_id=None, scope="openid read write", **options):
    """Run the browser part of a flow; returns (callback params, verifier, browser result)."""
    verifier, challenge = pkce_pair()
    open_like_the_cli(authorize_url(server, loopback, challenge, client_id, scope), browser.env(**options))
    params = loopback.params()
    return params, verifier, browser.result()


# --- the authorization server and http_browser --------------------------------------------


def test_public_client_full_flow(auth_server, http_browser, loopback):
    params, verifier, result = authorize(auth_server, loopback, http_browser)
    assert result == {
        "ok": True,
        "callback_url": f"{loopback.redirect_uri}?{urllib.parse.urlencode(params)}",
        "callback_status": 200,
        "callback_body": CALLBACK_PAGE,
        "prelude": {},
        "error": None,
    }

    token = redeem(auth_server, params["code"], loopback, verifier)
    assert token.status_code == 200, token.text
    tokens = token.json()
    assert tokens["scope"] == "openid read write"
    assert {"access_token", "refresh_token", "id_token"} <= set(tokens)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert requests.get(auth_server.userinfo_endpoint, headers=bearer, timeout=30).status_code == 200

    replay = redeem(auth_server, params["code"], loopback, verifier)
    assert replay.json()["error"] == "invalid_grant"

    refreshed = requests.post(
        auth_server.token_endpoint,
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": auth_server.client_id,
        },
        timeout=30,
    ).json()
    assert refreshed["refresh_token"] != tokens["refresh_token"]  # ROTATE_REFRESH_TOKEN
    assert requests.get(auth_server.userinfo_endpoint, headers=bearer, timeout=30).status_code == 401

    revoked = requests.post(
        auth_server.revocation_endpoint,
        data={
            "token": refreshed["refresh_token"],
            "token_type_hint": "refresh_token",
            "client_id": auth_server.client_id,
        },
        timeout=30,
    )
    assert revoked.status_code == 200
    new_bearer = {"Authorization": f"Bearer {refreshed['access_token']}"}
    assert requests.get(auth_server.userinfo_endpoint, headers=new_bearer, timeout=30).status_code == 401


def test_wrong_code_verifier_is_invalid_grant(auth_server, http_browser, loopback):
    params, _, _ = authorize(auth_server, loopback, http_browser)
    wrong_verifier, _ = pkce_pair()
    response = redeem(auth_server, params["code"], loopback, wrong_verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_confidential_client_checks_its_secret(auth_server, http_browser, loopback):
    params, verifier, _ = authorize(
        auth_server, loopback, http_browser, client_id=auth_server.confidential_client_id
    )
    extra = {"client_id": auth_server.confidential_client_id}

    wrong = redeem(auth_server, params["code"], loopback, verifier, client_secret="not-the-secret", **extra)
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"

    right = redeem(
        auth_server,
        params["code"],
        loopback,
        verifier,
        client_secret=auth_server.confidential_client_secret,
        **extra,
    )
    assert right.status_code == 200, right.text
    assert "access_token" in right.json()


def test_grant_scopes_narrows_the_token(auth_server, http_browser, loopback):
    params, verifier, _ = authorize(
        auth_server, loopback, http_browser, scope="openid read write", grant_scopes=["read"]
    )
    tokens = redeem(auth_server, params["code"], loopback, verifier).json()
    assert tokens["scope"] == "read"


def test_deny_sends_access_denied(auth_server, http_browser, loopback):
    params, _, result = authorize(auth_server, loopback, http_browser, approve=False)
    assert params["error"] == "access_denied"
    assert "code" not in params
    assert result["ok"] and result["callback_status"] == 200


def test_prelude_requests_come_first(auth_server, http_browser, loopback):
    params, _, result = authorize(
        auth_server, loopback, http_browser, prelude=["favicon", "wrong_state", "missing_state"]
    )
    assert result["prelude"] == {"favicon": 404, "wrong_state": 200, "missing_state": 200}
    favicon, wrong_state, missing_state, callback = loopback.requests
    assert favicon == "/favicon.ico"
    assert "state=wrong-state" in wrong_state and "state=" not in missing_state
    assert f"code={params['code']}" in missing_state and f"state={loopback.state}" in callback


def test_no_callback_never_reaches_the_listener(auth_server, http_browser, loopback):
    _, challenge = pkce_pair()
    open_like_the_cli(authorize_url(auth_server, loopback, challenge), http_browser.env(no_callback=True))
    result = http_browser.result()
    assert result["ok"] and result["callback_status"] is None
    assert "code=" in result["callback_url"]
    assert loopback.requests == []


def test_wrong_password_is_reported(auth_server, http_browser, loopback):
    _, challenge = pkce_pair()
    open_like_the_cli(authorize_url(auth_server, loopback, challenge), http_browser.env(password="wrong"))
    result = http_browser.result()
    assert not result["ok"] and "login as 'alice' failed" in result["error"]


def test_short_lived_tokens(auth_server_factory, http_browser, loopback):
    server = auth_server_factory(access_token_expire_seconds=1)
    params, verifier, _ = authorize(server, loopback, http_browser)
    tokens = redeem(server, params["code"], loopback, verifier).json()
    assert tokens["expires_in"] == 1
    time.sleep(1.1)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert requests.get(server.userinfo_endpoint, headers=bearer, timeout=30).status_code == 401


# --- chromium_browser ---------------------------------------------------------------------


@pytest.mark.browser
def test_chromium_full_flow(auth_server, chromium_browser, loopback, tmp_path):
    screenshot = tmp_path / "consent.png"
    params, verifier, result = authorize(
        auth_server, loopback, chromium_browser, grant_scopes="openid read", screenshot=screenshot
    )
    assert result["ok"], result["error"]
    assert result["callback_status"] == 200 and result["callback_body"] == CALLBACK_PAGE
    assert screenshot.read_bytes().startswith(b"\x89PNG")
    tokens = redeem(auth_server, params["code"], loopback, verifier).json()
    assert tokens["scope"] == "openid read"


# --- the private Secret Service -----------------------------------------------------------


@pytest.mark.real_keyring
def test_secret_service_round_trip(secret_service):
    service = f"integray-auth-selfcheck-{secrets.token_hex(4)}"
    code = (
        "import sys, keyring; "
        "keyring.set_password(sys.argv[1], 'alice', 's3cret'); "
        "print(type(keyring.get_keyring()).__module__, keyring.get_password(sys.argv[1], 'alice'))"
    )
    env = secret_service.subprocess_env()
    done = subprocess.run(
        [sys.executable, "-c", code, service], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["keyring.backends.SecretService", "s3cret"]

    require("secret-tool", "secret-tool is not installed (apt-get install libsecret-tools)")
    found = subprocess.run(
        ["secret-tool", "search", "--all", "service", service],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "secret = s3cret" in found.stdout
    assert "attribute.username = alice" in found.stderr  # secret-tool prints attributes on stderr


@pytest.mark.real_keyring
def test_secret_service_is_private(secret_service):
    env = secret_service.subprocess_env(
        {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring", "HOME": "/nonexistent"}
    )
    assert "PYTHON_KEYRING_BACKEND" not in env
    for name in ("DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR", "XDG_DATA_HOME", "XDG_CONFIG_HOME"):
        assert secret_service.root in env[name]


# --- require() ----------------------------------------------------------------------------


def test_require_skips_locally_and_fails_in_ci(monkeypatch):
    require(sys.executable, "the running interpreter")  # present: returns
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("INTEGRAY_TESTS_CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        require("python:no_such_module_here", "no_such_module_here is missing")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must install it"):
        require("/no/such/tool", "tool is missing")


# --- device flow, client credentials, oidc-provider: the servers the grant tests rely on ----

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def _device_code(server, scope="read"):
    answer = requests.post(
        server.device_authorization_endpoint, data={"client_id": server.device_client_id, "scope": scope}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def _poll(server, device_code):
    return requests.post(
        server.token_endpoint,
        data={"grant_type": DEVICE_GRANT, "device_code": device_code, "client_id": server.device_client_id},
        timeout=10,
    )


@pytest.mark.parametrize("chromium", [False, True], ids=["requests", "chromium"])
def test_device_flow_approved(auth_server, device_approver, chromium):
    code = _device_code(auth_server)
    assert code["verification_uri"] == auth_server.device_verification_uri
    assert _poll(auth_server, code["device_code"]).json() == {"error": "authorization_pending"}
    result = device_approver(code["verification_uri_complete"], code["user_code"], chromium=chromium)
    assert result["ok"], result
    tokens = _poll(auth_server, code["device_code"])
    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["scope"] == "read" and tokens.json()["refresh_token"]


def test_device_flow_denied(auth_server, device_approver):
    code = _device_code(auth_server)
    assert device_approver(code["verification_uri"], code["user_code"], approve=False)["ok"]
    assert _poll(auth_server, code["device_code"]).json() == {"error": "access_denied"}


def test_device_code_expires(auth_server_factory):
    server = auth_server_factory(device_expires_in=1)
    code = _device_code(server)
    assert code["expires_in"] == 1
    time.sleep(1.2)
    assert _poll(server, code["device_code"]).json() == {"error": "expired_token"}


def test_client_credentials_and_counts(auth_server_factory):
    server = auth_server_factory()
    answer = requests.post(
        server.token_endpoint,
        data={"grant_type": "client_credentials", "scope": "read"},
        auth=(server.machine_client_id, server.machine_client_secret),
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    assert "refresh_token" not in answer.json()
    wrong = requests.post(
        server.token_endpoint,
        data={"grant_type": "client_credentials"},
        auth=(server.machine_client_id, "wrong"),
        timeout=10,
    )
    assert wrong.status_code == 401
    assert server.counts()["token"] == {"client_credentials": 2}


def test_oidc_provider_private_key_jwt(oidc_provider):
    import uuid

    from jwcrypto import jwk, jwt

    key = jwk.JWK.from_pem(oidc_provider.private_key_pem.encode())
    now = int(time.time())
    claims = {"iss": oidc_provider.jwt_client_id, "sub": oidc_provider.jwt_client_id,
              "aud": oidc_provider.token_endpoint, "jti": uuid.uuid4().hex, "iat": now, "exp": now + 60}
    assertion = jwt.JWT(header={"alg": "RS256", "kid": "integray-test"}, claims=claims)
    assertion.make_signed_token(key)
    data = {
        "grant_type": "client_credentials",
        "scope": "read",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion.serialize(),
    }
    answer = requests.post(oidc_provider.token_endpoint, data=data, timeout=10)
    assert answer.status_code == 200, answer.text
    assert oidc_provider.introspect(answer.json()["access_token"])["active"] is True
    # The same assertion again is a replay (its jti was used): refused.
    replay = requests.post(oidc_provider.token_endpoint, data=data, timeout=10)
    assert replay.status_code in (400, 401), replay.text
    assert oidc_provider.counts()["token"]["client_credentials"] >= 2
