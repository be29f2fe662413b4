"""`doctor`: say what is wrong with the registry, the index and the secret
store, and with --repair set a broken index aside."""

from __future__ import annotations

from ..context import AppContext
from ..errors import ExitCode, IntegrayAuthError
from ..index import UnusableIndex
from ..printable import escape


def run_doctor(ctx: AppContext, repair: bool) -> int:
    """Print one line per check on stdout; return the exit code of the worst problem."""
    worst = 0

    def report(name: str, problem: IntegrayAuthError | None, ok: str) -> None:
        nonlocal worst
        if problem is None:
            ctx.stdout.write(f"ok\t{name}\t{escape(ok)}\n")
        else:
            stop = "" if problem.message.endswith((".", "?", "!")) else "."
            hint = f" {problem.hint}" if problem.hint else ""
            # Messages quote file contents and paths: escaped, one row each.
            ctx.stdout.write(f"problem\t{name}\t{escape(problem.message + stop + hint)}\n")
            worst = worst or int(problem.exit_code)

    try:
        registry = ctx.registry
        report("registry", None, f"{len(registry.providers)} providers from {', '.join(registry.sources)}")
    except IntegrayAuthError as problem:
        report("registry", problem, "")

    try:
        count = len(ctx.index.load())
        report("index", None, f"{count} authorizations in {ctx.index.path}")
    except IntegrayAuthError as problem:
        if repair and isinstance(problem, UnusableIndex):
            moved = ctx.index.set_aside(ctx.clock())
            ctx.stdout.write(f"repaired\tindex\tmoved the broken index to {escape(str(moved))}; a new one starts empty\n")
            ctx.stderr.write(
                "Tokens of the old authorizations are still in the keyring; "
                "add the authorizations again and they will be replaced.\n"
            )
        else:
            report("index", problem, "")

    try:
        from ..secret_store import keyring_status

        report("keyring", None, keyring_status(ctx))
    except IntegrayAuthError as problem:
        report("keyring", problem, "")
    return worst or int(ExitCode.OK)
