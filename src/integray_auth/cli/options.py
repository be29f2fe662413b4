"""What the command modules share: the invocation's context, and the options
several command groups declare alike (the same help text everywhere)."""

from __future__ import annotations

import typer

from ..context import AppContext


def context_of(typer_ctx: typer.Context) -> AppContext:
    """The invocation's AppContext, built once by the root callback (cli/app.py)."""
    return typer_ctx.find_root().obj


# `--json` of a listing takes an optional value: main.py rewrites it to `--json=` /
# `--json=FIELDS` first (jsonfields.normalize).
JSON = typer.Option(
    None, "--json", metavar="[FIELDS]", help="Print JSON (versioned); FIELDS keeps only those, e.g. --json name,status."
)
JQ = typer.Option(None, "--jq", metavar="EXPR", help="Filter the JSON with a jq expression, e.g. '.authorizations[].name'.")
JSON_FLAG = typer.Option(False, "--json", help="Print JSON (documented, versioned shape).")
NO_PAGER = typer.Option(False, "--no-pager", help="Print straight to the terminal, not through PAGER (less -FRX).")
# The positional most commands take, and the provider the provider and client commands take.
NAME = typer.Argument(..., metavar="NAME", help="Name or id.")
PROVIDER = typer.Argument(..., metavar="PROVIDER", help="Provider id.")
JSON_DOCUMENT = typer.Option(False, "--json", help="One JSON document on stdout.")
