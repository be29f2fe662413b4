"""`doctor`: say what is wrong with the registry, the index and the secret
store, and with --repair set a broken index aside. It returns the checks;
the command layer prints them (aligned on a terminal, TSV when piped)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..context import AppContext
from ..errors import ExitCode, IntegrayAuthError
from ..stores.index import UnusableIndex
from ..stores.secrets import keyring_status


@dataclass
class Check:
    state: str  # "ok" | "problem" | "repaired"
    name: str  # "registry" | "index" | "keyring"
    detail: str


@dataclass
class DoctorReport:
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # for stderr
    exit_code: int = int(ExitCode.OK)  # of the first problem


def run_doctor(ctx: AppContext, repair: bool) -> DoctorReport:
    report = DoctorReport()

    def add(name: str, problem: IntegrayAuthError | None, ok: str) -> None:
        if problem is None:
            report.checks.append(Check("ok", name, ok))
            return
        stop = "" if problem.message.endswith((".", "?", "!")) else "."
        hint = f" {problem.hint}" if problem.hint else ""
        report.checks.append(Check("problem", name, problem.message + stop + hint))
        report.exit_code = report.exit_code or int(problem.exit_code)

    try:
        registry = ctx.registry
        add("registry", None, f"{len(registry.providers)} providers from {', '.join(registry.sources)}")
    except IntegrayAuthError as problem:
        add("registry", problem, "")

    try:
        count = len(ctx.index.load())
        add("index", None, f"{count} authorizations in {ctx.index.path}")
    except IntegrayAuthError as problem:
        if repair and isinstance(problem, UnusableIndex):
            moved = ctx.index.set_aside(ctx.clock())
            report.checks.append(Check("repaired", "index", f"moved the broken index to {moved}; a new one starts empty"))
            report.notes.append(
                "Tokens of the old authorizations are still in the keyring; "
                "add the authorizations again and they will be replaced."
            )
        else:
            add("index", problem, "")

    try:
        add("keyring", None, keyring_status(ctx))
    except IntegrayAuthError as problem:
        add("keyring", problem, "")
    return report
