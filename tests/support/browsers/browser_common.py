"""What the two test browsers share: the BROWSER contract, their settings and their result file.

Python's webbrowser runs a BROWSER command and waits for it to exit (GenericBrowser), so a
browser script only detaches a worker in a new session and exits 0 at once; the worker does
the clicking and writes a JSON result. The worker's stdio never touches the CLI's streams.

Settings are read from the environment by the launcher and handed to the worker on its
command line:

  OAUTH_TEST_USER / OAUTH_TEST_PASSWORD  login (default alice / alice-pw)
  OAUTH_TEST_APPROVE        1 (default) clicks Authorize, 0 clicks Cancel
  OAUTH_TEST_GRANT_SCOPES   space-separated scopes put in the consent form instead of the
                            requested ones, so the server grants fewer
  OAUTH_TEST_PRELUDE        comma-separated requests to the loopback listener before the real
                            callback: favicon, wrong_state, missing_state, duplicate_state and
                            duplicate_code (a second value before the real one, which a
                            last-one-wins parser would take), wrong_host (the real callback
                            with a Host that is not the listener's, as after DNS rebinding)
  OAUTH_TEST_NO_CALLBACK    1: do everything except deliver the callback (timeout tests)
  OAUTH_TEST_RESULT         where to write the JSON result (atomically)
  OAUTH_TEST_PIDFILE        the worker's PID is appended here; it leads its own process group
  OAUTH_TEST_TIMEOUT        seconds the worker waits for any one page or request (default 60)
  OAUTH_TEST_SCREENSHOT     chromium_browser only: PNG of the consent page

An empty variable counts as unset.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import urllib.parse
from dataclasses import asdict, dataclass, field

PRELUDE_STEPS = ("favicon", "wrong_state", "missing_state", "duplicate_state", "duplicate_code", "wrong_host")


@dataclass
class Settings:
    url: str
    user: str = "alice"
    password: str = "alice-pw"
    approve: bool = True
    grant_scopes: str | None = None
    prelude: list[str] = field(default_factory=list)
    no_callback: bool = False
    result_path: str | None = None
    timeout: float = 60.0
    screenshot: str | None = None

    @classmethod
    def from_environ(cls, url: str, environ=os.environ) -> Settings:
        def get(name: str) -> str | None:
            return environ.get(f"OAUTH_TEST_{name}") or None

        prelude = [step.strip() for step in (get("PRELUDE") or "").split(",") if step.strip()]
        unknown = sorted(set(prelude) - set(PRELUDE_STEPS))
        if unknown:
            raise ValueError(f"unknown OAUTH_TEST_PRELUDE step(s): {', '.join(unknown)}")
        return cls(
            url=url,
            user=get("USER") or cls.user,
            password=get("PASSWORD") or cls.password,
            approve=(get("APPROVE") or "1") != "0",
            grant_scopes=get("GRANT_SCOPES"),
            prelude=prelude,
            no_callback=get("NO_CALLBACK") == "1",
            result_path=get("RESULT"),
            timeout=float(get("TIMEOUT") or cls.timeout),
            screenshot=get("SCREENSHOT"),
        )


@dataclass
class Result:
    ok: bool = False
    callback_url: str | None = None
    callback_status: int | None = None
    callback_body: str | None = None
    prelude: dict[str, int | None] = field(default_factory=dict)
    error: str | None = None


def launch(script: str, argv: list[str]) -> int:
    """The BROWSER entry point: start the worker detached and return the exit status."""
    if len(argv) != 2:
        print(f"usage: {os.path.basename(script)} URL", file=sys.stderr)
        return 2
    try:
        settings = Settings.from_environ(argv[1])
    except ValueError as exc:
        print(f"{os.path.basename(script)}: {exc}", file=sys.stderr)
        return 2
    # The worker's stderr goes next to the result: the only trace of a crash before the
    # result is written, and never the CLI's own stderr.
    log_path = settings.result_path + ".log" if settings.result_path else os.devnull
    with open(log_path, "ab") as log:
        worker = subprocess.Popen(
            [sys.executable, os.path.abspath(script), "--worker", json.dumps(asdict(settings))],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
            close_fds=True,
        )
    pidfile = os.environ.get("OAUTH_TEST_PIDFILE")
    if pidfile:
        with open(pidfile, "a") as f:
            f.write(f"{worker.pid}\n")
    return 0


def worker_settings(argv: list[str]) -> Settings | None:
    """The settings when argv is a worker's command line, else None."""
    if len(argv) == 3 and argv[1] == "--worker":
        return Settings(**json.loads(argv[2]))
    return None


def detach_unless_worker(script: str) -> None:
    """A browser script's first step, before its heavy imports: run as the BROWSER, start the
    worker detached and exit (webbrowser waits for this process); run as the worker, return."""
    if worker_settings(sys.argv) is None:
        sys.exit(launch(script, sys.argv))


def run_worker(run) -> None:
    """The worker's whole job: run(settings), its result written for the test."""
    settings = worker_settings(sys.argv)
    write_result(settings.result_path, run(settings))


def write_result(path: str | None, result: Result) -> None:
    """Write atomically (temp file + rename) so a waiting reader never sees half of it."""
    if not path:
        return
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".result-", dir=directory)
    with os.fdopen(fd, "w") as f:
        json.dump(asdict(result), f)
    os.replace(tmp, path)


def callback_variant(callback_url: str, step: str) -> str:
    """The URL a prelude step requests on the loopback listener."""
    parts = urllib.parse.urlsplit(callback_url)
    if step == "favicon":
        return urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/favicon.ico", "", ""))
    if step == "wrong_host":
        return callback_url  # see prelude_headers
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    if step in ("duplicate_state", "duplicate_code"):
        name = step.removeprefix("duplicate_")
        query.insert(0, (name, f"{name}-added-by-test-browser"))
        return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))
    query = [(k, v) for k, v in query if k != "state"]
    if step == "wrong_state":
        query.append(("state", "wrong-state-from-test-browser"))
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def prelude_headers(callback_url: str, step: str) -> dict[str, str]:
    """Extra request headers of a prelude step."""
    if step == "wrong_host":
        port = urllib.parse.urlsplit(callback_url).port
        return {"Host": f"attacker.example:{port}"}
    return {}


def redirect_uri_in(url: str) -> str | None:
    """The redirect_uri of the authorization request in url: its own query (the authorize
    or consent page) or the query of its next= parameter (the login page)."""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    if "redirect_uri" in query:
        return query["redirect_uri"][0]
    if "next" in query:
        return redirect_uri_in(query["next"][0])
    return None


def same_endpoint(url: str, redirect_uri: str) -> bool:
    """True when url is a request to redirect_uri (scheme, host, port and path alike)."""
    a, b = urllib.parse.urlsplit(url), urllib.parse.urlsplit(redirect_uri)
    return (a.scheme, a.netloc, a.path) == (b.scheme, b.netloc, b.path)
