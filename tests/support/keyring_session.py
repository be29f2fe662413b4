"""A private GNOME Keyring Secret Service for tests: its own D-Bus bus, runtime and data dirs.

    session = KeyringSession().start()
    subprocess.run(cmd, env=session.subprocess_env())   # keyring's SecretService backend
    session.stop()

Nothing here can reach the developer's own keyring: the bus, XDG_RUNTIME_DIR, XDG_DATA_HOME
and XDG_CONFIG_HOME are all inside one temporary directory, removed by stop(). Recipe and
pitfalls: GNOME Keyring's --unlock/--control-directory and D-Bus session handling (with-test-keyring.sh is the shell
form of the same thing).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time

SECRETS_BUS_NAME = "org.freedesktop.secrets"
PASSWORD = "test-password"
LOGIN_COLLECTION = "/org/freedesktop/secrets/collection/login"

# Unlocking without a prompt: gnome-keyring's own interface takes the password
# (through a "plain" session), as `gnome-keyring-daemon --unlock` does at start.
_UNLOCK = f"""
from jeepney import DBusAddress, new_method_call
from jeepney.io.blocking import open_dbus_connection
bus = open_dbus_connection("SESSION")
service = DBusAddress("/org/freedesktop/secrets", bus_name="{SECRETS_BUS_NAME}",
                      interface="org.freedesktop.Secret.Service")
session = bus.send_and_get_reply(new_method_call(service, "OpenSession", "sv", ("plain", ("s", "")))).body[1]
guilt = DBusAddress("/org/freedesktop/secrets", bus_name="{SECRETS_BUS_NAME}",
                    interface="org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface")
reply = bus.send_and_get_reply(new_method_call(guilt, "UnlockWithMasterPassword", "o(oayays)",
                                               ("{LOGIN_COLLECTION}", (session, b"", {PASSWORD.encode()!r}, "text/plain"))))
raise SystemExit(0 if reply.header.message_type.name == "method_return" else f"unlock failed: {{reply.body}}")
"""


class KeyringSessionError(RuntimeError):
    pass


class KeyringSession:
    """dbus-daemon + gnome-keyring-daemon --unlock, both children of this process.

    env:   the variables a subprocess needs to use this Secret Service
    unset: the variables a subprocess must NOT inherit (they would pick another backend
           or point at another daemon)
    """

    unset = ("PYTHON_KEYRING_BACKEND", "GNOME_KEYRING_CONTROL")

    def __init__(self, timeout: float = 20.0, unlock: bool = True) -> None:
        self.timeout = timeout
        # unlock=False: a Secret Service whose default collection cannot be created or
        # unlocked without a GUI prompt, as on a headless box nobody logged in to.
        self.unlock = unlock
        self.env: dict[str, str] = {}
        self.root: str | None = None
        self._bus: subprocess.Popen | None = None
        self._keyring: subprocess.Popen | None = None

    def __enter__(self) -> KeyringSession:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def subprocess_env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """A full environment for a subprocess: base (default os.environ) pointed at this session."""
        env = {k: v for k, v in (os.environ if base is None else base).items() if k not in self.unset}
        env.update(self.env)
        return env

    def start(self) -> KeyringSession:
        self.root = tempfile.mkdtemp(prefix="integray-test-keyring-")
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        dirs = {name: os.path.join(self.root, name) for name in ("run", "data", "config")}
        for path in dirs.values():
            os.mkdir(path, 0o700)
        # Its own XDG_RUNTIME_DIR above all: gnome-keyring finds a running daemon through
        # $XDG_RUNTIME_DIR/keyring and defers to it, and the private bus then never gets
        # org.freedesktop.secrets (keyring.md 1.4).
        self.env = {
            "DBUS_SESSION_BUS_ADDRESS": f"unix:path={self.root}/bus",
            "XDG_RUNTIME_DIR": dirs["run"],
            "XDG_DATA_HOME": dirs["data"],
            "XDG_CONFIG_HOME": dirs["config"],
        }
        # The daemons also lose DISPLAY: no unlock or create prompt may pop up on a desktop.
        daemon_env = self.subprocess_env(
            {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
        )
        log = open(os.path.join(self.root, "daemons.log"), "ab")
        with log:
            self._bus = subprocess.Popen(
                [
                    "dbus-daemon",
                    "--session",
                    "--nofork",
                    "--print-address=1",
                    f"--address={self.env['DBUS_SESSION_BUS_ADDRESS']}",
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                env=daemon_env,
            )
            # The address line means the bus is listening.
            if not self._bus.stdout.readline():
                raise KeyringSessionError(f"dbus-daemon did not start: {self._log()}")
            self._bus.stdout.close()
            # --foreground keeps it our child so stop() can end it: a daemonized one can
            # outlive its bus (keyring.md 1.4). --unlock reads the password from stdin and
            # creates the "login" collection with it; an empty password would not.
            self._keyring = subprocess.Popen(
                ["gnome-keyring-daemon", "--foreground", *(["--unlock"] if self.unlock else []), "--components=secrets"],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=log,
                env=daemon_env,
            )
        if self.unlock:
            self._keyring.stdin.write(PASSWORD.encode())
        self._keyring.stdin.close()
        self._wait_for_secrets(daemon_env)

    def _wait_for_secrets(self, env: dict[str, str]) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self._keyring.poll() is not None:
                raise KeyringSessionError(
                    f"gnome-keyring-daemon exited ({self._keyring.returncode}): {self._log()}"
                )
            probe = subprocess.run(
                [
                    "dbus-send",
                    "--session",
                    "--print-reply",
                    "--dest=org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus.NameHasOwner",
                    f"string:{SECRETS_BUS_NAME}",
                ],
                env=env,
                capture_output=True,
                text=True,
                timeout=self.timeout,
            )
            if "boolean true" in probe.stdout:
                return
            time.sleep(0.05)
        raise KeyringSessionError(f"{SECRETS_BUS_NAME} got no owner within {self.timeout:g} s: {self._log()}")

    def lock_collection(self) -> None:
        """Lock the login collection: reads and writes then fail (no prompt can unlock it)."""
        subprocess.run(
            ["dbus-send", "--session", "--print-reply", f"--dest={SECRETS_BUS_NAME}", "/org/freedesktop/secrets",
             "org.freedesktop.Secret.Service.Lock", f"array:objpath:{LOGIN_COLLECTION}"],
            env=self.subprocess_env(), capture_output=True, check=True, timeout=self.timeout,
        )

    def unlock_collection(self) -> None:
        """Unlock the login collection again with its password."""
        import sys

        subprocess.run([sys.executable, "-c", _UNLOCK], env=self.subprocess_env(), capture_output=True, check=True,
                       timeout=self.timeout)

    def _log(self) -> str:
        try:
            with open(os.path.join(self.root, "daemons.log"), errors="replace") as f:
                return f.read().strip() or "(no output)"
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """End both daemons and remove the directory. Safe to call more than once."""
        for proc in (self._keyring, self._bus):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self._keyring = self._bus = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
