"""What tests share about the installed command: where it is (SCRIPT, REPO), how its
results are checked (one error line, no crash), and an in-memory keyring for unit tests."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).with_name("integray-auth" + (".exe" if os.name == "nt" else ""))


class MemoryKeyring(KeyringBackend):
    """A real keyring backend that keeps secrets in a dict (unit tests only)."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.entries.get((service, username))

    def set_password(self, service, username, password):
        self.entries[(service, username)] = password

    def delete_password(self, service, username):
        if self.entries.pop((service, username), None) is None:
            raise PasswordDeleteError("No such password!")


def environment(*parts: dict) -> dict:
    """os.environ with each part laid over it in turn; a None value removes the variable."""
    merged = dict(os.environ)
    for part in parts:
        for key, value in part.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
    return merged


def assert_no_crash(stderr: str) -> None:
    """Neither a traceback nor the entry point's last-resort line: main() turns
    every crash into "unexpected error", so "Traceback" alone catches almost none."""
    assert "Traceback" not in stderr, stderr
    assert "unexpected error" not in stderr, stderr


def assert_error_line(result, code, *fragments: str) -> str:
    """The exit code, nothing on stdout, one stderr line with every fragment."""
    assert_no_crash(result.stderr)
    assert result.code == code, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("integray-auth: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)
