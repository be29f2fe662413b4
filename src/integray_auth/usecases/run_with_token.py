"""`exec NAME -- CMD ARG...`: run a command with a valid access token in its
environment, never on its command line (which every local user can read in
/proc/PID/cmdline), and without our secrets (childenv.py).

On POSIX the command replaces this process (execvpe): its exit code and
signals are ours without a parent in between that could get them wrong.
"""

from __future__ import annotations

import os
import re
import subprocess

from ..childenv import child_environment
from ..context import AppContext
from ..errors import CannotRun, CommandNotFound, UsageError
from ..lean.printable import quoted
from .access_token import valid_tokens

_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def run_with_token(
    ctx: AppContext, name: str, command: list[str], variable: str, min_valid: int | None = None, force: bool = False
) -> int:
    """Run `command` with the token in `variable`; returns its exit code
    (on POSIX it does not return: the command takes over this process)."""
    if not command:
        raise UsageError("no command to run", hint="Give it after '--', e.g. integray-auth exec NAME -- env")
    if not _VARIABLE.fullmatch(variable):
        raise UsageError(f"--env-var {quoted(variable)} is not a variable name", hint="Use letters, digits and '_', e.g. API_TOKEN.")
    tokens = valid_tokens(ctx, name, min_valid=min_valid, force=force)  # before anything starts
    env = child_environment(ctx.environ, keep_settings=True)
    env[variable] = tokens.access_token
    for stream in (ctx.stdout, ctx.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    try:
        if os.name == "posix":
            os.execvpe(command[0], command, env)
        return subprocess.run(command, env=env, check=False).returncode
    except FileNotFoundError:
        raise CommandNotFound(f"command not found: {quoted(command[0])}", hint="Check its name and PATH.") from None
    except (PermissionError, OSError) as exc:
        raise CannotRun(f"cannot run {quoted(command[0])}: {exc.strerror or exc}") from None
