"""The fast-path boundary (integray_auth/lean/__init__.py) holds: every module
declared fast imports at its top only the cheap standard library and other
fast modules; each module of lean/ is declared; every module a fast command
really loads is declared."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from integray_auth import lean
from tests.support.imports import PACKAGE, module_imports

ROOT = Path(lean.__file__).resolve().parent.parent
# On Windows FilePath is pathlib.Path itself (drives, "\\", case): the one top-level import
# behind `if os.name == "nt"`, never run on the POSIX fast path.
WINDOWS_ONLY = {("lean.filepath", "pathlib")}


def _dotted(name: str) -> str:
    return f"{PACKAGE}.{name}" if name else PACKAGE


@pytest.mark.parametrize("name", sorted(lean.FAST_PATH))
def test_a_fast_module_imports_only_the_cheap_stdlib_and_fast_modules_at_its_top(name):
    allowed = {_dotted(n) for n in lean.FAST_PATH}
    wrong = []
    for target, top_level in module_imports(ROOT, _dotted(name)):
        if not top_level:
            continue  # a slower branch pays for its own imports
        if target.split(".")[0] == PACKAGE:
            if target not in allowed:
                wrong.append(target)
        elif target.split(".")[0] not in lean.CHEAP_STDLIB and (name, target) not in WINDOWS_ONLY:
            wrong.append(target)
    assert not wrong, f"{name} imports at its top what the fast path may not: {wrong}"


def test_every_module_of_lean_is_declared_fast():
    here = {f"lean.{p.stem}" for p in (ROOT / "lean").glob("*.py") if p.stem != "__init__"}
    assert here <= lean.FAST_PATH, here - lean.FAST_PATH


@pytest.mark.parametrize("argv", [["list"], ["list", "--json", "name"], ["search", "x"], ["status"], ["token", "x"]])
def test_what_a_fast_command_loads_is_declared(argv, tmp_path):
    # -X importtime: the fast path ends with os._exit, so nothing after it could report sys.modules.
    env = {"INTEGRAY_AUTH_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", PACKAGE, *argv],
                          capture_output=True, text=True, env=env, timeout=120)
    names = {line.rpartition("|")[2].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    loaded = {m[len(PACKAGE) + 1:] if m != PACKAGE else "" for m in names if m.split(".")[0] == PACKAGE}
    assert "main" in loaded, done.stderr  # the probe sees our modules
    assert loaded <= lean.FAST_PATH, sorted(loaded - lean.FAST_PATH)
