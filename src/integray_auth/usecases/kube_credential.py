"""`kube-credential` and `setup-kube`: kubectl's exec credential plugin
(https://kubernetes.io/docs/reference/access-authn-authz/authentication/#client-go-credential-plugins).

kubectl runs the command its kubeconfig names for a user, with
KUBERNETES_EXEC_INFO describing the request, and reads an ExecCredential
from stdout: the access token (or the ID token, which Kubernetes' OIDC
authenticator validates) and when it expires. The token comes from the same
single-flight path as `token`; nothing here ever prompts, whatever
`spec.interactive` says: a person at kubectl's terminal is told the command to run.

`setup-kube` adds a user entry (and a context binding it to a cluster) to a
kubeconfig, with PyYAML (imported only here), leaving every other entry as it was.
"""

from __future__ import annotations

import base64
import os
import time
from datetime import datetime, timezone

from .. import hints
from ..context import AppContext
from ..errors import ConflictError, NotAuthorizedError, NotFoundError, UsageError
from ..lean.printable import has_unsafe, quoted
from ..lean.record import Record
from ..lean import jsonio
from ..lean.filepath import FilePath
from ..models import Authorization, now_from, to_iso
from ..stores import lookup
from ..stores.files import UnsafePath, create_private_file, read_regular_file
from ..tokens import REFRESH_MARGIN_SECONDS
from .access_token import check_active, valid_tokens

API_GROUP = "client.authentication.k8s.io"
API_VERSIONS = (f"{API_GROUP}/v1", f"{API_GROUP}/v1beta1")
EXEC_INFO_ENV = "KUBERNETES_EXEC_INFO"
EXEC_INFO_LIMIT = 1024 * 1024  # with provideClusterInfo it carries the cluster's CA bundle
KUBECONFIG_LIMIT = 16 * 1024 * 1024


class ExecInfo(Record):
    __slots__ = ("api_version", "interactive")

    def __init__(self, api_version: str, interactive: bool) -> None:
        self.api_version = api_version
        self.interactive = interactive


def exec_info(environ) -> ExecInfo:
    """What kubectl said in KUBERNETES_EXEC_INFO; run by hand (no variable):
    v1, and nobody to ask. Anything else than an ExecCredential of a known
    version is refused (a usage error: the kubeconfig names a wrong apiVersion)."""
    raw = environ.get(EXEC_INFO_ENV)
    if raw is None or raw.strip() == "":
        return ExecInfo(API_VERSIONS[0], False)
    if len(raw) > EXEC_INFO_LIMIT:
        raise UsageError(f"{EXEC_INFO_ENV} is longer than {EXEC_INFO_LIMIT // 1024} KiB")

    try:
        info = jsonio.loads(raw)
    except (ValueError, RecursionError):
        raise UsageError(f"{EXEC_INFO_ENV} is not JSON", hint="Let kubectl run it: integray-auth setup-kube NAME --cluster CLUSTER") from None
    if not isinstance(info, dict) or info.get("kind") != "ExecCredential":
        raise UsageError(f"{EXEC_INFO_ENV} is not an ExecCredential")
    version = info.get("apiVersion")
    if version not in API_VERSIONS:
        raise UsageError(
            f"{EXEC_INFO_ENV} asks for apiVersion {quoted(str(version))}, not one of {', '.join(API_VERSIONS)}",
            hint=f"Set the kubeconfig user's exec.apiVersion to {API_VERSIONS[0]} (integray-auth setup-kube writes it).",
        )
    spec = info.get("spec")
    interactive = spec.get("interactive") if isinstance(spec, dict) else None
    return ExecInfo(version, interactive is True)


def exec_credential(ctx: AppContext, name: str, id_token: bool = False) -> dict:
    """The ExecCredential kubectl reads: a valid access token (renewed when due),
    or with `id_token` the ID token (renewed when it expires within the margin)."""
    info = exec_info(ctx.environ)  # refused before any token is read
    tokens = valid_tokens(ctx, name)
    if id_token:
        token, expiry = _id_token(ctx, name, tokens)
    else:
        token, expiry = tokens.access_token, tokens.expires_at
    status = {"token": token}
    if expiry is not None:
        status["expirationTimestamp"] = expiry  # RFC 3339 in UTC, as the index keeps it
    return {"apiVersion": info.api_version, "kind": "ExecCredential", "spec": {"interactive": info.interactive},
            "status": status}


def _id_token(ctx: AppContext, name: str, tokens) -> tuple[str, str | None]:
    expiry = _jwt_expiry(tokens.id_token) if tokens.id_token else None
    if tokens.id_token and (expiry is None or expiry - _now(ctx) > REFRESH_MARGIN_SECONDS):
        return tokens.id_token, _iso(expiry)
    if tokens.id_token:
        # The ID token lives its own life: renew (OpenID Connect Core §12.2 gives a new one).
        tokens = valid_tokens(ctx, name, force=True)
        expiry = _jwt_expiry(tokens.id_token) if tokens.id_token else None
        if tokens.id_token and (expiry is None or expiry > _now(ctx)):
            return tokens.id_token, _iso(expiry)
    authorization = lookup.locate(ctx, name)
    raise NotAuthorizedError(
        f"{quoted(authorization.name)} holds no valid ID token (its provider gives one for the openid scope, "
        "and a renewal must return one)",
        hint=f"Authorize it with a connector that asks for openid, or leave out --id-token. {hints.authorize_hint(authorization)}",
    )


def _jwt_expiry(token: str) -> int | None:
    """The `exp` claim of a JWT (RFC 7519 §4.1.4), read without checking the
    signature: the token is ours, straight from the provider's token endpoint."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = jsonio.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, RecursionError):
        return None
    exp = payload.get("exp") if isinstance(payload, dict) else None
    if isinstance(exp, bool) or not isinstance(exp, (int, float)) or not 0 < exp < 253402300800:
        return None
    return int(exp)


def _now(ctx: AppContext) -> int:
    now = now_from(ctx.clock)
    return now if type(now) is int else int(now.timestamp())


def _iso(seconds: int | None) -> str | None:
    if seconds is None:
        return None

    return to_iso(datetime.fromtimestamp(seconds, timezone.utc))


# --- setup-kube ------------------------------------------------------------------------------


class KubeSetup(Record):
    __slots__ = ("path", "user", "context", "outcome")

    def __init__(self, path: str, user: str, context: str, outcome: str) -> None:
        self.path = path
        self.user = user
        self.context = context
        self.outcome = outcome  # "added", "updated", "unchanged", "removed", "absent"


def kubeconfig_path(environ, given: str | None) -> str:
    """--kubeconfig, else the first file KUBECONFIG names, else ~/.kube/config (as kubectl)."""
    if given:
        return os.path.abspath(os.path.expanduser(given))
    listed = [p for p in environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    if listed:
        return os.path.abspath(os.path.expanduser(listed[0]))
    return os.path.join(os.path.expanduser("~"), ".kube", "config")


def _names(authorization: Authorization, cluster: str) -> tuple[str, str]:
    label = authorization.name if not has_unsafe(authorization.name) and len(authorization.name) <= 80 else authorization.id
    return f"integray-auth-{label}", f"{label}@{cluster}"


def _user_entry(user: str, command: list[str], authorization: Authorization, id_token: bool) -> dict:
    args = command[1:] + ["kube-credential", authorization.id] + (["--id-token"] if id_token else [])
    return {
        "name": user,
        "user": {
            "exec": {
                "apiVersion": API_VERSIONS[0],
                "command": command[0],
                "args": args,
                # Never: we never prompt, so kubectl need not hand us its terminal.
                "interactiveMode": "Never",
                "provideClusterInfo": False,
            }
        },
    }


def _is_ours(entry: dict) -> bool:
    exec_ = (entry.get("user") or {}).get("exec") if isinstance(entry.get("user"), dict) else None
    return isinstance(exec_, dict) and isinstance(exec_.get("args"), list) and "kube-credential" in exec_["args"]


def _load(path: str):
    import yaml


    try:
        raw = read_regular_file(FilePath(path), KUBECONFIG_LIMIT, "the kubeconfig")
    except UnsafePath as unsafe:
        raise UsageError(unsafe.message, hint=unsafe.hint) from None
    if raw is None:
        raise NotFoundError(f"there is no kubeconfig at {path}",
                            hint="Give the file that defines the cluster with --kubeconfig PATH.")
    try:
        data = yaml.safe_load(raw.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError, RecursionError) as bad:
        where = getattr(bad, "problem_mark", None)
        at = f" (line {where.line + 1})" if where is not None else ""
        raise UsageError(f"{path} is not a YAML kubeconfig{at}", hint="Fix the file, then run the command again.") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UsageError(f"{path} is not a kubeconfig (its top level is not a mapping)")
    for key in ("clusters", "users", "contexts"):
        if data.get(key) is None:
            continue
        if not isinstance(data[key], list) or not all(isinstance(item, dict) for item in data[key]):
            raise UsageError(f"{path}: '{key}' is not a list of named entries")
    return data


def _write(path: str, data: dict) -> None:
    import yaml


    text = yaml.dump(data, Dumper=_dumper(yaml), sort_keys=False, default_flow_style=False, allow_unicode=True)
    real = os.path.realpath(path)  # a symlinked kubeconfig: its target is replaced, the link kept
    try:
        create_private_file(FilePath(real), text.encode("utf-8"), replace=True)  # 0600, a rename over the old file
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


def _dumper(yaml):
    """PyYAML's safe dumper, quoting every string kubectl's YAML reader could take
    for something else: PyYAML writes 1e10 or 08 bare (YAML 1.1 has no such
    numbers), which Go's yaml (sigs.k8s.io/yaml) reads as numbers; y and n as booleans.
    An authorization id is 12 hex digits, and may well look like 1234567890e1."""

    class Dumper(yaml.SafeDumper):
        pass

    def represent(dumper, value: str):
        ambiguous = value[:1] in "0123456789.+-" or value in ("y", "Y", "n", "N")
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="'" if ambiguous else None)

    Dumper.add_representer(str, represent)
    return Dumper


# client-go's convention for writing a kubeconfig (clientcmd's lockFile): PATH.lock,
# made with O_EXCL and removed after; kubectl holds it only while it writes.
LOCK_WAIT = 5.0


def _lock(path: str) -> str:
    lock = os.path.realpath(path) + ".lock"
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        try:
            os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            return lock
        except FileExistsError:
            if time.monotonic() >= deadline:
                raise ConflictError(
                    f"{lock} exists: kubectl is writing {path}, or left the lock behind",
                    hint=f"If no kubectl is running, remove {lock}, then run the command again.",
                ) from None
            time.sleep(0.05)
        except OSError as exc:
            raise UsageError(f"cannot lock {path} ({lock}: {exc.strerror or exc})") from None


def _unlock(lock: str) -> None:
    try:
        os.unlink(lock)
    except FileNotFoundError:
        pass


def _find(entries: list, name: str) -> int | None:
    return next((i for i, entry in enumerate(entries) if entry.get("name") == name), None)


def setup_kube(ctx: AppContext, name: str, cluster: str, kubeconfig: str | None, command: list[str],
               id_token: bool = False) -> KubeSetup:
    """Add (or bring up to date) the user entry that runs `kube-credential`
    and a context NAME@CLUSTER binding it to CLUSTER; nothing else changes."""
    authorization = lookup.locate(ctx, name)
    check_active(authorization)
    path = kubeconfig_path(ctx.environ, kubeconfig)
    if not os.path.exists(path):
        _load(path)  # says there is none, before a lock file is made beside it
    lock = _lock(path)
    try:
        return _add(path, authorization, cluster, command, id_token)
    finally:
        _unlock(lock)


def _add(path: str, authorization: Authorization, cluster: str, command: list[str], id_token: bool) -> KubeSetup:
    data = _load(path)
    clusters = data.get("clusters") or []
    if _find(clusters, cluster) is None:
        known = ", ".join(quoted(str(c.get("name"))) for c in clusters) or "none"
        raise NotFoundError(f"{path} defines no cluster {quoted(cluster)} (its clusters: {known})",
                            hint="Give a cluster it defines, or the file that does with --kubeconfig PATH.")
    user, context = _names(authorization, cluster)
    wanted_user = _user_entry(user, command, authorization, id_token)
    wanted_context = {"name": context, "context": {"cluster": cluster, "user": user}}
    users = data.get("users")
    if users is None:
        users = data["users"] = []
    contexts = data.get("contexts")
    if contexts is None:
        contexts = data["contexts"] = []
    at_user, at_context = _find(users, user), _find(contexts, context)
    if at_user is not None and users[at_user] != wanted_user and not _is_ours(users[at_user]):
        raise ConflictError(f"{path} has a user {quoted(user)} already, not one integray-auth wrote; it is left as it is",
                            hint="Rename or remove that user entry, then run the command again.")
    if at_context is not None and contexts[at_context] != wanted_context and \
            (contexts[at_context].get("context") or {}).get("user") != user:
        raise ConflictError(f"{path} has a context {quoted(context)} already, for another user; it is left as it is",
                            hint="Rename or remove that context, then run the command again.")
    if at_user is not None and users[at_user] == wanted_user and at_context is not None \
            and contexts[at_context] == wanted_context:
        return KubeSetup(path, user, context, "unchanged")
    outcome = "updated" if at_user is not None or at_context is not None else "added"
    if at_user is None:
        users.append(wanted_user)
    else:
        users[at_user] = wanted_user
    if at_context is None:
        contexts.append(wanted_context)
    else:
        contexts[at_context] = wanted_context
    _write(path, data)
    return KubeSetup(path, user, context, outcome)


def remove_kube(ctx: AppContext, name: str, cluster: str, kubeconfig: str | None) -> KubeSetup:
    """Undo setup-kube: its user entry and its context go, when integray-auth wrote them."""
    authorization = lookup.locate(ctx, name)
    path = kubeconfig_path(ctx.environ, kubeconfig)
    if not os.path.exists(path):
        _load(path)
    lock = _lock(path)
    try:
        return _remove(path, authorization, cluster)
    finally:
        _unlock(lock)


def _remove(path: str, authorization: Authorization, cluster: str) -> KubeSetup:
    data = _load(path)
    user, context = _names(authorization, cluster)
    users, contexts = data.get("users") or [], data.get("contexts") or []
    at_context = _find(contexts, context)
    removed = False
    if at_context is not None and (contexts[at_context].get("context") or {}).get("user") == user:
        del contexts[at_context]
        removed = True
    still_used = any((c.get("context") or {}).get("user") == user for c in contexts)
    at_user = _find(users, user)
    if at_user is not None and _is_ours(users[at_user]) and not still_used:
        del users[at_user]
        removed = True
    if not removed:
        return KubeSetup(path, user, context, "absent")
    _write(path, data)
    return KubeSetup(path, user, context, "removed")

