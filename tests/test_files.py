"""Files that are not what they seem (issue 6, items 4, 15-17): FIFOs, deep nesting,
symlinks, foreign or writable folders, huge files; and core dumps being off.

Every test runs the installed command in a subprocess with a timeout: on the old code a
FIFO made it block forever, which here is a TimeoutExpired, i.e. a failure, not a hung suite.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from integray_auth.errors import ExitCode
from tests.support.cli import SCRIPT, assert_error_line

pytestmark = pytest.mark.skipif(os.name != "posix", reason="FIFOs, modes and owners are POSIX-only")

NOBODY = 65534
DEEP = 5000  # far past Python's recursion limit (1000)
ADD = ["add", "Prague", "-p", "reservanto", "-c", "list-locations", "--no-authorize"]





def quick(cli, *args, env=None):
    """The command must answer, not block (it used to block on a FIFO): a hang ends in
    subprocess.TimeoutExpired. Generous, so a loaded machine never fails it; not a speed check."""
    return cli(*args, env=env, timeout=60)


def private_home(home: Path) -> Path:
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    return home


def added(cli, home: Path) -> None:
    result = cli(*ADD)
    assert result.code == 0, result.stderr


# --- 16: non-regular files are refused before they are opened for reading -------------------


def test_a_fifo_overlay_named_by_the_environment_is_refused_not_waited_on(cli, home, tmp_path):
    added(cli, home)  # so `list` needs the registry
    fifo = tmp_path / "overlay.toml"
    os.mkfifo(fifo)

    for args in (["providers"], ["list"]):
        result = quick(cli, *args, env={"INTEGRAY_AUTH_REGISTRY": str(fifo)})
        assert_error_line(result, ExitCode.REGISTRY, str(fifo), "FIFO", "not a file")


def test_a_fifo_overlay_or_config_toml_in_the_config_folder_is_refused(cli, home):
    private_home(home)
    os.mkfifo(home / "providers.toml")
    assert_error_line(quick(cli, "providers"), ExitCode.REGISTRY, str(home / "providers.toml"), "FIFO")

    (home / "providers.toml").unlink()
    os.mkfifo(home / "config.toml")
    result = quick(cli, "add", "Prague", "-p", "reservanto", "-c", "list-locations", "--insecure-storage",
                   env={"INTEGRAY_AUTH_RESERVANTO_CLIENT_ID": None})
    assert_error_line(result, ExitCode.REGISTRY, str(home / "config.toml"), "FIFO")


def test_a_fifo_index_is_refused_and_doctor_repair_sets_it_aside(cli, home):
    private_home(home)
    os.mkfifo(home / "index.json")

    for args in (["list"], ["token", "Prague"], ADD):
        assert_error_line(quick(cli, *args), ExitCode.INDEX, str(home / "index.json"), "FIFO", "doctor --repair")

    repaired = quick(cli, "doctor", "--repair")
    assert "repaired\tindex" in repaired.stdout, repaired.stdout + repaired.stderr
    assert not os.path.lexists(home / "index.json")
    assert [p for p in home.iterdir() if p.name.startswith("index.json.broken-")]
    added(cli, home)


def test_a_fifo_in_place_of_the_registry_cache_is_ignored_not_waited_on(cli, home):
    added(cli, home)
    cache = home / "cache" / "registry.json"
    cache.unlink()
    os.mkfifo(cache)

    result = quick(cli, "list")
    assert result.code == 0, result.stderr
    assert "Prague" in result.stdout


def test_a_huge_index_or_overlay_is_refused_without_being_read(cli, home, tmp_path):
    private_home(home)
    with open(home / "index.json", "wb") as sparse:  # sparse: costs no disk
        sparse.truncate(4 * 1024 ** 3 + 1)  # the limit moved (issue 17, item 6: tests/test_index_size.py)
    assert_error_line(quick(cli, "list"), ExitCode.INDEX, str(home / "index.json"), "larger than 4 GiB")

    overlay = tmp_path / "huge.toml"
    with open(overlay, "wb") as sparse:
        sparse.truncate(5 * 1024 * 1024)
    result = quick(cli, "providers", env={"INTEGRAY_AUTH_REGISTRY": str(overlay)})
    assert_error_line(result, ExitCode.REGISTRY, str(overlay), "larger than 4 MiB")


# --- 15: deep nesting is the reader's documented error, naming the file ----------------------


@pytest.mark.parametrize(
    "text",
    [
        "x = " + "[" * DEEP + "]" * DEEP + "\n",
        "x = " + "{a = " * DEEP + "1" + "}" * DEEP + "\n",
        "[providers.acme]\nnotes = " + "[" * DEEP + "]" * DEEP + "\n",
    ],
    ids=["arrays", "inline-tables", "inside-a-provider"],
)
def test_a_deeply_nested_overlay_is_a_registry_error(cli, tmp_path, text):
    overlay = tmp_path / "deep.toml"
    overlay.write_text(text)

    result = quick(cli, "providers", env={"INTEGRAY_AUTH_REGISTRY": str(overlay)})

    assert_error_line(result, ExitCode.REGISTRY, str(overlay), "nested too deeply")


def test_a_deeply_nested_config_toml_is_a_registry_error(cli, home):
    private_home(home)
    (home / "config.toml").write_text("[clients.reservanto]\nx = " + "[" * DEEP + "]" * DEEP + "\n")

    result = quick(cli, "add", "Prague", "-p", "reservanto", "-c", "list-locations", "--insecure-storage",
                   env={"INTEGRAY_AUTH_RESERVANTO_CLIENT_ID": None})

    assert_error_line(result, ExitCode.REGISTRY, str(home / "config.toml"), "nested too deeply")


@pytest.mark.parametrize(
    "document",
    [
        '{"a": ' * DEEP + "1" + "}" * DEEP,
        '{"schema_version": 1, "authorizations": ' + "[" * DEEP + "]" * DEEP + "}",
        # Parses (below the limit), but copying it back out would recurse too deep.
        '{"schema_version": 1, "authorizations": [{"id": "a", "name": "A", "provider": "reservanto",'
        ' "connectors": [], "requested_scopes": [], "created_at": "x", "updated_at": "x",'
        ' "later": ' + "[" * 900 + "]" * 900 + "}]}",
    ],
    ids=["objects", "arrays", "an-unknown-field"],
)
def test_a_deeply_nested_index_is_an_index_error_and_doctor_repair_sets_it_aside(cli, home, document):
    private_home(home)
    (home / "index.json").write_text(document)

    for args in (["list"], ADD):
        assert_error_line(quick(cli, *args), ExitCode.INDEX, str(home / "index.json"), "doctor --repair")

    repaired = quick(cli, "doctor", "--repair")
    assert "unexpected error" not in repaired.stderr
    assert "repaired\tindex" in repaired.stdout, repaired.stdout + repaired.stderr
    added(cli, home)


# --- 17: symlinks ---------------------------------------------------------------------------


def test_a_dangling_lock_symlink_creates_no_file_where_it_points(cli, home, tmp_path):
    private_home(home)
    target = tmp_path / "planted"
    (home / "index.lock").symlink_to(target)

    assert_error_line(quick(cli, *ADD), ExitCode.INDEX, str(home / "index.lock"), "symbolic link")

    assert not os.path.lexists(target)


def test_an_index_that_is_a_symlink_is_not_followed(cli, home, tmp_path):
    """Another user's index, linked in, must not be read (nor written through)."""
    added(cli, home)
    elsewhere = tmp_path / "elsewhere.json"
    (home / "index.json").rename(elsewhere)
    (home / "index.json").symlink_to(elsewhere)

    assert_error_line(quick(cli, "list"), ExitCode.INDEX, str(home / "index.json"), "symbolic link", "doctor --repair")
    assert "repaired\tindex" in quick(cli, "doctor", "--repair").stdout
    assert elsewhere.exists()  # set aside is a rename of the link, not of what it points at


# --- 17: folders of the tool's own must be the user's, not writable by others ----------------


@pytest.mark.parametrize("mode", [0o770, 0o707, 0o777], ids=oct)
def test_a_data_folder_writable_by_group_or_others_is_refused(cli, home, mode):
    added(cli, home)
    os.chmod(home, mode)

    for args in (["list"], ["token", "Prague"], ["show", "Prague"], ADD):
        line = assert_error_line(quick(cli, *args), ExitCode.INDEX, str(home), "writable by group or others")
        assert f"chmod 700 {home}" in line


def test_a_data_folder_owned_by_another_user_is_refused(cli, home):
    added(cli, home)
    os.chown(home, NOBODY, -1)

    for args in (["list"], ["token", "Prague"], ADD):
        assert_error_line(quick(cli, *args), ExitCode.INDEX, str(home), f"owned by another user (uid {NOBODY})")


def test_an_index_file_owned_by_another_user_or_writable_by_others_is_refused(cli, home):
    added(cli, home)
    index = home / "index.json"
    os.chown(index, NOBODY, -1)
    assert_error_line(quick(cli, "list"), ExitCode.INDEX, str(index), "owned by another user")

    os.chown(index, os.geteuid(), -1)
    os.chmod(index, 0o622)
    line = assert_error_line(quick(cli, "list"), ExitCode.INDEX, str(index), "writable by group or others")
    assert f"chmod 600 {index}" in line


def test_a_config_folder_writable_by_others_is_a_registry_error(cli, tmp_path):
    """Without INTEGRAY_AUTH_HOME the config folder is its own (XDG_CONFIG_HOME/integray-auth)."""
    config = tmp_path / "xdg_config_home" / "integray-auth"
    config.mkdir(mode=0o700)
    (config / "providers.toml").write_text("")
    os.chmod(config, 0o777)

    result = quick(cli, "providers", env={"INTEGRAY_AUTH_HOME": None})

    line = assert_error_line(result, ExitCode.REGISTRY, "config folder", str(config), "writable by group or others")
    assert f"chmod 700 {config}" in line


def test_a_folder_readable_by_others_is_fine_and_a_shared_parent_is_not_judged(cli, tmp_path):
    """A home made with mkdir (0755) is fine; what is above it (here a 1777 folder, like /tmp) is not ours."""
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    home = shared / "home"
    home.mkdir(mode=0o755)
    os.chmod(home, 0o755)

    env = {"INTEGRAY_AUTH_HOME": str(home)}
    assert cli(*ADD, env=env).code == 0
    result = cli("list", env=env)
    assert result.code == 0, result.stderr
    assert "Prague" in result.stdout


def test_every_missing_parent_folder_is_created_0700(cli, tmp_path):
    home = tmp_path / "a" / "b" / "c"

    result = cli(*ADD, env={"INTEGRAY_AUTH_HOME": str(home)})

    assert result.code == 0, result.stderr
    for folder in (tmp_path / "a", tmp_path / "a" / "b", home, home / "cache"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


# --- 4: no core dumps -----------------------------------------------------------------------


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/PID/limits")
def test_the_process_turns_core_dumps_off(home):
    """Started with core dumps allowed, the command runs with a core limit of 0 (soft and
    hard). It is caught waiting for the index lock, which the test holds. (In-process runs
    of main() leave the limit alone, so the test process can still allow them.)"""
    import fcntl
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_CORE)
    if hard == 0:
        pytest.skip("core dumps are already off for the test run; nothing to turn off")

    def allow_core_dumps():
        resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))

    private_home(home)
    with open(home / "index.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        process = subprocess.Popen([str(SCRIPT), *ADD], preexec_fn=allow_core_dumps,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            limits = ""
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                limits = Path(f"/proc/{process.pid}/limits").read_text()
                core = next(line for line in limits.splitlines() if line.startswith("Max core file size"))
                if core.split()[4:6] == ["0", "0"]:
                    break
                time.sleep(0.02)
            assert core.split()[4:6] == ["0", "0"], core
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
            process.wait(timeout=30)
    assert process.returncode == 0
