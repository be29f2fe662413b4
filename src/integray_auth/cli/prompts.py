"""Questions for a person at the terminal: choices that filter as you type,
a wrong answer asked again, Ctrl-C / Ctrl-D ending cleanly.

prompt_toolkit draws the prompt (and its completion menu) on stderr, so
stdout stays data even in interactive use. It is imported here only, and
this module only on the interactive path: scripts never pay for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from ..context import AppContext
from ..errors import IntegrayAuthError, UsageError
from ..lean.printable import escape, quoted
from ..registry.model import Provider

if TYPE_CHECKING:
    from typing import Sequence


def choose_provider(ctx: AppContext) -> str:
    providers = sorted(ctx.registry.providers.values(), key=lambda p: p.name.casefold())
    if _dumb(ctx):  # no menu on such a terminal: list the choices instead
        _say(ctx, "Providers")
        for number, provider in enumerate(providers, 1):
            _say(ctx, f"  {number:>2}. {escape(provider.name)} ({escape(provider.id)})")
    question = "Provider (number or id): " if _dumb(ctx) else "Provider (type to filter, Tab to pick): "
    while True:
        answer = ask(ctx, question, choices=providers)
        picked = _pick(answer, providers)
        if picked is not None:
            return picked.id
        _say(ctx, _not_one_of(answer, providers, "provider"))


def choose_connectors(ctx: AppContext, provider: Provider) -> list[str]:
    connectors = list(provider.connectors.values())
    if _dumb(ctx):
        _say(ctx, f"Connectors of {escape(provider.name)}")
        for number, connector in enumerate(connectors, 1):
            _say(ctx, f"  {number:>2}. {escape(connector.name)} ({escape(connector.id)}: {escape(', '.join(connector.scopes))})")
        question = "Connectors (numbers or ids, separated by commas): "
    else:
        question = f"Connectors of {escape(provider.name)} (type to filter, Tab to pick, commas between): "
    while True:
        answer = ask(ctx, question, choices=connectors, several=True)
        picked, wrong = [], []
        for part in answer.replace(";", ",").split(","):
            if not part.strip():
                continue
            connector = _pick(part, connectors)
            (picked if connector else wrong).append(connector.id if connector else part.strip())
        if picked and not wrong:
            return picked
        _say(ctx, _not_one_of(wrong[0], connectors, "connector") if wrong else "Pick at least one connector.")


def ask_parameter(ctx: AppContext, provider: Provider, parameter, check: Callable[[str], object]) -> str:
    """A template value the provider's URLs need, asked until `check` accepts it."""
    _say(ctx, f"{escape(provider.name)} needs {escape(parameter.name)}: {escape(parameter.description)}")
    return ask_checked(ctx, f"{escape(parameter.name)}: ", check)


def ask_checked(ctx: AppContext, message: str, check: Callable[[str], object], password: bool = False) -> str:
    """Ask until `check(answer)` raises no error; its message explains a wrong answer."""
    while True:
        answer = ask(ctx, message, password=password).strip()
        try:
            check(answer)
        except IntegrayAuthError as wrong:
            why = escape(wrong.message)
            _say(ctx, f"{why[:1].upper()}{why[1:]}. Try again, or Ctrl-C to stop.")
            continue
        return answer


def confirm(ctx: AppContext, question: str, default: bool = False) -> bool:
    choices = "[Y/n]" if default else "[y/N]"
    while True:
        answer = ask(ctx, f"{question} {choices} ").strip().casefold()
        if not answer:
            return default
        if answer in ("y", "yes"):
            return True
        if answer in ("n", "no"):
            return False
        _say(ctx, "Please answer y or n.")


def say(ctx: AppContext, text: str) -> None:
    _say(ctx, text)


def ask(ctx: AppContext, message: str, choices: Sequence | None = None, several: bool = False, password: bool = False) -> str:
    """One answer from the terminal; Ctrl-C is KeyboardInterrupt (exit 130),
    Ctrl-D a usage error (exit 2); either way the error line starts a fresh line."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.input import create_input
    from prompt_toolkit.output import create_output

    session = PromptSession(input=create_input(ctx.stdin), output=create_output(stdout=ctx.stderr))
    options: dict = {"is_password": password}
    if choices and not _dumb(ctx):  # a dumb terminal cannot draw a menu; the choices were listed
        options.update(
            completer=_choice_completer(choices, several),
            complete_while_typing=True,
            # The menu opens at once with every choice; typing narrows it.
            pre_run=lambda: session.default_buffer.start_completion(select_first=False),
        )
    try:
        return session.prompt(message, **options)
    except EOFError:  # Ctrl-D on an empty line; prompt_toolkit has already moved to a fresh line
        raise UsageError("no answer given (end of input)", hint="Run the command again with the value as an option.") from None


def _choice_completer(items, several: bool):
    """Completions whose id or name contains what was typed (case-insensitive).
    With `several`, only the text after the last comma is matched."""
    from prompt_toolkit.completion import Completer, Completion

    items = list(items)

    class ChoiceCompleter(Completer):
        def get_completions(self, document, complete_event):
            text = document.text_before_cursor
            word = text.rsplit(",", 1)[-1] if several else text
            chosen = {part.strip().casefold() for part in text.split(",")[:-1]} if several else set()
            needle = word.strip().casefold()
            for item in items:
                if item.id.casefold() in chosen:
                    continue
                if needle in item.id.casefold() or needle in item.name.casefold():
                    yield Completion(
                        (" " if several and "," in text else "") + item.id,
                        start_position=-len(word),
                        display=f"{escape(item.name)} ({escape(item.id)})",
                    )

    return ChoiceCompleter()


def _pick(answer: str, items):
    answer = answer.strip()
    if answer.isdigit() and 1 <= int(answer) <= len(items):
        return items[int(answer) - 1]
    for item in items:
        if answer.casefold() in (item.id.casefold(), item.name.casefold()):
            return item
    return None


def _not_one_of(answer: str, items, kind: str) -> str:
    answer = answer.strip()
    if not answer:
        return f"Pick a {kind}: type a few letters of its name."
    close = [item for item in items if answer.casefold() in f"{item.id} {item.name}".casefold()]
    tip = f" Did you mean {' or '.join(quoted(item.id) for item in close[:3])}?" if close else ""
    return f"{quoted(answer)} is not one of the {kind}s.{tip} Try again, or Ctrl-C to stop."


def _dumb(ctx: AppContext) -> bool:
    return ctx.environ.get("TERM", "") in ("dumb", "unknown", "")


def _say(ctx: AppContext, text: str) -> None:
    ctx.stderr.write(text + "\n")
    ctx.stderr.flush()
