"""No keyring (issue 19 item 1): on a machine without a Secret Service, what needs the keyring
says so and names every way to give it — the client secret in the environment or on stdin, the
tokens in a file or Vault, a Secret Service started by the one documented line, keyrings.alt —
and never advises an option the command lacks. Then the documented line itself, run as written:
it starts GNOME Keyring headless and integray-auth keeps a client secret in it."""

from __future__ import annotations

import re
import subprocess

from integray_auth.cli.helptopics import HEADLESS_KEYRING
from tests.support.cli import REPO, SCRIPT, assert_error_line
from tests.support.commandline import problem
from tests.support.plugin import require

NO_SECRET_SERVICE = {"PYTHON_KEYRING_BACKEND": None, "DBUS_SESSION_BUS_ADDRESS": None}  # keyring finds none by itself


def _hinted_commands(line: str) -> list[list[str]]:
    return [command.split()[1:] for command in re.findall(r"integray-auth [a-z][a-z -]*[a-z]", line)]


def test_add_with_insecure_storage_says_the_client_secret_needs_the_keyring_and_the_other_ways(cli):
    result = cli("add", "Repos", "-p", "github", "-c", "list-repositories", "--insecure-storage", "--no-browser",
                 "--client-id", "Ov23liTEST", env=NO_SECRET_SERVICE)

    line = assert_error_line(result, 8, "GitHub needs the client secret", "keyring",
                             "INTEGRAY_AUTH_GITHUB_CLIENT_SECRET", "--client-secret-stdin", "integray-auth help keyring")
    assert "--insecure-storage" not in line  # given already: the secret is what needs the keyring
    assert all(problem(words) is None for words in _hinted_commands(line))


def test_the_secret_from_the_environment_needs_no_keyring(cli):
    env = {**NO_SECRET_SERVICE, "INTEGRAY_AUTH_GITHUB_CLIENT_SECRET": "s3cret"}
    result = cli("add", "Repos", "-p", "github", "-c", "list-repositories", "--insecure-storage",
                 "--client-id", "Ov23liTEST", "--no-input", env=env)

    assert result.code == 2, result.stderr  # past the keyring: only nobody to consent is left
    assert "keyring" not in result.stderr and "s3cret" not in result.stderr


def test_tokens_without_a_keyring_name_insecure_storage_vault_and_the_help_topic(cli):
    result = cli("add", "Repos", "-p", "github", "-c", "list-repositories", "--device", "--client-id", "Ov23liTEST",
                 env=NO_SECRET_SERVICE)

    assert_error_line(result, 8, "no usable OS keyring", "--insecure-storage", "--storage vault", "integray-auth help keyring")


def test_client_set_never_advises_an_option_it_lacks(cli):
    result = cli("client", "set", "github", "--client-id", "Ov23liTEST", "--secret-stdin", input="s3cret\n",
                 env=NO_SECRET_SERVICE)

    line = assert_error_line(result, 8, "cannot keep the client secret of GitHub", "INTEGRAY_AUTH_GITHUB_CLIENT_SECRET",
                             "--client-secret-stdin on add/authorize", "integray-auth help keyring")
    assert "--insecure-storage" not in line and "s3cret" not in line
    assert problem(["client", "set", "github", "--insecure-storage"])  # the option it must not advise


def test_client_set_of_the_id_alone_still_works_and_says_how_to_give_the_secret(cli):
    result = cli("client", "set", "github", "--client-id", "Ov23liTEST", env=NO_SECRET_SERVICE)

    assert result.code == 0, result.stderr
    assert "Saved the client id for GitHub" in result.stderr
    assert "INTEGRAY_AUTH_GITHUB_CLIENT_SECRET" in result.stderr and "integray-auth help keyring" in result.stderr


def test_doctor_names_every_way_and_advises_no_option_to_client_set(cli):
    result = cli("doctor", env=NO_SECRET_SERVICE)

    assert result.code == 8
    row = next(line for line in result.stdout.splitlines() if line.startswith("problem\tkeyring"))
    for way in ("--insecure-storage or --storage vault on add/authorize", "INTEGRAY_AUTH_<PROVIDER>_CLIENT_SECRET",
                "--client-secret-stdin on add/authorize", "integray-auth help keyring"):
        assert way in row, way
    assert "client set" not in row


def test_help_keyring_prints_the_documented_line(cli):
    result = cli("help", "keyring")

    assert (result.code, result.stderr) == (0, "")
    assert f"\n      {HEADLESS_KEYRING}\n" in result.stdout
    for way in ("INTEGRAY_AUTH_<PROVIDER>_CLIENT_SECRET", "--client-secret-stdin", "--insecure-storage", "keyrings.alt"):
        assert way in result.stdout, way
    for page in ("README.md", "docs/authorizing.md"):
        assert HEADLESS_KEYRING in (REPO / page).read_text(), page


def test_the_documented_line_starts_a_keyring_that_keeps_the_client_secret(tmp_path):
    require("dbus-run-session", "dbus-run-session (apt: dbus) is not installed")
    require("gnome-keyring-daemon", "gnome-keyring-daemon (apt: gnome-keyring) is not installed")
    import os

    env = {key: value for key, value in os.environ.items() if key not in ("PYTHON_KEYRING_BACKEND", "DBUS_SESSION_BUS_ADDRESS")}
    env["PATH"] = f"{SCRIPT.parent}:{env['PATH']}"
    # The password line answers `read`; the rest is what the shell the line opens runs.
    typed = ("keyring-pw\n"
             "printf 's3cret\\n' | integray-auth client set github --client-id Ov23liTEST --secret-stdin\n"
             "integray-auth doctor\n")  # fmt: skip
    done = subprocess.run(HEADLESS_KEYRING, shell=True, input=typed, capture_output=True, text=True, env=env, timeout=60)

    assert done.returncode == 0, done.stderr
    assert "Stored the client secret for GitHub in the keyring." in done.stderr
    assert re.search(r"^ok\tkeyring\tusable \(keyring\.backends\.SecretService\.Keyring\)$", done.stdout, re.M), done.stdout
    assert "s3cret" not in done.stdout + done.stderr
