"""Start-up benchmark: each scripted command against `python -c pass`.

Runs A and B alternately (A B A B ...) and reports the median of the
per-pair ratios A/B, so the figure carries across machines
(shared/reference/perf.md explains the method). Usage:

    .venv/bin/python benchmarks/startup.py [--runs 20] [--authorizations 1000] [--keyring]

Targets (perf.md §6): list/search <= 3x, token from the file store <= 2.5x,
token from the keyring <= 4x; --help <= 14x; a completion request (Tab) <= 3x.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPT = Path(sys.executable).with_name("integray-auth")


def make_home(root: Path, count: int) -> None:
    authorizations = []
    for i in range(count):
        authorizations.append({
            "id": f"{i:012x}", "name": f"Authorization {i:04d}", "provider": "reservanto",
            "connectors": ["list-locations", "create-class-booking"],
            "requested_scopes": ["Location_r", "Booking_w", "Event_r"],
            "created_at": "2026-11-27T00:00:00Z", "updated_at": "2026-11-27T00:00:00Z",
            "status": "authorized" if i == 0 else "not_authorized", "active": i % 10 != 0,
            "granted_scopes": ["Location_r", "Booking_w", "Event_r"] if i == 0 else None,
            "authorized_at": "2026-11-27T00:00:00Z" if i == 0 else None,
            "expires_at": "2099-01-01T00:00:00Z" if i == 0 else None,
            "storage": "file" if i == 0 else None,
        })
    root.mkdir(parents=True, exist_ok=True)
    (root / "index.json").write_text(json.dumps({"schema_version": 1, "authorizations": authorizations}))
    token = json.dumps({"v": 1, "access_token": "bench-token", "token_type": "Bearer", "expires_at": "2099-01-01T00:00:00Z"})
    (root / "tokens-insecure.json").write_text(json.dumps({"schema_version": 1, "entries": {f"authorization:{0:012x}": token}}))


def _keyring_session():
    """A private Secret Service (the tests' own), so no real keyring is touched."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.support.keyring_session import KeyringSession

    return KeyringSession().__enter__()


def _store_in_keyring(home: Path, env: dict[str, str]) -> None:
    """Mark authorization 1 as keyring-stored and put its tokens there."""
    index = json.loads((home / "index.json").read_text())
    entry = index["authorizations"][1]
    entry.update(status="authorized", storage="keyring", expires_at="2099-01-01T00:00:00Z",
                 keyring_backend="keyring.backends.SecretService.Keyring")  # as `add` records it
    (home / "index.json").write_text(json.dumps(index))
    code = (
        "from integray_auth.secret_store import ChunkedTokens, KeyringStore\n"
        "from integray_auth.tokens import TokenSet\n"
        f"ChunkedTokens(KeyringStore()).save({entry['id']!r}, TokenSet(access_token='bench-keyring-token',"
        " expires_at='2099-01-01T00:00:00Z'))\n"
    )
    subprocess.run([sys.executable, "-c", code], env=env, check=True)


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def bench(cmd: list[str], env: dict[str, str], runs: int) -> tuple[float, float, float, float]:
    base = [sys.executable, "-c", "pass"]
    for _ in range(3):
        timed(cmd, env), timed(base, env)
    ratios, walls, floors = [], [], []
    for _ in range(runs):
        a = timed(cmd, env)
        b = timed(base, env)
        ratios.append(a / b)
        walls.append(a)
        floors.append(b)
    return statistics.median(ratios), min(ratios), max(ratios), statistics.median(walls) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--authorizations", type=int, default=1000)
    parser.add_argument("--keyring", action="store_true",
                        help="also time `token` against a private GNOME Keyring (needs dbus and gnome-keyring)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        make_home(home, args.authorizations)
        env = {**os.environ, "INTEGRAY_AUTH_HOME": str(home)}
        # As a user runs it: no INTEGRAY_AUTH_HOME, so platformdirs finds the folders.
        xdg = Path(tmp) / "xdg"
        make_home(xdg / "data" / "integray-auth", args.authorizations)
        user_env = {k: v for k, v in os.environ.items() if k != "INTEGRAY_AUTH_HOME"}
        user_env.update(XDG_DATA_HOME=str(xdg / "data"), XDG_CONFIG_HOME=str(xdg / "config"), XDG_CACHE_HOME=str(xdg / "cache"))
        cases = [
            ("list (piped, TSV)", ["list"]),
            ("list --all --json", ["list", "--all", "--json"]),
            ("search 'authorization 09'", ["search", "authorization 09"]),
            ("show NAME", ["show", "Authorization 0001"]),
            ("token NAME (file store)", ["token", "Authorization 0000"]),
            ("--help", ["--help"]),
            # A Tab press: the hidden fast-path command the completion scripts run.
            ("complete a command (Tab)", ["__complete", "bash", "integray-auth sh", "sh"]),
            ("complete a provider (Tab)", ["__complete", "bash", "integray-auth add X -p re", "re"]),
            ("complete a name (Tab)", ["__complete", "bash", "integray-auth show 'Authorization 09", "'Authorization 09"]),
        ]
        print(f"{args.authorizations} authorizations, {args.runs} paired runs, B = python -c pass")
        print(f"{'command':32} {'ratio median (min-max)':>24} {'wall ms':>8}")
        cases.append(("list, no INTEGRAY_AUTH_HOME", ["list"], user_env))
        session = _keyring_session() if args.keyring else None
        if session is not None:
            keyring_env = session.subprocess_env(env)
            _store_in_keyring(home, keyring_env)
            cases.append(("token NAME (Secret Service)", ["token", "Authorization 0001"], keyring_env))
        for label, extra, *custom in cases:
            median, low, high, wall = bench([str(SCRIPT), *extra], custom[0] if custom else env, args.runs)
            print(f"{label:32} {median:>8.2f}x ({low:.2f}-{high:.2f}) {wall:>8.1f}")
        if session is not None:
            session.__exit__(None, None, None)


if __name__ == "__main__":
    main()
