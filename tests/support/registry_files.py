"""Registry files written by tests, and the one error line a registry problem gives."""

from __future__ import annotations

import textwrap
from pathlib import Path

from integray_auth.errors import ExitCode
from tests.support.cli import assert_no_crash


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def assert_registry_error_line(result, *fragments: str) -> str:
    """Exit 3 and exactly one stderr line carrying every fragment; no traceback."""
    assert_no_crash(result.stderr)
    assert result.code == ExitCode.REGISTRY, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]
