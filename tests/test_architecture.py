"""The shape of the package (docs/architecture.md): no import circle at run
time, no private name used across modules, FilePath as the one path type,
and nothing that points at files a clone of the project does not have."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

from integray_auth import lean
from tests.support.imports import PACKAGE, module_imports, modules

ROOT = Path(lean.__file__).resolve().parent.parent
REPO = Path(__file__).resolve().parent.parent


def _graph() -> dict[str, set[str]]:
    known = modules(ROOT)
    return {
        name: {target for target, _ in module_imports(ROOT, name) if target in known and target != name}
        for name in known
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_package_has_no_import_circle():
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_one():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_private_name_is_imported_across_modules():
    known = modules(ROOT)
    wrong = []
    for name, path in known.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith(PACKAGE)):
                wrong += [f"{name}: {a.name}" for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
    assert wrong == []


PATHLIB_TYPES = {"Path", "PurePath", "PosixPath", "PurePosixPath", "WindowsPath", "PureWindowsPath"}


def _pathlib_uses(source: str) -> list[str]:
    """Where `source` imports pathlib or annotates one of its path types (string annotations too)."""
    found = []

    def annotation(node: ast.AST | None, line: int) -> None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            try:
                node = ast.parse(node.value, mode="eval")
            except SyntaxError:
                return
        for part in ast.walk(node) if node is not None else ():
            if isinstance(part, ast.Name) and part.id in PATHLIB_TYPES or isinstance(part, ast.Attribute) and part.attr in PATHLIB_TYPES:
                found.append(f"line {line}: annotated {ast.unparse(part)}")

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import) and any(alias.name.split(".")[0] == "pathlib" for alias in node.names):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").split(".")[0] == "pathlib":
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            arguments = node.args
            for arg in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs, arguments.vararg, arguments.kwarg]:
                if arg is not None:
                    annotation(arg.annotation, arg.lineno)
            annotation(node.returns, node.lineno)
        elif isinstance(node, ast.AnnAssign):
            annotation(node.annotation, node.lineno)
    return found


def test_filepath_is_the_package_s_one_path_type():
    # lean/filepath.py declares FilePath the one path type (pathlib.Path itself on Windows):
    # a path from the command line becomes one at the CLI boundary (cli/app.py's --registry),
    # so no other module imports pathlib or hands a pathlib.Path inward.
    wrong = [
        f"{name}: {use}" for name, path in sorted(modules(ROOT).items()) if name != f"{PACKAGE}.lean.filepath"
        for use in _pathlib_uses(path.read_text(encoding="utf-8"))
    ]
    assert wrong == []


def test_the_pathlib_finder_finds_imports_and_annotations():
    source = (
        "import pathlib\nfrom pathlib import PurePath as P\nfrom .pathlib import x\n"
        "def f(a: 'Path', *, b: pathlib.Path | None = None) -> list[PosixPath]: ...\n"
        "c: FilePath = d\ne: Optional[Path] = None\n"
    )
    assert _pathlib_uses(source) == [
        "line 1: import pathlib",
        "line 2: from pathlib import PurePath as P",
        "line 4: annotated Path",
        "line 4: annotated pathlib.Path",
        "line 4: annotated PosixPath",
        "line 6: annotated Path",
    ]


def test_nothing_in_the_repository_points_at_a_folder_it_does_not_ship():
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True).stdout.split()
    if not files:  # an installed copy without its repository: the sources alone
        files = [str(p.relative_to(REPO)) for p in ROOT.rglob("*.py")]
    needle = "shared/" + "reference"
    wrong = [f for f in files if (REPO / f).is_file() and not f.startswith("tests/support/oidc_provider/")
             and needle in (REPO / f).read_text(encoding="utf-8", errors="replace")]
    assert wrong == []


def test_no_test_module_imports_another_test_modules_helpers():
    # What tests share lives in tests/support/ (fixtures and helpers); a test module
    # importing another one's makes the two move together, and runs its tests twice.
    tests = Path(__file__).resolve().parent
    wrong = []
    for path in sorted(tests.rglob("*.py")):
        if "node_modules" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                if name == "tests.conftest" or name.startswith("tests.test_"):
                    wrong.append(f"{path.relative_to(tests)}:{node.lineno} imports {name}")
    assert len(list(tests.glob("test_*.py"))) > 20
    assert not wrong, wrong
