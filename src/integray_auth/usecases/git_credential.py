"""`git-credential get|store|erase` and `setup-git`: git asks integray-auth
for the credential of an HTTPS host, through git's credential protocol
(https://git-scm.com/docs/git-credential), the way `gh auth git-credential` does.

git writes `key=value` lines ending with a blank line; `get` answers with the
user name the provider's git servers take (the registry's `git_username`)
and a valid access token from the same single-flight path as `token`
(access_token.valid_tokens); for a host no authorization serves it answers
nothing, so git asks the next helper. `erase` means the server rejected the
credential: the authorization is kept, the token recorded as rejected, and the
next `get` renews it. `store` does nothing: the tokens are ours already.

Which authorization serves which host is what `setup-git` records in
git-hosts.json in the data folder (ids only, never a token).
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import time
from datetime import datetime

from .. import hints
from ..childenv import child_environment
from ..context import REGISTRY_ENV, AppContext
from ..errors import IndexError_, IntegrayAuthError, NotAuthorizedError, NotFoundError, UsageError
from ..lean import jsonio
from ..lean.printable import quoted, shell_quote, shorten
from ..lean.record import Record
from ..models import Authorization
from ..registry.names import is_git_host
from ..stores import lookup
from ..stores.files import LockError, UnsafePath, atomic_write_text, read_regular_file, take_lock
from ..tokens import utc_seconds
from .access_token import check_active, record_rejection, valid_tokens
from .provider_lookup import require_provider

# git sends a few short lines (protocol, host, path, capabilities, wwwauth[]
# challenges); anything near this is not git.
REQUEST_LIMIT = 64 * 1024
REQUEST_DEADLINE = 30.0  # seconds for git to finish writing the request
HOSTS_FILE = "git-hosts.json"
HOSTS_LIMIT = 1024 * 1024
HOSTS_VERSION = 1
# A provider whose git servers the registry names no user name for: what
# git-credential-oauth and GitLab use; servers that take a token ignore it.
DEFAULT_USERNAME = "oauth2"
GIT_DEADLINE = 30.0  # one `git config` run


class CredentialRequest(Record):
    """What git asked: the attributes of git-credential(1) we read."""

    __slots__ = ("protocol", "host", "path", "username", "password", "credential", "capabilities")

    def __init__(self, protocol: str | None = None, host: str | None = None, path: str | None = None,
                 username: str | None = None, password: str | None = None, credential: str | None = None,
                 capabilities: tuple[str, ...] = ()) -> None:
        self.protocol = protocol
        self.host = host
        self.path = path
        self.username = username
        self.password = password
        self.credential = credential
        self.capabilities = capabilities

    def __repr__(self) -> str:  # a rejected token arrives as the password: never in a log or traceback
        return f"CredentialRequest(protocol={self.protocol!r}, host={self.host!r})"

    __str__ = __repr__


def _not_git(reason: str) -> UsageError:
    return UsageError(
        f"git-credential: {reason}; it reads git's credential protocol (key=value lines, then a blank line)",
        hint="Let git run it: integray-auth setup-git NAME",
    )


def parse_request(data: bytes) -> CredentialRequest:
    """git's request (the bytes up to the blank line, or all of them). Refuses
    what git never sends: text that is not UTF-8, a NUL or another control
    character, a line without '='; unknown attributes are ignored, as git does."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _not_git("the input is not UTF-8 text") from None
    values: dict[str, str] = {}
    capabilities: list[str] = []
    for number, line in enumerate(text.split("\n"), 1):
        if line == "":
            break
        key, sep, value = line.partition("=")
        if not sep or not key:
            raise _not_git(f"line {number} is not key=value")
        if not line.isprintable():
            raise _not_git(f"line {number} holds a control character")
        if key == "capability[]":
            if value == "":
                capabilities.clear()  # an empty value resets a list (git-credential(1))
            else:
                capabilities.append(value)
        elif not key.endswith("[]"):
            values[key] = value
    return CredentialRequest(
        protocol=values.get("protocol"), host=values.get("host"), path=values.get("path"),
        username=values.get("username"), password=values.get("password"), credential=values.get("credential"),
        capabilities=tuple(capabilities),
    )


def read_request(stream, deadline: float = REQUEST_DEADLINE) -> CredentialRequest:
    """Read git's request from `stream` (stdin): at most REQUEST_LIMIT bytes, up
    to the blank line or the end, within `deadline` seconds; never from a terminal."""
    try:
        if stream.isatty():
            raise _not_git("stdin is a terminal")
    except (AttributeError, ValueError):
        pass
    raw = getattr(stream, "buffer", None)
    if raw is None:  # a text stream (tests)
        return parse_request(stream.read(REQUEST_LIMIT + 1).encode("utf-8", "surrogateescape")[: REQUEST_LIMIT + 1])
    try:
        fd = raw.fileno()
    except (AttributeError, ValueError, OSError):
        fd = None
    data = _read_until_blank(fd, raw, deadline)
    if len(data) > REQUEST_LIMIT:
        raise _not_git(f"the input is longer than {REQUEST_LIMIT // 1024} KiB")
    return parse_request(data)


def _read_until_blank(fd: int | None, raw, seconds: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    deadline = time.monotonic() + seconds
    while size <= REQUEST_LIMIT:
        if fd is not None:
            left = deadline - time.monotonic()
            ready = select.select([fd], [], [], max(0.0, left))[0] if left > 0 else []
            if not ready:
                raise _not_git(f"git sent no blank line within {seconds:g} seconds")
            chunk = os.read(fd, 65536)
        else:
            chunk = raw.read(65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        joined = b"".join(chunks)
        if joined.startswith(b"\n") or b"\n\n" in joined:
            break
    return b"".join(chunks)


# --- which authorization serves which host ---------------------------------------------------


class HostTable:
    """git-hosts.json in the data folder: host -> authorization id, versioned,
    0600, written atomically under its lock; never a token."""

    def __init__(self, ctx: AppContext) -> None:
        self.path = ctx.paths.data_dir / HOSTS_FILE
        self.lock_path = ctx.paths.data_dir / "git-hosts.lock"

    def _problem(self, reason: str) -> IndexError_:
        return IndexError_(
            f"{self.path} {reason}",
            hint="Remove it, then run integray-auth setup-git NAME again for each host "
            "(git config --get-regexp '^credential\\.' lists them).",
        )

    def load(self) -> dict[str, str]:
        try:
            raw = read_regular_file(self.path, HOSTS_LIMIT, "the git host table", own=True)
        except UnsafePath as unsafe:
            raise IndexError_(unsafe.message, hint=unsafe.hint) from None
        if raw is None:
            return {}
        try:
            data = jsonio.loads(raw)
        except (ValueError, RecursionError):
            raise self._problem("is not JSON") from None
        hosts = data.get("hosts") if isinstance(data, dict) else None
        if not isinstance(data, dict) or data.get("version") != HOSTS_VERSION or not isinstance(hosts, dict):
            raise self._problem(f"is not a version {HOSTS_VERSION} git host table")
        for host, authorization_id in hosts.items():
            if not (isinstance(host, str) and is_git_host(host) and isinstance(authorization_id, str)
                    and authorization_id.isascii() and authorization_id.isprintable()):
                raise self._problem("holds an entry that is not a host and an authorization id")
        return hosts

    def serving(self, host: str) -> str | None:
        return self.load().get(host)

    def change(self, update) -> dict[str, str]:
        """Apply update(hosts) under the lock and write the result; returns it."""

        try:
            held = take_lock(self.lock_path, timeout=15.0)
        except LockError as failed:
            raise IndexError_(f"cannot lock {self.lock_path}: {failed}", hint="Run the command again.") from None
        with held:
            hosts = self.load()
            update(hosts)
            document = {"version": HOSTS_VERSION, "hosts": dict(sorted(hosts.items()))}
            try:
                atomic_write_text(self.path, json.dumps(document, indent=2) + "\n")
            except OSError as exc:
                raise IndexError_(f"cannot write {self.path}: {exc.strerror or exc}") from None
            return hosts


# --- get, store, erase -----------------------------------------------------------------------


def _served(ctx: AppContext, request: CredentialRequest) -> Authorization | None:
    """The authorization serving the request's host, or None: only https (a
    token never goes over plain http), only a host setup-git recorded."""
    if request.protocol != "https" or not request.host:
        return None
    host = request.host.lower()
    if not is_git_host(host):
        return None
    authorization_id = HostTable(ctx).serving(host)
    if authorization_id is None:
        return None
    try:
        return lookup.locate(ctx, authorization_id)
    except NotFoundError:
        raise NotFoundError(
            f"the authorization that served {host} for git (id {authorization_id}) no longer exists",
            hint=f"Run: integray-auth setup-git NAME --host {host} (or git config --global --unset-all "
            f"credential.https://{host}.helper)",
        ) from None


def answer_get(ctx: AppContext, request: CredentialRequest) -> list[tuple[str, str]]:
    """The lines `get` prints: a user name and a valid access token, or
    (git ≥ 2.46 announcing capability[]=authtype) a Bearer credential; none
    for a host no authorization serves. A deactivated or no longer authorized
    authorization is refused (the error says why and what to run; git shows it)."""
    authorization = _served(ctx, request)
    if authorization is None:
        return []
    check_active(authorization)
    rejected = authorization.rejected_at is not None
    if rejected and authorization.renewable is False:
        raise NotAuthorizedError(
            f"{request.host} rejected the access token of {quoted(authorization.name)}, and it cannot be renewed",
            hint=hints.authorize_hint(authorization),
        )
    # erase recorded that the server rejected the token: a new one, whatever its expiry says.
    tokens = valid_tokens(ctx, authorization.id, force=rejected)
    expiry = None if tokens.expires_at is None else _epoch(tokens.expires_at)
    if "authtype" in request.capabilities:
        lines = [("capability[]", "authtype"), ("authtype", "Bearer"), ("credential", tokens.access_token),
                 ("ephemeral", "true")]
    else:
        provider = ctx.registry.get(authorization.provider)
        username = (provider.git_username if provider is not None else None) or DEFAULT_USERNAME
        lines = [("username", username), ("password", tokens.access_token)]
    if expiry is not None:
        lines.append(("password_expiry_utc", str(expiry)))
    return lines


def _epoch(moment: str) -> int | None:
    seconds = utc_seconds(moment)
    if seconds is not None:
        return seconds
    try:
        return int(datetime.fromisoformat(moment.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return None


def erase(ctx: AppContext, request: CredentialRequest) -> bool:
    """The server rejected the credential git had from us: recorded (never a
    deletion), so the next `get` renews the access token. True if recorded
    (False: not our host, or no longer the stored token)."""
    authorization = _served(ctx, request)
    token = request.password or request.credential
    if authorization is None or not token:
        return False
    return record_rejection(ctx, authorization, token)  # only if it is still the stored one


# --- setup-git -------------------------------------------------------------------------------


class GitConfig:
    """`git config` at one scope (--global, or --local in the current repository)."""

    def __init__(self, ctx: AppContext, local: bool, git: str = "git") -> None:
        self.ctx = ctx
        self.scope = "--local" if local else "--global"
        self.git = git

    def run(self, *args: str, ok=(0,)) -> subprocess.CompletedProcess:
        command = [self.git, "config", self.scope, *args]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=GIT_DEADLINE, stdin=subprocess.DEVNULL,
                env=child_environment(self.ctx.environ, keep_settings=True),
            )
        except FileNotFoundError:
            raise UsageError("git is not installed (or not on PATH)", hint="Install git, then run the command again.") from None
        except subprocess.TimeoutExpired:
            raise IntegrayAuthError(f"git config did not finish within {int(GIT_DEADLINE)} seconds") from None
        if done.returncode not in ok:
            said = " ".join(done.stderr.split()) or f"exit status {done.returncode}"
            hint = "Run it in a git repository, or leave out --local." if self.scope == "--local" else None
            raise UsageError(f"git config {self.scope} failed: {shorten(said, 200)}", hint=hint)
        return done

    def values(self, key: str) -> list[str]:
        done = self.run("--get-all", key, ok=(0, 1))  # 1: the key is not set
        return done.stdout.split("\n")[:-1] if done.returncode == 0 else []

    def replace(self, key: str, values: list[str]) -> None:
        self.run("--unset-all", key, ok=(0, 5))  # 5: there was none
        for value in values:
            self.run("--add", key, value)

    def unset(self, key: str) -> None:
        self.run("--unset-all", key, ok=(0, 5))


def helper_key(host: str) -> str:
    return f"credential.https://{host}.helper"


def helper_line(command: list[str]) -> str:
    """The `credential.<url>.helper` value: a shell command (git runs a value
    starting with '!' through the shell, git-credential(1) "Custom helpers")."""
    return "!" + " ".join(shell_quote(word) for word in command) + " git-credential"


def own_command(ctx: AppContext, argv0: str, executable: str) -> list[str]:
    """The words that run this integray-auth again from another program (git,
    kubectl), whatever PATH it has then, with the --registry overlay in use."""

    path = os.path.abspath(argv0) if argv0 else ""
    if os.path.basename(path).startswith("integray-auth") and os.path.isfile(path) and os.access(path, os.X_OK):
        words = [path]
    elif shutil.which("integray-auth"):
        words = [os.path.abspath(shutil.which("integray-auth"))]
    else:
        words = [executable, "-m", "integray_auth"]
    overlay = ctx.registry_path or ctx.environ.get(REGISTRY_ENV)  # git and kubectl may run without the variable
    if overlay:
        words += ["--registry", os.path.abspath(os.path.expanduser(str(overlay)))]
    return words


class HostChange(Record):
    __slots__ = ("host", "outcome", "previous")

    def __init__(self, host: str, outcome: str, previous: str | None = None) -> None:
        self.host = host
        self.outcome = outcome  # "added", "unchanged", "removed", "absent", "kept-foreign", "kept-other"
        self.previous = previous  # the authorization that served it before (kept-other: serves it now)


def hosts_of(ctx: AppContext, authorization: Authorization, given: list[str]) -> list[str]:
    """The hosts named (checked, lowercase), else those the provider's git servers are on."""
    if given:
        hosts = []
        for host in given:
            lowered = host.strip().lower()
            if lowered.startswith("https://"):
                lowered = lowered[len("https://"):].rstrip("/")
            if not is_git_host(lowered):
                raise UsageError(
                    f"{quoted(host)} is not a git host (a host name, optionally :port, as in github.com or git.example.com:8443)",
                    hint="For example: integray-auth setup-git NAME --host git.example.com",
                )
            if lowered not in hosts:
                hosts.append(lowered)
        return hosts

    provider = require_provider(ctx, authorization.provider)
    try:
        hosts = provider.git_hosts_for(authorization.parameters or {})
    except ValueError as bad:
        raise UsageError(f"the git hosts of {quoted(authorization.name)}: {bad}") from None
    if not hosts:
        raise UsageError(
            f"the registry names no git host for {provider.name}; say which one serves {quoted(authorization.name)}",
            hint=f"Run: {hints.command_hint('setup-git', authorization)} --host HOST",
        )
    return hosts


def setup_git(ctx: AppContext, name: str, given_hosts: list[str], local: bool, command: list[str],
              git: str = "git") -> list[HostChange]:
    """Make git ask integray-auth for `name`'s hosts: record the host -> authorization
    link and write `credential.https://HOST.helper` (an empty value first, so the
    helpers of wider scopes do not answer too). Running it again changes nothing."""
    authorization = lookup.locate(ctx, name)
    check_active(authorization)
    hosts = hosts_of(ctx, authorization, given_hosts)
    config = GitConfig(ctx, local, git)
    wanted = ["", helper_line(command)]
    table = HostTable(ctx)
    already = {host: config.values(helper_key(host)) == wanted for host in hosts}
    for host in hosts:  # git first: a refusal (--local outside a repository) links nothing
        if not already[host]:
            config.replace(helper_key(host), wanted)
    previous: dict[str, str | None] = {}

    def link(current: dict[str, str]) -> None:
        for host in hosts:
            previous[host] = current.get(host)
            current[host] = authorization.id

    table.change(link)
    changes = []
    for host in hosts:
        config_same = already[host]
        before = previous[host]
        outcome = "unchanged" if config_same and before == authorization.id else "added"
        changes.append(HostChange(host, outcome, None if before in (None, authorization.id) else _name_of(ctx, before)))
    return changes


def remove_git(ctx: AppContext, name: str, given_hosts: list[str], local: bool, git: str = "git") -> list[HostChange]:
    """Undo setup-git: the hosts that serve `name` (or those named) lose the
    link and their helper entry; a helper entry that is not ours is kept."""
    authorization = lookup.locate(ctx, name)
    table = HostTable(ctx)
    if given_hosts:
        hosts = hosts_of(ctx, authorization, given_hosts)
    else:
        hosts = sorted(host for host, served in table.load().items() if served == authorization.id)
        if not hosts:
            try:
                hosts = hosts_of(ctx, authorization, [])
            except UsageError:
                hosts = []
    config = GitConfig(ctx, local, git)
    unlinked: set[str] = set()
    others: dict[str, str] = {}

    def unlink(current: dict[str, str]) -> None:
        for host in hosts:
            if current.get(host) == authorization.id:
                del current[host]
                unlinked.add(host)
            elif host in current:
                others[host] = current[host]

    table.change(unlink)
    changes = []
    for host in hosts:
        if host in others:  # another authorization serves it now: its set-up stays
            changes.append(HostChange(host, "kept-other", _name_of(ctx, others[host])))
            continue
        values = config.values(helper_key(host))
        ours = [v for v in values if v.endswith(" git-credential") and v.startswith("!")]
        if values and len(ours) == 1 and set(values) <= {"", ours[0]}:
            config.unset(helper_key(host))
            changes.append(HostChange(host, "removed"))
        elif values:
            changes.append(HostChange(host, "kept-foreign"))  # the user's own helper for that host
        else:
            changes.append(HostChange(host, "removed" if host in unlinked else "absent"))
    return changes


def _name_of(ctx: AppContext, authorization_id: str) -> str:
    try:
        return lookup.find(ctx, authorization_id).name
    except IntegrayAuthError:
        return authorization_id
