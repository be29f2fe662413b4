"""The README's first command does the main job (issue 11 item 9): on a
checkout, `bash scripts/demo.sh` runs add -> consent -> Authorized -> list ->
token -> remove against the embedded local authorization server."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from tests.support.cli import REPO, assert_no_crash

pytestmark = pytest.mark.e2e


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    first_block = re.search(r"```sh\n(.*?)```", text, re.S).group(1)
    return [line.split("  #")[0].strip() for line in first_block.splitlines() if line.strip()]


def test_the_readme_starts_with_the_demo_then_the_tests_then_the_install_line():
    commands = readme_commands()
    assert commands[:2] == ["bash scripts/demo.sh", "bash scripts/test.sh"]
    text = (REPO / "README.md").read_text()
    after = text[text.index("bash scripts/test.sh"):]
    assert "pip install" in after.split("\n## ")[0]  # the install-for-real-use line right below


def test_the_demo_runs_the_whole_flow(tmp_path):
    pytest.importorskip("oauth2_provider", reason="the demo server needs django-oauth-toolkit")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER", "INTEGRAY_AUTH_HOME")}
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env["TMPDIR"] = str(scratch)
    done = subprocess.run(["bash", str(REPO / "scripts" / "demo.sh")], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=180, env=env)
    assert done.returncode == 0, done.stderr
    err = done.stderr
    assert_no_crash(err)
    steps = ["+ integray-auth add Demo", "Authorized 'Demo' with Demo Server", "+ integray-auth list",
             "+ integray-auth show Demo", "+ integray-auth token Demo", "Revoked the grant at Demo Server.",
             "Removed 'Demo'.", "Done: the demo added an authorization"]
    positions = [err.find(step) for step in steps]
    assert -1 not in positions and positions == sorted(positions), err
    assert "Account:    alice@example.test" in done.stdout  # show's label, not "Account: 1"
    rows = [line for line in done.stdout.splitlines() if line.startswith("Demo Server\tDemo\tAuthorized")]
    assert rows, done.stdout  # `list` printed it Authorized
    token_length = int(done.stdout.strip().splitlines()[-1])
    assert token_length > 10  # `token | wc -c`: a real access token was printed
    assert list(scratch.iterdir()) == []  # the scratch home and server are gone
