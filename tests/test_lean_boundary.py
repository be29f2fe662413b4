"""The fast-path boundary (integray_auth/lean/__init__.py) holds: every module
declared fast imports at its top only the cheap standard library and other
fast modules; each module of lean/ is declared; every module a fast command
really loads is declared; and nothing outside the boundary is written the lean
way (imports inside functions, `TYPE_CHECKING = False`) except for the optional
heavy dependencies."""

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


@pytest.mark.parametrize("argv", [
    ["list"], ["list", "--json", "name"], ["search", "x"], ["status"], ["token", "x"],
    ["__complete", "bash", "integray-auth add X -p reservanto -c ", ""],  # a Tab that reads the registry
    ["add", "X", "-p", "reservanto", "-c", "list-locations", "--no-authorize"],
])
def test_what_a_fast_command_loads_is_declared(argv, tmp_path):
    # -X importtime: the fast path ends with os._exit, so nothing after it could report sys.modules.
    env = {"INTEGRAY_AUTH_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", PACKAGE, *argv],
                          capture_output=True, text=True, env=env, timeout=120)
    names = {line.rpartition("|")[2].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    loaded = {m[len(PACKAGE) + 1:] if m != PACKAGE else "" for m in names if m.split(".")[0] == PACKAGE}
    assert "main" in loaded, done.stderr  # the probe sees our modules
    assert loaded <= lean.FAST_PATH, sorted(loaded - lean.FAST_PATH)


def _modules_outside_the_boundary():
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if name not in lean.FAST_PATH:
            yield name, path


@pytest.mark.parametrize("name,path", list(_modules_outside_the_boundary()), ids=lambda v: str(v))
def test_a_module_outside_the_boundary_imports_at_its_top(name, path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    inside = []
    for function in ast.walk(tree):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                roots = {PACKAGE} if node.level else {(node.module or "").split(".")[0]}
            else:
                continue
            if not roots <= lean.OPTIONAL_HEAVY:
                inside.append(f"line {node.lineno}: {ast.unparse(node)}")
    assert not inside, f"{name} is not on the fast path: import these at its top: {inside}"
    lean_flag = [n.lineno for n in tree.body if isinstance(n, ast.Assign) and ast.unparse(n) == "TYPE_CHECKING = False"]
    assert not lean_flag, f"{name} is not on the fast path: use `from typing import TYPE_CHECKING`"


def test_the_boundary_rules_see_modules_on_both_sides():
    # Guards the two tests above against an empty parametrisation (a moved package root).
    outside = [name for name, _ in _modules_outside_the_boundary()]
    assert len(outside) > 20 and len(lean.FAST_PATH) > 20
