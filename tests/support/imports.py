"""The package's import graph as the interpreter sees it at run time: every
import statement outside `if TYPE_CHECKING:`, with whether it runs when the
module is imported (top level) or later (inside a function)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

PACKAGE = "integray_auth"


def modules(root: Path) -> dict[str, Path]:
    """Dotted name -> file, for every module of the package at `root`."""
    found = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def module_imports(root: Path, name: str) -> list[tuple[str, bool]]:
    """(imported module, at top level) for each import in module `name`; names
    imported from a package that are its submodules count as those modules."""
    known = modules(root)
    path = known[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if _type_checking(child):
                continue
            inner = top and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((alias.name, top) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - child.level + 1]
                    source = ".".join(base + ([child.module] if child.module else []))
                else:
                    source = child.module or ""
                for alias in child.names:
                    sub = f"{source}.{alias.name}"
                    found.append((sub if sub in known else source, top))
            visit(child, inner)

    visit(ast.parse(path.read_text(encoding="utf-8")), True)
    return found


HEAVY = ("typer", "click", "rich", "requests", "oauthlib", "keyring", "pydantic", "prompt_toolkit")


# Cheaper, but still several milliseconds each on a start-up budget of ~3x
# `python -c pass` (python -X importtime): dataclasses pulls in
# inspect; tomllib is only needed while the registry cache is cold.
SLOW_STDLIB = ("dataclasses", "inspect", "tomllib")


IMPORT_PROBE = textwrap.dedent(
    """
    import json, sys
    from integray_auth.main import main
    code = main(sys.argv[1:])
    modules = sorted({m.split(".")[0] for m in sys.modules})
    print(json.dumps({"code": code, "modules": modules}), file=sys.stderr)
    """
)


def probe(args: list[str], watched) -> tuple[int, list[str], str]:
    """Run the command in a fresh interpreter: its exit code, which of `watched` it imported, its stdout."""
    done = subprocess.run([sys.executable, "-c", IMPORT_PROBE, *args], capture_output=True, text=True, timeout=30)
    report = json.loads(done.stderr.splitlines()[-1])
    return report["code"], sorted(set(report["modules"]) & set(watched)), done.stdout
