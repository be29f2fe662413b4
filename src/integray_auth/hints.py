"""The commands and suggestions our messages end with: `Run: integray-auth
authorize NAME`, `did you mean 'github'?`. Built here, once, so every hint
names an authorization the way a shell will read it back."""

from __future__ import annotations

from .lean.printable import has_unsafe, quoted

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .models import Authorization


ECHO_NAME_LIMIT = 80  # longer names are named by id in the commands we print


def shell_quoted(name: str) -> str:
    """A name as it must be typed in a shell, for the hints we print: quoted,
    and after `--` when it starts with a dash, so it is not read as an option."""
    from .lean.printable import shell_quote  # shlex.quote, without `re`: `status` hints on every row

    if name.startswith("-"):
        # shlex leaves `-x` bare; quoting it anyway shows it is one argument.
        quoted_name = shell_quote(name)
        return "-- " + (quoted_name if quoted_name != name else f"'{name}'")
    return shell_quote(name)


def command_hint(command: str, authorization: Authorization | str) -> str:
    """`integray-auth <command> NAME`, ready to paste. An authorization whose
    name is too long to echo, or holds characters a terminal would not show
    as typed (an old or edited index), is named by its id instead."""
    name = authorization if isinstance(authorization, str) else authorization.name
    if not isinstance(authorization, str) and (len(name) > ECHO_NAME_LIMIT or has_unsafe(name)):
        name = authorization.id
    return f"integray-auth {command} {shell_quoted(name)}"


def authorize_hint(authorization: Authorization | str) -> str:
    # The command comes last, with no stop after it: the line pastes as it is.
    return f"Run: {command_hint('authorize', authorization)}"


def closest(word: str, choices) -> str | None:
    """The one choice closest to `word` (a typo's real name), or None."""
    import difflib

    by_fold = {c.casefold(): c for c in choices}
    close = difflib.get_close_matches(word.casefold(), list(by_fold), n=1, cutoff=0.6)
    return by_fold[close[0]] if close else None


def did_you_mean(word: str, choices) -> str:
    import difflib

    by_fold = {c.casefold(): c for c in choices}
    close = difflib.get_close_matches(word.casefold(), list(by_fold), n=3, cutoff=0.6)
    if not close:
        return ""
    return "; did you mean " + " or ".join(quoted(by_fold[c]) for c in close) + "?"
