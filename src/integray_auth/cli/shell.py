"""The shell and diagnostics commands: doctor, completion, help [TOPIC].
Registered in cli/app.py."""

from __future__ import annotations

from typing import Optional

import typer

from ..errors import UsageError
from ..usecases.doctor import run_doctor
from . import completion as scripts
from . import helptopics, jsonfields, output, usage
from .fit import terminal_width
from .options import JQ, JSON, context_of


def doctor(
    typer_ctx: typer.Context,
    repair: bool = typer.Option(False, "--repair", help="Set a broken index aside and start a new one."),
    json: Optional[str] = JSON,
    jq: Optional[str] = JQ,
) -> None:
    """Check the registry, the index and the keyring; --repair a broken index.

    \b
    Example:
      integray-auth doctor --repair
    """

    as_json = jsonfields.request("doctor", json, jq)  # an unknown field is refused before anything is checked
    ctx = context_of(typer_ctx)
    report = run_doctor(ctx, repair=repair)
    if as_json:
        checks = [as_json.narrow({"state": c.state, "check": c.name, "detail": c.detail}) for c in report.checks]
        output.write_json(ctx.stdout, {"exit_code": report.exit_code, "checks": checks}, as_json)
    else:
        output.print_checks(ctx, [(c.state, c.name, c.detail) for c in report.checks])
    for note in report.notes:
        ctx.stderr.write(note + "\n")
    if report.exit_code:
        raise typer.Exit(report.exit_code)


def completion(
    typer_ctx: typer.Context,
    shell: str = typer.Argument(..., metavar="SHELL", help="bash, zsh, fish or powershell."),
) -> None:
    """Print the shell completion script for bash, zsh, fish or powershell.

    \b
    Add the line for your shell to its profile:
      bash  (~/.bashrc)                  eval "$(integray-auth completion bash)"
      zsh   (~/.zshrc)                   eval "$(integray-auth completion zsh)"
      fish  (~/.config/fish/config.fish) integray-auth completion fish | source
      PowerShell ($PROFILE)              integray-auth completion powershell | Out-String | Invoke-Expression
    """

    if shell not in scripts.SHELLS:
        raise UsageError(
            f"no completion for the shell {shell!r}{usage.did_you_mean(usage.close_matches(shell, scripts.SHELLS))}",
            hint=f"Choose one of: {', '.join(scripts.SHELLS)}.",
        )
    context_of(typer_ctx).stdout.write(scripts.SCRIPTS[shell])


def help_(
    typer_ctx: typer.Context,
    topic: Optional[str] = typer.Argument(None, metavar="[TOPIC]", help="environment, exit-codes, keyring, vault, or a command."),
) -> None:
    """Show a help topic (environment, exit-codes, keyring, vault) or a command's help.

    \b
    Examples:
      integray-auth help exit-codes
      integray-auth help environment
      integray-auth help add
    """
    root = typer_ctx.find_root()
    out = context_of(typer_ctx).stdout
    if topic is None:
        out.write(root.get_help() + "\n")
        return
    if topic in helptopics.TOPICS:
        ctx = context_of(typer_ctx)
        out.write(helptopics.TOPICS[topic][1](min(terminal_width(ctx.environ, out) or 80, 100)))
        return
    command = root.command.get_command(root, topic)
    if command is None or command.hidden:
        choices = [*helptopics.TOPICS, *root.command.list_commands(root)]
        raise UsageError(
            f"no help topic or command {topic!r}{usage.did_you_mean(usage.close_matches(topic, choices))}",
            hint=f"Topics: {', '.join(helptopics.TOPICS)}; commands: integray-auth --help.",
        )
    out.write(typer.Context(command, info_name=topic, parent=root).get_help() + "\n")
