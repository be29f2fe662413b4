"""Interactive choices for `add` when a person is at the terminal.

Prompts go to stderr: stdout stays data even in interactive use.
"""

from __future__ import annotations

import contextlib

from ..context import AppContext
from ..errors import UsageError
from ..printable import escape, quoted
from ..registry import Provider


def choose_provider(ctx: AppContext) -> str:
    providers = sorted(ctx.registry.providers.values(), key=lambda p: p.name.casefold())
    console = _console(ctx)
    console.print("[bold]Providers[/bold]")
    for number, provider in enumerate(providers, 1):
        console.print(f"  {number:>2}. {_text(provider.name)} [dim]({_text(provider.id)})[/dim]")
    answer = _ask(ctx, "Provider (number or id)")
    picked = _pick(answer, providers)
    if picked is None:
        raise UsageError(f"{quoted(answer)} is not one of the listed providers")
    return picked.id


def choose_connectors(ctx: AppContext, provider: Provider) -> list[str]:
    connectors = list(provider.connectors.values())
    console = _console(ctx)
    console.print(f"[bold]Connectors of {_text(provider.name)}[/bold]")
    for number, connector in enumerate(connectors, 1):
        console.print(
            f"  {number:>2}. {_text(connector.name)} [dim]({_text(connector.id)}: {_text(', '.join(connector.scopes))})[/dim]"
        )
    answer = _ask(ctx, "Connectors (numbers or ids, separated by commas)")
    picked = []
    for part in answer.replace(" ", ",").split(","):
        if not part:
            continue
        connector = _pick(part, connectors)
        if connector is None:
            raise UsageError(f"{quoted(part)} is not one of the listed connectors")
        picked.append(connector.id)
    return picked


def ask_parameter(ctx: AppContext, provider: Provider, parameter) -> str:
    """A template value the provider's URLs need; checked by the use case."""
    from rich.markup import escape

    _console(ctx).print(f"{escape(provider.name)} needs [bold]{parameter.name}[/bold]: {escape(parameter.description)}", highlight=False)
    return _ask(ctx, parameter.name).strip()


def confirm(ctx: AppContext, question: str) -> bool:
    from rich.markup import escape as markup_escape
    from rich.prompt import Confirm

    with _end_of_input():  # the question quotes a name: plain text, not markup
        return Confirm.ask(markup_escape(question), console=_console(ctx), default=False)


def _pick(answer: str, items):
    answer = answer.strip()
    if answer.isdigit() and 1 <= int(answer) <= len(items):
        return items[int(answer) - 1]
    for item in items:
        if answer.casefold() in (item.id.casefold(), item.name.casefold()):
            return item
    return None


def _ask(ctx: AppContext, question: str) -> str:
    from rich.prompt import Prompt

    with _end_of_input():
        return Prompt.ask(question, console=_console(ctx))


@contextlib.contextmanager
def _end_of_input():
    """Ctrl-D at a prompt is a usage error with one line, not Typer's "Aborted!"."""
    try:
        yield
    except EOFError:
        raise UsageError("no answer given (end of input)", hint="Run the command again with the value as an option.") from None


def _text(text: str) -> str:
    """Registry text inside Rich markup: no control characters, no markup tags."""
    from rich.markup import escape as markup_escape

    return markup_escape(escape(text))


def _console(ctx: AppContext):
    from rich.console import Console

    return Console(file=ctx.stderr)
