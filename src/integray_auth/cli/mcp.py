"""The MCP commands: `mcp proxy`. Registered in cli/app.py; `add --resource`
(an MCP server as an authorization) is in authorizations.py."""

from __future__ import annotations

import typer

from ..lean import grammar
from ..usecases.mcp_proxy import check_target, run_proxy
from .flow_ui import TerminalFlowUI
from .options import context_of


def proxy(
    typer_ctx: typer.Context,
    target: str = typer.Argument(..., metavar="NAME|URL", help="An MCP server's authorization (name or id), or its URL."),
    no_browser: bool = typer.Option(False, "--no-browser", help="When a consent is needed, only print the URL; do not open a browser."),
    timeout: int = typer.Option(300, "--timeout", min=grammar.MIN_TIMEOUT, metavar="SECONDS", help="How long a consent may take."),
    no_input: bool = typer.Option(
        False, "--no-input", help="Never open a browser: end with the command to run instead (env: INTEGRAY_AUTH_NO_INPUT=1)."
    ),
) -> None:
    """Serve an MCP server to an agent on stdin/stdout, with the authorization's token (never shown to the agent).

    \b
    For the agent's configuration, e.g.:
      {"command": "integray-auth", "args": ["mcp", "proxy", "Linear"]}
    Examples:
      integray-auth mcp proxy Linear
      integray-auth mcp proxy https://mcp.example.com/mcp
    """
    ctx = context_of(typer_ctx)
    ctx.no_input = no_input
    check_target(ctx, target)
    run_proxy(ctx, target, TerminalFlowUI(ctx), open_browser=not no_browser, timeout=float(timeout))
