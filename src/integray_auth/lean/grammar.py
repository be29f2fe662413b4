"""The command table: every command's arguments, written once.

Replaces the four copies of the argument grammar there were (the Typer
commands, main.py's fast path, cli/fast_add.py and cli/completion.py's own
table). The fast path and completion cannot import Typer (it alone costs
~4x `python -c pass`), so the description lives here, as plain data the
stdlib-only readers walk; the Typer commands take their choices and limits
from it, and tests/test_command_table.py holds Typer's real command tree to
it option by option (names, value or flag, choices, limits, repeatable), so
an option added to Typer but not here fails a test.

Plain data, importing only the backend table (stores/__init__.py, itself plain
data): it is read on every `token` and every Tab.
"""

from __future__ import annotations

from ..stores import BACKENDS, LOCAL_BACKENDS

# `token --format`, `token`/`exec --min-valid` (a day at most), `--timeout`.
TOKEN_FORMATS = ("raw", "header", "json", "env")
MAX_MIN_VALID = 86400
MIN_TIMEOUT = 1
# `--storage` and `unshare --to`: checked by the commands (their own error text),
# offered by completion: the names of the backend table.
STORAGES = tuple(BACKENDS)
LOCAL_STORAGES = LOCAL_BACKENDS
# `providers add` by hand: the registry's `pkce` and `client_auth` values it writes.
PKCE_CHOICES = ("required", "supported")
CLIENT_AUTH_CHOICES = ("none", "client_secret_basic", "client_secret_post")
# Click adds these to every command (help_option_names); not listed per command.
HELP_OPTIONS = ("-h", "--help")


class Option:
    """One option: its spellings (long first), and what its value is.

    `value` is None for a flag, else what completion offers for the value:
    "text" (nothing), "file", "provider", "connector" (of the -p given earlier),
    "param" (NAME= of that provider), "scope", "json" (field names), or a tuple
    of fixed words. `choices` are the only values accepted (Typer refuses
    others); `low`/`high` bound a number; `repeatable` collects every value.
    """

    __slots__ = ("names", "value", "choices", "low", "high", "repeatable")

    def __init__(self, *names: str, value=None, choices=None, low=None, high=None, repeatable=False) -> None:
        self.names = names
        self.value = choices if value is None and choices is not None else value
        self.choices = choices
        self.low = low
        self.high = high
        self.repeatable = repeatable

    @property
    def takes_value(self) -> bool:
        return self.value is not None


class Command:
    """A command: its options, its positional arguments (what each one is, as
    completion names it: "text", "authorization", "active", "inactive",
    "provider", "connector+", "connector-", "shell", "topic", "command") and
    its subcommands; `variadic`: the last argument takes any number of words."""

    __slots__ = ("options", "arguments", "subcommands", "variadic")

    def __init__(self, options=(), arguments=(), subcommands=None, variadic=False) -> None:
        self.options: tuple[Option, ...] = tuple(options)
        self.arguments: tuple[str, ...] = arguments
        self.subcommands: dict[str, Command] = subcommands or {}
        self.variadic = variadic

    def option(self, name: str) -> Option | None:
        """The option spelled `name` (any of its spellings), or None."""
        for option in self.options:
            if name in option.names:
                return option
        return None


_VIEW = (Option("--inactive"), Option("--all"))
_JSON = (Option("--json", value="json"), Option("--jq", value="text"))
_NO_PAGER = Option("--no-pager")
_FLOW = (
    Option("--no-browser"), Option("--timeout", value="text", low=MIN_TIMEOUT), Option("--client-id", value="text"),
    Option("--client-secret-stdin"), Option("--insecure-storage"), Option("--client-credentials"), Option("--device"),
    Option("--no-input"), Option("--storage", value=STORAGES),
)  # fmt: skip
_MIN_VALID = Option("--min-valid", value="text", low=0, high=MAX_MIN_VALID)
_FORCE_REFRESH = Option("--force-refresh")

# In the order completion offers them (and Typer declares them).
ROOT = Command(
    options=(Option("--registry", value="file"), Option("--version")),
    subcommands={
        "list": Command(_VIEW + _JSON),
        "search": Command(_VIEW + _JSON, ("text",)),
        "show": Command(_JSON + (_NO_PAGER,), ("authorization",)),
        "add": Command(
            (
                Option("--provider", "-p", value="provider"),
                Option("--connector", "-c", value="connector", repeatable=True),
                Option("--param", value="param", repeatable=True),
                Option("--no-authorize"),
                *_FLOW,
                Option("--resource", value="text"),
                Option("--client-metadata-url", value="text"),
            ),
            ("text",),
        ),
        "authorize": Command(_FLOW, ("authorization",)),
        "token": Command((_MIN_VALID, _FORCE_REFRESH, Option("--format", choices=TOKEN_FORMATS)), ("authorization",)),
        "exec": Command(
            (Option("--env-var", value="text"), _MIN_VALID, _FORCE_REFRESH), ("authorization", "command"), variadic=True
        ),
        "status": Command((Option("--check"),) + _JSON, ("authorization",), variadic=True),
        "refresh": Command((Option("--all"), Option("--expiring-within", value="text"), Option("--json")), ("authorization",)),
        "rename": Command((), ("authorization", "text")),
        "connectors": Command(
            subcommands={
                "add": Command((), ("authorization", "connector+"), variadic=True),
                "remove": Command((), ("authorization", "connector-"), variadic=True),
            }
        ),
        "deactivate": Command((Option("--revoke"),), ("active",)),
        "activate": Command((), ("inactive",)),
        "remove": Command((Option("--yes", "-y"), Option("--no-revoke")), ("authorization",)),
        "share": Command((), ("authorization",)),
        "unshare": Command((Option("--to", value=LOCAL_STORAGES),), ("authorization",)),
        "setup-git": Command(
            (Option("--host", value="text", repeatable=True), Option("--local"), Option("--remove")), ("authorization",)
        ),
        "git-credential": Command((), (("get", "store", "erase"),)),
        "setup-kube": Command(
            (Option("--cluster", value="text"), Option("--kubeconfig", value="file"), Option("--id-token"), Option("--remove")),
            ("authorization",),
        ),
        "kube-credential": Command((Option("--id-token"),), ("authorization",)),
        "mcp": Command(
            subcommands={
                "proxy": Command(
                    (Option("--no-browser"), Option("--timeout", value="text", low=MIN_TIMEOUT), Option("--no-input")),
                    ("authorization",),
                ),
            }
        ),
        "doctor": Command((Option("--repair"),) + _JSON),
        "providers": Command(
            _JSON,
            subcommands={
                "show": Command(_JSON + (_NO_PAGER,), ("provider",)),
                "add": Command(
                    (Option("--issuer", value="text"), Option("--authorization-url", value="text"),
                     Option("--token-url", value="text"), Option("--revocation-url", value="text"),
                     Option("--userinfo-url", value="text"), Option("--scope", value="text", repeatable=True),
                     Option("--auth-param", value="text", repeatable=True), Option("--offline-access"),
                     Option("--pkce", choices=PKCE_CHOICES), Option("--client-auth", choices=CLIENT_AUTH_CHOICES),
                     Option("--name", value="text"), Option("--client-id", value="text"), Option("--force")),
                    ("text",),
                ),
                "remove": Command((), ("provider",)),  # fmt: skip
                "connector": Command(
                    subcommands={
                        "add": Command(
                            (Option("--scope", "-s", value="scope", repeatable=True), Option("--name", value="text"),
                             Option("--description", value="text"), Option("--force")),
                            ("provider", "text"),
                        ),  # fmt: skip
                        "remove": Command((), ("provider", "text")),
                    }
                ),
            },
        ),
        "client": Command(
            subcommands={
                "set": Command(
                    (Option("--client-id", value="text"), Option("--secret-stdin"), Option("--private-key-file", value="file")),
                    ("provider",),
                ),
                "remove": Command((), ("provider",)),
                "list": Command((Option("--json"),)),
                "show": Command((Option("--json"),), ("provider",)),
            }
        ),
        "completion": Command((), ("shell",)),
        "help": Command((), ("topic",)),
    },
)
COMMANDS = ROOT.subcommands
