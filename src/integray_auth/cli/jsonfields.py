"""`--json [FIELDS]` and `--jq EXPR`: one field table per JSON shape, shared
by the fast path (main.py) and the Typer commands, as gh keeps them
(pkg/cmdutil/json_flags.go).

Stdlib only: `list --json name` is a fast-path command. The `jq` package
is imported only when `--jq` is given.

`--json` takes its field list as an optional value, which Click cannot
express next to a positional (`search --json gmail`). So main.py rewrites
the command line first (`normalize`): a bare `--json` becomes `--json=`
(every field), and `--json WORD` becomes `--json=WORD` when WORD is the
field list (see `_is_field_list`). Both paths then only ever see
`--json=VALUE`, so they cannot read a command line differently.
"""

from __future__ import annotations

from ..errors import UsageError
from ..lean.grammar import ROOT
from ..lean.record import Record

# The keys of output.authorization_json, in its order (a test keeps them equal).
AUTHORIZATION = (
    "id", "name", "provider", "provider_name", "connectors", "status", "authorized", "health", "usable",
    "active", "requested_scopes", "granted_scopes", "account", "parameters", "storage", "shared", "created_at",
    "updated_at", "authorized_at", "expires_at", "refreshed_at", "renewable", "deactivated_at",
)  # fmt: skip
AUTHORIZATION_DETAILS = AUTHORIZATION + ("scopes", "extra_granted_scopes")
# The keys of provider_output.provider_json.
PROVIDER = (
    "id", "name", "authorization_url", "token_url", "revocation_url", "device_authorization_url",
    "issuer", "userinfo_url", "resource", "mcp_url", "scope_separator", "scope_parameter", "token_path", "token_types",
    "authorization_params", "incremental_consent_params", "refresh_narrows_scope", "pkce",
    "client_auth", "client_secret_required", "redirect_uri", "redirect_host", "redirect_path",
    "redirect_ports", "grants", "public_grants", "variant", "docs_url", "revoke_page_url", "parameters",
    "callback_parameters", "revocation_auth", "device_auth", "notes", "scopes", "connectors",
    "source", "overrides",
    "code_exchange_params", "refresh_params", "token_request_encoding", "code_lifetime",
    "https_redirect_only", "device_scopes", "device_needs_own_client", "limits", "setup", "console_url",
)  # fmt: skip
PROVIDER_DETAILS = PROVIDER + ("client",)  # `providers show`: the configured client too (never its secret)

# The keys of each `status` row (output.print_status), and of each `doctor` check.
STATUS = (
    "id", "name", "provider", "health", "active", "shared", "usable", "expires_at", "refreshed_at", "check",
    "message", "fix", "exit_code",
)  # fmt: skip
CHECK = ("state", "check", "detail")
ANY_NUMBER = 1 << 30  # `status [NAME...]`: the word after --json is a field list only when it reads as one

# Each listing command: its field table and how many positionals it takes.
COMMANDS: dict[str, tuple[tuple[str, ...], int]] = {
    "list": (AUTHORIZATION, 0),
    "search": (AUTHORIZATION, 1),
    "show": (AUTHORIZATION_DETAILS, 1),
    "status": (STATUS, ANY_NUMBER),
    "doctor": (CHECK, 0),
    "providers": (PROVIDER, 0),
    "providers show": (PROVIDER_DETAILS, 1),
}
# Options that take a value (so the word after them is not a positional).
_GLOBAL_VALUE_OPTIONS = tuple(name for option in ROOT.options if option.takes_value for name in option.names)
_VALUE_OPTIONS = ("--jq",)


class JsonOutput(Record):
    """What `--json [FIELDS]` / `--jq EXPR` asked for; None fields means every field."""

    __slots__ = ("fields", "jq")

    def __init__(self, fields: tuple[str, ...] | None = None, jq: str | None = None) -> None:
        self.fields = fields
        self.jq = jq

    def narrow(self, item: dict) -> dict:
        """The object with only the asked fields, in the order asked."""
        if self.fields is None:
            return item
        return {name: item[name] for name in self.fields}


def request(command: str, json_value: str | None, jq: str | None) -> JsonOutput | None:
    """The JSON output `command` was asked for (None: a table); UsageError for an unknown field.

    `json_value` is what followed `--json=` (after `normalize`): "" for every field.
    `--jq` alone filters the whole document.
    """
    if json_value is None and jq is None:
        return None
    if jq is not None and not jq.strip():
        raise UsageError("--jq needs an expression", hint="For example: --jq '.authorizations[].name'")
    if not json_value:
        return JsonOutput(None, jq)
    table = COMMANDS[command][0]
    fields = tuple(name.strip() for name in json_value.split(","))
    unknown = [name for name in fields if name not in table]
    if unknown:
        shown = ", ".join(repr(name) for name in unknown)
        raise UsageError(
            f"unknown JSON field{'s' if len(unknown) > 1 else ''} {shown} for '{command}'",
            hint=f"Available fields: {', '.join(table)}.",
        )
    return JsonOutput(tuple(dict.fromkeys(fields)), jq)


def normalize(args: list[str]) -> list[str]:
    """The command line with each `--json` of a listing command in its `--json=VALUE` form."""
    i, n = 0, len(args)
    while i < n and args[i].startswith("-") and args[i] != "--":
        i += 2 if args[i] in _GLOBAL_VALUE_OPTIONS else 1
    if i >= n:
        return args
    command, i = args[i], i + 1
    if command == "providers" and i < n and not args[i].startswith("-"):
        if args[i] != "show":
            return args  # `providers add`, `providers connector add`: no listing
        command, i = "providers show", i + 1
    if command not in COMMANDS:
        return args
    table, wanted = COMMANDS[command]
    out, positionals = args[:i], 0
    while i < n:
        arg = args[i]
        if arg == "--":
            out.extend(args[i:])
            break
        if arg == "--json":
            following = args[i + 1] if i + 1 < n else None
            if following is not None and _is_field_list(following, table, positionals >= wanted):
                out.append("--json=" + following)
                i += 2
                continue
            out.append("--json=")
        elif arg in _VALUE_OPTIONS and i + 1 < n:
            out.extend(args[i : i + 2])
            i += 2
            continue
        else:
            if not arg.startswith("-"):
                positionals += 1
            out.append(arg)
        i += 1
    return out


def _is_field_list(word: str, table: tuple[str, ...], positionals_given: bool) -> bool:
    """Is the word after `--json` its value? Yes when no positional can take it
    (`list --json nmae` is then an unknown field, not an extra argument), or
    when it reads as a field list: a comma, or a known field name. So
    `search --json gmail` still searches for gmail."""
    if word.startswith("-") or not word:
        return False
    return positionals_given or "," in word or word in table


def write(stream, document: dict, output: JsonOutput, terminal: bool) -> None:
    """The document as JSON (indented on a terminal, one line when piped), or filtered by --jq.

    Like gh, --jq prints strings raw and every other result as JSON, one a line.
    """
    from ..lean.printable import escape, json_text

    if output.jq is None:
        if terminal:
            import json  # indenting is json's pure-Python encoder anyway

            text = json.dumps(document, indent=2, ensure_ascii=False)
        else:
            from ..lean.jsonio import dumps  # piped `show --json` stays without `json` (and `re`)

            text = dumps(document, ensure_ascii=False, separators=(",", ":"))
        stream.write(json_text(text) + "\n")
        return
    import json

    lines = []
    for result in _jq(output.jq, document):
        if isinstance(result, str):
            # Raw, as `jq -r` prints it; a terminal gets them escaped (they come
            # from editable files and providers).
            lines.append(escape(result) if terminal else result)
        else:
            lines.append(json_text(json.dumps(result, ensure_ascii=False, indent=2 if terminal else None)))
    stream.write("".join(line + "\n" for line in lines))


def _jq(expression: str, document: dict) -> list:
    import jq  # a compiled extension, only for --jq

    try:
        program = jq.compile(expression)
    except ValueError as error:
        raise UsageError(f"--jq {expression!r} is not a valid jq expression: {_one_line(error)}") from None
    try:
        return program.input_value(document).all()
    except ValueError as error:
        raise UsageError(f"--jq {expression!r} failed: {_one_line(error)}") from None


def _one_line(error: Exception) -> str:
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return first.removeprefix("jq: error: ").rstrip(":")
