"""End to end: the device flow (RFC 8628) of the installed `integray-auth`
against the real test server (django-oauth-toolkit, client integray-cli-device),
the code approved (or denied) by another "person" in real headless Chromium or
over plain HTTP while the command polls, tokens in a real GNOME Keyring.

Each test starts the command with Popen, reads its stderr until the code
appears, then acts on the server's page, as a user would on their phone.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.support.cli import SCRIPT, assert_no_crash
from tests.support.overlays import BROWSER_ENDPOINTS, provider, write_overlay

pytestmark = pytest.mark.e2e

NO_DISPLAY = ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER")


def device_overlay(server, path: Path, extra: str = "") -> Path:
    return write_overlay(path, provider(
        "localdevice", "Local Test Server", server, endpoints=(*BROWSER_ENDPOINTS, "device_authorization_url"),
        fields=f'client_id = "{server.device_client_id}"\ngrants = ["authorization_code", "device_code"]\n{extra}'))


class Running:
    """The command in a subprocess, its stderr read line by line as it comes."""

    def __init__(self, args: list[str], env: dict) -> None:
        full = {k: v for k, v in {**os.environ, **env}.items() if v is not None}
        self.process = subprocess.Popen(
            [str(SCRIPT), *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=full,
        )
        self.lines: list[str] = []
        self.changed = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stderr:
            with self.changed:
                self.lines.append(line)
                self.changed.notify_all()

    @property
    def stderr(self) -> str:
        return "".join(self.lines)

    def code_shown(self, timeout: float = 30) -> tuple[str, str, str | None]:
        """(verification URL, user code, verification URL with the code) once shown."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while "Waiting for the approval" not in self.stderr:
                left = deadline - time.monotonic()
                if left <= 0 or self.process.poll() is not None and "Waiting" not in self.stderr:
                    raise AssertionError(f"no device code shown:\n{self.stderr}")
                self.changed.wait(min(left, 0.2))
        text = self.stderr
        url = re.search(r"on any device:\n  (\S+)\n", text).group(1)
        code = re.search(r"enter the code: (\S+)\n", text).group(1)
        complete = re.search(r"\(or open (\S+) , which has the code in it\)", text)
        return url, code, complete.group(1) if complete else None

    def finish(self, timeout: float = 60) -> tuple[int, str, str]:
        # Not communicate(): it would read stderr too, from under the reader thread.
        self.process.wait(timeout=timeout)
        stdout = self.process.stdout.read()
        self.reader.join(10)
        return self.process.returncode, stdout, self.stderr


def _cli(overlay: Path, *args: str, env: dict) -> Running:
    return Running(["--registry", str(overlay), *args], {**{name: None for name in NO_DISPLAY}, **env})


def _nothing_saved(cli, overlay: Path, home: Path) -> None:
    listed = cli("--registry", str(overlay), "list", "--all", "--json")
    assert listed.code == 0 and listed.json()["authorizations"] == [], listed.stdout
    assert not (home / "tokens-insecure.json").exists()


def test_device_flow_approved_in_chromium_keeps_tokens_in_the_real_keyring_and_token_works(
    cli, auth_server, device_approver, keyring_env, tmp_path, home
):
    overlay = device_overlay(auth_server, tmp_path / "providers.toml")
    before = auth_server.counts()["token"].get("refresh_token", 0)
    running = _cli(overlay, "add", "Device Dev", "-p", "localdevice", "-c", "reader", "--device", env=keyring_env)

    url, code, complete = running.code_shown()
    assert url == auth_server.device_verification_uri
    assert complete == f"{auth_server.device_verification_uri}?user_code={code}"
    approved = device_approver(complete, code, chromium=True)
    status, stdout, stderr = running.finish()

    assert approved["ok"], approved
    assert_no_crash(stderr)
    assert status == 0, stderr
    assert stdout == ""
    assert "Authorized 'Device Dev' with Local Test Server." in stderr
    assert "insecure" not in stderr
    state = cli("--registry", str(overlay), "show", "Device Dev", "--json", env=keyring_env).json()["authorization"]
    assert state["status"] == "authorized" and state["storage"] == "keyring"
    assert sorted(state["granted_scopes"]) == ["openid", "read"]
    entry, = json.loads((home / "index.json").read_text())["authorizations"]
    assert entry["grant"] == "device_code" and entry["client_id"] == auth_server.device_client_id

    token = cli("--registry", str(overlay), "token", "Device Dev", env=keyring_env)
    assert token.code == 0, token.stderr
    access = token.stdout.strip()
    assert access and access not in stderr and access not in (home / "index.json").read_text()
    me = requests.get(auth_server.userinfo_endpoint, headers={"Authorization": f"Bearer {access}"}, timeout=10)
    assert me.status_code == 200, me.text

    # Renewed like the browser flow's tokens: with the refresh token.
    refreshed = cli("--registry", str(overlay), "refresh", "Device Dev", env=keyring_env)
    assert refreshed.code == 0, refreshed.stderr
    assert auth_server.counts()["token"].get("refresh_token", 0) == before + 1
    again = cli("--registry", str(overlay), "token", "Device Dev", env=keyring_env).stdout.strip()
    assert again and again != access
    assert requests.get(auth_server.userinfo_endpoint, headers={"Authorization": f"Bearer {again}"}, timeout=10).status_code == 200


def test_a_provider_whose_code_exchange_wants_the_secret_runs_its_public_device_flow_without_one(
    cli, auth_server, device_approver, keyring_env, tmp_path, home
):
    # GitHub: the web flow's code exchange needs the client secret, its device
    # flow does not. No secret is known here (none in the keyring, no variable):
    # the device flow must not ask for one, the code flow still must.
    overlay = device_overlay(
        auth_server, tmp_path / "providers.toml",
        'client_auth = "client_secret_post"\nclient_secret_required = true\npublic_grants = ["device_code"]',
    )
    running = _cli(overlay, "add", "Public Device", "-p", "localdevice", "-c", "reader", "--device", env=keyring_env)
    url, code, _ = running.code_shown()
    assert device_approver(url, code)["ok"]
    status, _, stderr = running.finish()
    assert_no_crash(stderr)
    assert status == 0, stderr
    token = cli("--registry", str(overlay), "token", "Public Device", env=keyring_env)
    assert token.code == 0, token.stderr
    me = requests.get(auth_server.userinfo_endpoint, headers={"Authorization": f"Bearer {token.stdout.strip()}"}, timeout=10)
    assert me.status_code == 200, me.text

    web = cli("--registry", str(overlay), "add", "Web", "-p", "localdevice", "-c", "reader", "--no-browser",
              env={**keyring_env, **{name: None for name in NO_DISPLAY}})
    assert web.code == 2, web.stderr
    assert "needs the OAuth client secret" in web.stderr


def test_device_flow_denied_is_exit_9_and_saves_nothing(cli, auth_server, device_approver, keyring_env, tmp_path, home):
    overlay = device_overlay(auth_server, tmp_path / "providers.toml")
    running = _cli(overlay, "add", "Dev", "-p", "localdevice", "-c", "reader", "--device", env=keyring_env)

    url, code, _ = running.code_shown()
    assert device_approver(url, code, approve=False)["ok"]
    status, stdout, stderr = running.finish()

    assert_no_crash(stderr)
    assert status == 9, stderr
    assert stdout == ""
    assert stderr.splitlines()[-1] == (
        "integray-auth: the request was denied at Local Test Server; nothing was saved. "
        "Run the command again and approve the request."
    )
    _nothing_saved(cli, overlay, home)


def test_device_code_expiry_is_exit_10_and_saves_nothing(cli, auth_server_factory, keyring_env, tmp_path, home):
    server = auth_server_factory(device_expires_in=2)
    overlay = device_overlay(server, tmp_path / "providers.toml")
    started = time.monotonic()
    running = _cli(overlay, "add", "Dev", "-p", "localdevice", "-c", "reader", "--device", env=keyring_env)

    running.code_shown()
    status, stdout, stderr = running.finish()

    assert_no_crash(stderr)
    assert status == 10, stderr
    assert "(2 seconds; Ctrl-C to stop)" in stderr  # expires_in, shorter than --timeout's 300; a time, not a frozen countdown
    assert stderr.splitlines()[-1].startswith("integray-auth: the code expired after 2 seconds without being approved; nothing was saved.")
    assert time.monotonic() - started < 15
    _nothing_saved(cli, overlay, home)


def test_ctrl_c_while_polling_is_exit_130_and_saves_nothing(cli, auth_server, keyring_env, tmp_path, home):
    overlay = device_overlay(auth_server, tmp_path / "providers.toml")
    running = _cli(overlay, "add", "Dev", "-p", "localdevice", "-c", "reader", "--device", env=keyring_env)

    running.code_shown()
    time.sleep(1.5)  # polling by now (interval 1)
    running.process.send_signal(signal.SIGINT)
    status, stdout, stderr = running.finish(timeout=10)

    assert_no_crash(stderr)
    assert status == 130, stderr
    assert stderr.splitlines()[-1] == "integray-auth: interrupted"
    _nothing_saved(cli, overlay, home)


def test_without_display_or_browser_add_offers_the_device_flow_and_authorize_device_reauthorizes(
    cli, auth_server, device_approver, keyring_env, tmp_path, home
):
    overlay = device_overlay(auth_server, tmp_path / "providers.toml")
    running = _cli(overlay, "add", "Dev", "-p", "localdevice", "-c", "reader", env=keyring_env)

    url, code, _ = running.code_shown()
    assert device_approver(url, code)["ok"]
    status, _, stderr = running.finish()

    assert status == 0, stderr
    assert stderr.startswith("No browser here (DISPLAY, WAYLAND_DISPLAY and BROWSER unset): using the device flow (--device).\n")
    assert "Authorized 'Dev' with Local Test Server." in stderr

    # authorize NAME --device: a new consent, the same checks and persisting.
    first = cli("--registry", str(overlay), "token", "Dev", env=keyring_env).stdout.strip()
    running = _cli(overlay, "authorize", "Dev", "--device", env=keyring_env)
    url, code, _ = running.code_shown()
    assert device_approver(url, code)["ok"]
    status, _, stderr = running.finish()

    assert status == 0, stderr
    assert "No browser here" not in stderr and "Authorized 'Dev' with Local Test Server." in stderr
    second = cli("--registry", str(overlay), "token", "Dev", env=keyring_env).stdout.strip()
    assert second and second != first
