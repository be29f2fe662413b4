"""Shell completion: the scripts `integray-auth completion SHELL` prints, and
the answers the hidden `integray-auth __complete` gives them on each Tab.

Every Tab runs the command once more, so the answers come from the fast
path (main.py): stdlib only, no Typer or Rich, the registry from its JSON
cache and the index as `list` reads it. Typer's own completion would import
Typer and Click on every Tab, so it is not offered (`--install-completion`).

Which options each command takes, and what each value is, come from the
command table (lean/grammar.py), which tests/test_command_table.py holds
Typer to.
"""

from __future__ import annotations

import sys

from ..lean import grammar

SHELLS = ("bash", "zsh", "fish", "powershell")


class _Command:
    """A command of the table (lean/grammar.py) as completion walks it: each
    option spelling -> what its value is (None: a flag; see grammar.Option)."""

    __slots__ = ("options", "arguments", "subcommands", "repeatable", "variadic")

    def __init__(self, command: grammar.Command) -> None:
        self.options: dict[str, str | tuple | None] = {
            **{name: option.value for option in command.options for name in option.names},
            **dict.fromkeys(grammar.HELP_OPTIONS),
        }
        self.arguments: tuple[str, ...] = command.arguments
        self.subcommands: dict[str, _Command] = {name: _Command(sub) for name, sub in command.subcommands.items()}
        self.repeatable: tuple[str, ...] = tuple(name for option in command.options if option.repeatable for name in option.names)
        self.variadic = command.variadic  # the last argument takes any number of words


GRAMMAR = _Command(grammar.ROOT)
# Directives, the first line of an answer: fall back to the shell's file
# completion; or add no space after the word (a field list goes on after a
# comma, `--param tenant=` after the '=').
FILES, NOSPACE = ":files", ":nospace"


def answer(args: list[str], stdout=None, environ=None) -> int:
    """`__complete SHELL ...`: print the candidates, one a line; never fail."""
    out = sys.stdout if stdout is None else stdout
    try:
        lines = _answer(args, environ)
    except Exception:  # noqa: BLE001 - a Tab must never print a traceback into the prompt
        lines = []
    out.write("".join(line + "\n" for line in lines))
    return 0


def _answer(args: list[str], environ) -> list[str]:
    if not args or args[0] not in SHELLS:
        return []
    shell, rest = args[0], args[1:]
    if shell in ("bash", "powershell"):
        # The line up to the cursor: the shell's own word splitting breaks
        # words at '=' and ':' (bash's COMP_WORDBREAKS) or keeps the quotes.
        words, raw, quote = split_line(rest[0] if rest else "")
    else:
        # zsh passes its words as typed, fish its earlier words unescaped and
        # the current one as typed.
        words = rest[:-1] if shell == "fish" else [unquote(w)[0] for w in rest[:-1]]
        words.insert(0, "integray-auth")
        raw = rest[-1] if rest else ""
        current, quote = unquote(raw)
        words.append(current)
    words = words[1:]  # the program's own name
    found = candidates(words, environ)
    if found == [(FILES, "")]:
        return [FILES]
    directive = [NOSPACE] if found and found[0] == (NOSPACE, "") else []
    found = [(value, about) for value, about in found[len(directive):] if value.isprintable()]
    if shell == "bash":
        return directive + _for_bash(found, raw, quote, rest[1] if len(rest) > 1 else "")
    if shell == "powershell":
        return [_powershell_quoted(value) for value, _ in found]
    if shell == "fish":
        # A description is the registry's text, shown in the menu: escaped like every
        # text from outside (a tab or a line break would also split fish's line).
        from ..lean.printable import escape

        return [f"{value}\t{escape(about)}" if about else value for value, about in found]
    return directive + [value for value, _ in found]


# --- what to offer ----------------------------------------------------------------------


def candidates(words: list[str], environ=None) -> list[tuple[str, str]]:
    """(value, description) pairs for the last of `words` (the word being completed)."""
    *before, current = words or [""]
    command, path = GRAMMAR, []
    provider = registry = authorization = None
    positionals: list[str] = []
    given: set[str] = set()
    pending: str | None = None  # the value kind the next word is for
    options_done = False
    for word in before:
        if pending is not None:
            if pending == "provider":
                provider = word
            elif pending == "file" and path == []:
                registry = word
            pending = None
            continue
        if word == "--" and not options_done:
            options_done = True
            continue
        if word.startswith("-") and not options_done and len(word) > 1:
            name, eq, value = word.partition("=")
            given.add(name)
            kind = command.options.get(name)
            if kind is not None and not eq:
                pending = kind
            elif kind == "provider":
                provider = value
            elif kind == "file" and path == []:
                registry = value
            continue
        if not positionals and word in command.subcommands:
            command, given = command.subcommands[word], set()
            path.append(word)
            continue
        kind = _argument(command, len(positionals))
        if kind == "provider":
            provider = word
        elif kind in ("authorization", "active", "inactive"):
            authorization = word
        positionals.append(word)

    def context():
        from ..context import AppContext
        from ..lean.paths import Paths

        return AppContext(Paths.from_environment(environ), environ=environ, registry_path=registry)

    if pending is not None:
        return _values(pending, current, "", context, provider, path, environ, authorization)
    if current.startswith("-") and not options_done:
        name, eq, value = current.partition("=")
        if eq:
            kind = command.options.get(name)
            return _values(kind, value, name + "=", context, provider, path, environ, authorization) if kind else []
        return [
            (option, "")
            for option in command.options
            if option.startswith(current) and (option not in given or option in command.repeatable)
            # -h is offered only once -h is typed: long names are the ones to discover
            and (len(option) > 2 or current == option)
        ]
    if not positionals and command.subcommands:
        return [(name, "") for name in command.subcommands if name.startswith(current) and not name.startswith("_")]
    kind = _argument(command, len(positionals))
    if kind is None:
        return []
    return _values(kind, current, "", context, provider, path, environ, authorization, positionals)


def _argument(command: _Command, position: int) -> str | None:
    if position < len(command.arguments):
        return command.arguments[position]
    return command.arguments[-1] if command.variadic and command.arguments else None


def _index(environ):
    from ..lean.paths import Paths
    from ..stores.index import Index

    paths = Paths.from_environment(environ)
    cache = paths.cache_dir
    return Index(paths.index_file, paths.lock_file, None if cache is None else cache / "index.snapshot")


def _values(
    kind, current: str, prefix: str, context, provider_id, path, environ, authorization=None, positionals=()
) -> list[tuple[str, str]]:
    if kind in ("file", "command"):
        return [(FILES, "")]  # the shell knows paths (and, after `exec NAME --`, the user's command)
    if isinstance(kind, tuple):  # the option's fixed choices
        return [(prefix + choice, "") for choice in kind if choice.startswith(current)]
    if kind == "shell":
        return [(shell, "") for shell in SHELLS if shell.startswith(current)]
    if kind == "topic":
        from .helptopics import TOPICS

        topics = [*TOPICS, *(name for name in GRAMMAR.subcommands if name != "help")]
        return [(topic, "") for topic in topics if topic.startswith(current)]
    if kind == "json":
        from .jsonfields import COMMANDS

        table = COMMANDS.get(" ".join(path))
        if not table:
            return []
        done, comma, last = current.rpartition(",")
        head = done + comma
        chosen = set(done.split(",")) if done else set()
        fields = [(prefix + head + field, "") for field in table[0] if field.startswith(last) and field not in chosen]
        return [(NOSPACE, ""), *fields] if fields else []
    if kind in ("connector+", "connector-"):
        if authorization is None:
            return []
        wanted = authorization.strip().casefold()
        found = [(p, cids) for name, _, p, cids in _index(environ).summaries() if name.casefold() == wanted]
        if not found:
            return []
        provider_id, present = found[0]
        chosen = set(positionals[1:])
        if kind == "connector-":
            return [(c, "") for c in present if isinstance(c, str) and c.startswith(current) and c not in chosen]
        provider = context().registry.get(provider_id) if isinstance(provider_id, str) else None
        if provider is None:
            return []
        return [
            (c.id, c.name)
            for c in provider.connectors.values()
            if c.id.startswith(current) and c.id not in present and c.id not in chosen
        ]
    if kind in ("provider", "connector", "param", "scope"):
        registry = context().registry
        if kind == "provider":
            return [(prefix + p.id, p.name) for p in registry.providers.values() if p.id.startswith(current)]
        provider = registry.get(provider_id) if provider_id else None
        if provider is None:
            return []
        if kind == "connector":
            return [(prefix + c.id, c.name) for c in provider.connectors.values() if c.id.startswith(current)]
        if kind == "scope":
            return [(prefix + scope, "") for scope in provider.scopes if scope.startswith(current)]
        names = [(prefix + p.name + "=", p.description) for p in provider.parameters.values() if p.name.startswith(current)]
        return [(NOSPACE, ""), *names] if names else []
    if kind in ("authorization", "active", "inactive"):
        folded = current.casefold()
        return [
            (prefix + name, "")
            for name, active, _, _ in _index(environ).summaries()
            if name.casefold().startswith(folded) and (kind == "authorization" or active == (kind == "active"))
        ]
    return []


# --- the shells' quoting ------------------------------------------------------------------


def split_line(line: str) -> tuple[list[str], str, str | None]:
    """Shell words of a command line cut at the cursor: the words unquoted, the
    last one as typed, and the quote still open in it (None, "'" or '"')."""
    words: list[str] = []
    word, raw, quote, started = [], [], None, False
    i = 0
    while i < len(line):
        ch = line[i]
        if quote is None and ch in " \t\n":
            if started:
                words.append("".join(word))
            word, raw, started = [], [], False
            i += 1
            continue
        started = True
        raw.append(ch)
        if quote == "'":
            if ch == "'":
                quote = None
            else:
                word.append(ch)
        elif ch == "\\" and quote != "'" and i + 1 < len(line):
            nxt = line[i + 1]
            raw.append(nxt)
            if quote == '"' and nxt not in '"\\$`':
                word.append(ch)
            word.append(nxt)
            i += 1
        elif ch in "'\"" and quote is None:
            quote = ch
        elif ch == '"' and quote == '"':
            quote = None
        else:
            word.append(ch)
        i += 1
    words.append("".join(word))  # the word at the cursor, maybe empty
    return words, "".join(raw), quote


def unquote(raw: str) -> tuple[str, str | None]:
    words, _, quote = split_line(raw)
    return " ".join(words) if len(words) > 1 else words[0], quote


_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-")


def _for_bash(found, raw: str, quote: str | None, readline_word: str) -> list[str]:
    """Each candidate as bash should put it on the line in place of readline's word.

    Inside an open quote readline replaces the text after the quote and closes
    it itself; otherwise the reply must be escaped with backslashes, and only
    the part after the last COMP_WORDBREAKS character ('=' or ':') is replaced.
    """
    if quote == "'":
        return [value.replace("'", "'\\''") for value, _ in found]
    if quote == '"':
        return ["".join("\\" + ch if ch in '"\\$`' else ch for ch in value) for value, _ in found]
    if readline_word and not readline_word.strip("=:"):
        strip = len(raw)  # the cursor is right after the break: readline's word is empty
    elif raw.endswith(readline_word):
        strip = len(raw) - len(readline_word)
    else:
        strip = 0
    lines = []
    for value, _ in found:
        escaped = "".join(ch if ch in _SAFE else "\\" + ch for ch in value)
        if escaped.startswith(raw[:strip]):
            lines.append(escaped[strip:])
    return lines


def _powershell_quoted(value: str) -> str:
    if value and all(ch in _SAFE for ch in value):
        return value
    return "'" + value.replace("'", "''") + "'"


# --- the scripts ----------------------------------------------------------------------------

SCRIPTS = {
    "bash": r"""# integray-auth completion for bash. Load it from ~/.bashrc:
#   eval "$(integray-auth completion bash)"
_integray_auth() {
    local line reply=()
    while IFS= read -r line; do
        reply+=("$line")
    done < <(command integray-auth __complete bash "${COMP_LINE:0:COMP_POINT}" "${COMP_WORDS[COMP_CWORD]}" 2>/dev/null)
    if [[ ${reply[0]-} == ":files" ]]; then
        compopt -o default 2>/dev/null
        COMPREPLY=()
        return 0
    fi
    if [[ ${reply[0]-} == ":nospace" ]]; then
        compopt -o nospace 2>/dev/null
        reply=("${reply[@]:1}")
    fi
    COMPREPLY=("${reply[@]}")
}
complete -F _integray_auth integray-auth
""",
    "zsh": r"""#compdef integray-auth
# integray-auth completion for zsh. Load it from ~/.zshrc:
#   eval "$(integray-auth completion zsh)"
_integray_auth() {
    local -a reply
    reply=(${(f)"$(command integray-auth __complete zsh "${(@)words[2,CURRENT]}" 2>/dev/null)"})
    local -a nospace
    if [[ ${reply[1]-} == ":files" ]]; then
        _files
        return
    fi
    if [[ ${reply[1]-} == ":nospace" ]]; then
        nospace=(-S '')
        shift reply
    fi
    compadd "${(@)nospace}" -- "${(@)reply}"
}
if (( ! $+functions[compdef] )); then
    autoload -Uz compinit && compinit
fi
compdef _integray_auth integray-auth
""",
    "fish": r"""# integray-auth completion for fish. Load it from ~/.config/fish/config.fish:
#   integray-auth completion fish | source
function __integray_auth_complete
    set -l words (commandline -opc)
    set -l current (commandline -ct)
    set -l reply (command integray-auth __complete fish $words[2..-1] "$current" 2>/dev/null)
    if test "$reply[1]" = ":files"
        __fish_complete_path "$current"
        return
    end
    printf '%s\n' $reply
end
complete -c integray-auth -f -a '(__integray_auth_complete)'
""",
    "powershell": r"""# integray-auth completion for PowerShell. Load it from your $PROFILE:
#   integray-auth completion powershell | Out-String | Invoke-Expression
Register-ArgumentCompleter -Native -CommandName 'integray-auth', 'integray-auth.exe' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)
    $line = $commandAst.Extent.Text
    $end = [Math]::Min($cursorPosition - $commandAst.Extent.StartOffset, $line.Length)
    $reply = @(& integray-auth __complete powershell $line.Substring(0, $end) 2>$null)
    if ($reply.Count -gt 0 -and $reply[0] -eq ':files') { return }
    foreach ($value in $reply) {
        [System.Management.Automation.CompletionResult]::new($value, $value, 'ParameterValue', $value)
    }
}
""",
}
