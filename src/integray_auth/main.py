"""The entry point: a stdlib-only fast path for the commands scripts call in
loops (`list`, `search`, `show`, `status`, `token`), Typer for everything else, and the one
place where errors become a line on stderr and an exit code.

The fast path only parses arguments differently; it calls the very same
functions as the Typer commands (`run_list`, `run_search`, `run_show`,
`run_status`, `run_token`), so behaviour cannot drift. Anything it does not recognise (help, unknown
options, a typo) falls through to Typer, which explains the problem. Shell
completion's hidden `__complete` is answered here too: it runs on every Tab.
"""

from __future__ import annotations

import os
import sys

from .cli import jsonfields
from .errors import ExitCode, IntegrayAuthError
from .lean.grammar import COMMANDS


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if argv is None:  # run as the program; a caller running it in-process keeps its own limits
        _no_core_dumps()
    answered_fast = False
    try:
        _check_utf8(args)
        args = jsonfields.normalize(args)  # `--json [FIELDS]`, read the same way by both paths
        code = _fast_path(args, own_process=argv is None)
        if code is None:
            # Bulk `add --no-authorize` without Typer (~4x `python -c pass` to import): fast_add.py.
            from .cli import fast_add

            code = fast_add.run(args)
        answered_fast = code is not None
        if code is None:
            code = _run_typer(args)
    except IntegrayAuthError as error:
        _report(error.message, error.hint)
        code = int(error.exit_code)
    except KeyboardInterrupt:
        _report("interrupted", None)
        code = int(ExitCode.INTERRUPTED)
    except BrokenPipeError as gone:
        # `integray-auth list | head`: the reader left; not an error of ours. A
        # command whose exit code says something (status) has left it on the error.
        _silence_stdout()
        code = getattr(gone, "exit_code", int(ExitCode.OK))
    except Exception as error:  # noqa: BLE001 - last line of defence, never a traceback
        if os.environ.get("INTEGRAY_AUTH_DEBUG"):
            raise
        code = _last_resort(error)
    if argv is None:
        if answered_fast:
            _exit_now(code)
        sys.exit(code)
    return code


def _last_resort(error: Exception) -> int:
    """An error nothing below turned into ours: one line, never a traceback."""
    import errno

    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", -1)):
        # Writes to our own files say which file (IndexError_, StorageError); this is stdout.
        _report(f"cannot write the output ({error.strerror})", "Send it where there is room, or free some space.")
    else:
        _report(
            f"unexpected error ({type(error).__name__})",
            "Run again with INTEGRAY_AUTH_DEBUG=1 for details, and report it.",
        )
    return int(ExitCode.ERROR)


def _exit_now(code: int) -> None:
    """End a fast-path process (or a fast `add`) without tearing the interpreter down.

    Finalisation frees every module and every object one by one: with the
    1,000 entries `list` decoded, 4 ms of a 40 ms run, and 2 ms of `token`.
    Nothing is left to finish then: the fast path starts no thread, registers
    no atexit handler and closes every file it writes (atomic_write_text); the
    OS releases its locks. What sits in stdout's and stderr's buffers is
    written here, as the interpreter would have.
    """
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()  # the reader left (`list | head`), as in main()
    except (OSError, ValueError) as error:  # a full disk behind `> file`
        code = _last_resort(error) if code == ExitCode.OK else code
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os._exit(code)


def _no_core_dumps() -> None:
    """Tokens and client secrets pass through this process's memory: a crash
    must not write them to a core file (or hand them to a crash reporter that
    honours the limit, as systemd-coredump does).

    The hard limit goes to 0 as well, so nothing later in the process can
    raise it again; a child (the browser) inherits the limit, which is no loss.
    `resource` is a small C module (~0.2 ms). prctl(PR_SET_DUMPABLE, 0) would
    also cover core handlers that ignore the limit and stop same-user ptrace,
    but it needs ctypes (~3 ms, a tenth of `list`), and a process of the same
    user can read the keyring anyway, so it is not done.
    """
    try:
        import resource
    except ImportError:  # Windows: no core files to turn off
        return
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ValueError, OSError):  # a platform without the limit; nothing to turn off
        pass


def _report(message: str, hint: str | None) -> None:
    from .lean.printable import escape

    # Messages quote provider answers and index strings: escaped here, once,
    # so no error line can carry a terminal escape sequence or a line break.
    message = escape(message)
    line = f"integray-auth: {message}"
    if hint:
        # "did you mean 'x'?" already ends the sentence.
        line += f"{'' if message.endswith(('.', '?', '!')) else '.'} {escape(hint)}"
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):
        pass


def _check_utf8(args: list[str]) -> None:
    """Bytes that are not UTF-8 reach us as lone surrogates (PEP 383); no name,
    path or id can be one, and they would fail later when written out."""
    for position, arg in enumerate(args, 1):
        if arg.isascii():
            continue
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            from .errors import UsageError
            from .lean.printable import quoted

            raise UsageError(
                f"argument {position} ({quoted(arg)}) is not valid UTF-8 text",
                hint="Check the terminal's encoding (LANG, LC_ALL) and type it again.",
            ) from None


def _fast_path(args: list[str], own_process: bool = False) -> int | None:
    """Handle `list`/`search`/`show`/`status`/`token` with known options, else return None."""
    if args and args[0] == "__complete":
        from .cli.completion import answer

        return answer(args[1:])
    if not args or args[0] not in ("list", "search", "show", "status", "token"):
        return None
    if own_process:
        # A short-lived process that makes no reference cycles worth collecting:
        # the cyclic collector would only rescan the index's objects again and
        # again while they are decoded (at 100,000 entries, 40% of `list`).
        import gc

        gc.disable()
    command = args[0]
    parsed = _options(command, args[1:])
    if parsed is None:
        return None
    given, positional = parsed
    if command == "token":
        return _fast_token(given, positional)
    if "--inactive" in given and "--all" in given:
        return None  # let Typer report the clash
    view = "all" if "--all" in given else "inactive" if "--inactive" in given else "active"
    check, no_pager = "--check" in given, "--no-pager" in given
    as_json = "--json" in given
    if command != "status" and len(positional) != (0 if command == "list" else 1):
        return None
    if command != "status":
        as_json = jsonfields.request(command, given.get("--json"), given.get("--jq"))

    from .cli import run
    from .context import AppContext

    ctx = AppContext.from_environment()
    if command == "list":
        run.run_list(ctx, view, as_json)
    elif command == "search":
        run.run_search(ctx, positional[0], view, as_json)
    elif command == "show":
        run.run_show(ctx, positional[0], as_json, no_pager)
    else:
        return run.run_status(ctx, positional, check, as_json)
    return int(ExitCode.OK)


def _options(command: str, words: list[str]) -> tuple[dict[str, str], list[str]] | None:
    """`words` read by the command table (lean/grammar.py): each option given
    (by its first spelling) with its value ("" for a flag; the last one wins,
    as in Click), and the positional words; None for anything else (an
    unknown option, a flag given a value, a value missing): Typer says what."""
    table = COMMANDS[command]
    given: dict[str, str] = {}
    positional = []
    items = iter(words)
    for arg in items:
        if not arg.startswith("-"):
            positional.append(arg)
            continue
        name, sep, value = arg.partition("=")
        option = table.option(name)
        if option is None or (sep and not option.takes_value) or (sep and not name.startswith("--")):
            return None
        if option.takes_value and not sep:
            value = next(items, None)
            if value is None:
                return None
        given[option.names[0]] = value
    return given, positional


def _fast_token(given: dict[str, str], positional: list[str]) -> int | None:
    """`token`; a value out of range or not among the choices goes to Typer, which says so."""
    table = COMMANDS["token"]
    min_valid = given.get("--min-valid")
    fmt = given.get("--format", "raw")
    if len(positional) != 1 or fmt not in table.option("--format").choices:
        return None
    if min_valid is not None:
        if not (min_valid.isascii() and min_valid.isdigit()) or int(min_valid) > table.option("--min-valid").high:
            return None

    from .cli import run
    from .context import AppContext

    run.run_token(
        AppContext.from_environment(), positional[0], None if min_valid is None else int(min_valid),
        "--force-refresh" in given, fmt,
    )
    return int(ExitCode.OK)


def _run_typer(args: list[str]) -> int:
    # One more answer without Typer: help from the cache (helpcache.py).
    from .cli import helpcache

    if helpcache.is_request(args):
        return helpcache.answer(args, _typer)
    return _typer(args)


def _typer(args: list[str]) -> int:
    import typer
    import typer.main

    from .cli import usage
    from .cli.app import app

    # Not standalone: Click's usage errors come back here and become our
    # one-line UsageError (exit 2) like every other error; our own errors
    # are not Click's, so they propagate to main() unchanged.
    command = typer.main.get_command(app)
    try:
        # Bare `integray-auth` is a request for help, not a mistake.
        code = command.main(args=args or ["--help"], prog_name="integray-auth", standalone_mode=False)
    except usage.click.exceptions.UsageError as error:
        if usage.is_no_args_help(error):  # `integray-auth client`: its help, exit 0
            sys.stdout.write(error.ctx.get_help() + "\n")
            return int(ExitCode.OK)
        raise usage.from_click(error, command, args) from None
    except usage.click.exceptions.ClickException as error:  # not a usage error, and rare
        raise IntegrayAuthError(" ".join(error.format_message().split())) from None
    except typer.Abort:
        code = int(ExitCode.INTERRUPTED)  # Click's word for Ctrl-C or end of input at its prompt
    except SystemExit as done:
        code = done.code
    if code == ExitCode.INTERRUPTED:
        # Typer turns Ctrl-C into a silent exit 130; say what happened.
        _report("interrupted", None)
    return code if isinstance(code, int) else (0 if code is None else int(ExitCode.ERROR))


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
