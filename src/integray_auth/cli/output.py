"""How data reaches stdout: an aligned table on a terminal, tab-separated
rows when piped, and versioned JSON with --json.

Every field is outside text (index, registry, provider answers) and goes
through `printable` once here: escaped for a terminal, one line per row in
TSV, and as JSON escapes where json.dumps leaves characters raw.

Hand-rolled and stdlib-only on purpose: Rich's Table costs ~0.25 ms a row
(measured with `python -X importtime`), too slow for `list` in scripts.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Iterable, Sequence

from ..context import AppContext
from ..health import EXPIRED, LABELS, NEEDS_REAUTHORIZATION, health
from ..lean.printable import escape, tsv_cell
from ..models import STORAGE_VAULT, Authorization, now_from
from ..stores import BACKENDS, STORAGE_FILE
from ..usecases.manage import AuthorizationDetails
from ..usecases.provider_lookup import connector_name
from .fit import fit_rows, terminal_width
from .json_output import JSON_VERSION, authorization_json, authorization_json_text, write_json, write_json_list  # noqa: F401 - also output's
from .jsonfields import JsonOutput

_BATCH = 1000  # rows per write: output streams out instead of being built whole


def write_rows(ctx: AppContext, headers: Sequence[str], rows: Iterable[Sequence[str]], keep: Sequence[int] = (),
               own_line: int | None = None) -> None:
    """A table for people, or header-less TSV for scripts (the `gh` convention).

    On a terminal the columns in `keep` are never cut, and the `own_line` column (a command
    to paste) moves below its row, on a line of its own, when the table would not fit with it."""
    out = ctx.stdout
    if not ctx.stdout_is_terminal:
        lines = []
        for row in rows:
            # One C call for the common row: when the cells together are printable, each is.
            lines.append("\t".join(row if "".join(row).isprintable() else map(tsv_cell, row)) + "\n")
            if len(lines) == _BATCH:
                out.write("".join(lines))
                lines.clear()
        out.write("".join(lines))
        return
    rows = [[escape(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    limit = terminal_width(ctx.environ, out)
    below: list[str] = []
    if limit and own_line is not None and sum(widths) + 2 * (len(widths) - 1) > limit:
        label = headers[own_line]
        below = [f"  {label}: {row[own_line]}" if row[own_line] else "" for row in rows]
        headers = [h for i, h in enumerate(headers) if i != own_line]
        rows = [[c for i, c in enumerate(row) if i != own_line] for row in rows]
        widths = [w for i, w in enumerate(widths) if i != own_line]
        keep = [i - (i > own_line) for i in keep if i != own_line]
    if limit:
        rows, widths = fit_rows(headers, rows, widths, limit, gap=2, keep=keep)
    bold, reset = styles(ctx)
    lines = [bold + "  ".join(h.upper().ljust(w) for h, w in zip(headers, widths)).rstrip() + reset]
    for at, row in enumerate(rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if below and below[at]:
            lines.append(below[at])
    out.write("\n".join(lines) + "\n")


def print_checks(ctx: AppContext, checks: Sequence[tuple[str, str, str]]) -> None:
    """`doctor`'s checks: aligned on a terminal, the detail never cut (it says
    what to run next); state, check and detail tab-separated when piped."""
    if not ctx.stdout_is_terminal:
        ctx.stdout.write("".join("\t".join(tsv_cell(c) for c in check) + "\n" for check in checks))
        return
    checks = [[escape(c) for c in check] for check in checks]
    state = max(len(c[0]) for c in checks)
    name = max(len(c[1]) for c in checks)
    ctx.stdout.write("".join(f"{c[0]:<{state}}  {c[1]:<{name}}  {c[2]}\n" for c in checks))


# After the health in a listing: where the tokens are, when not the keyring.
STORAGE_MARKS = {name: backend.mark for name, backend in BACKENDS.items() if backend.mark}


def print_authorizations(ctx: AppContext, authorizations: list[Authorization], view: str, as_json: JsonOutput | None) -> None:
    now = now_from(ctx.clock)
    if as_json:
        looked_up: dict = {}
        write_json_list(ctx.stdout, {"view": view}, "authorizations", authorizations,
                        lambda a: as_json.narrow(authorization_json(ctx, a, now, looked_up)), as_json,
                        render=authorization_json_text(ctx, now, looked_up) if as_json.fields is None else None)
        return
    if not authorizations and ctx.stdout_is_terminal:
        # `list --all` already shows every one: then only adding one helps.
        hint = "integray-auth list --all" if view == "inactive" else "integray-auth add NAME --provider P --connector C"
        ctx.stderr.write(f"No {'' if view == 'all' else view + ' '}authorizations. Try: {hint}\n")
        return
    show_deactivated = view != "active"
    headers = ["Provider", "Name", "Status", "Connectors"] + (["Deactivated"] if show_deactivated else [])
    registry = ctx.registry if authorizations else None  # loaded (its warnings said) before the first row

    def rows():
        # Most rows share a provider and a set of connectors: their names are looked up once.
        providers: dict[str, Any] = {}
        connector_names: dict[tuple, str] = {}
        for a in authorizations:
            provider = providers.get(a.provider, providers)
            if provider is providers:
                provider = providers[a.provider] = registry.get(a.provider)
            status = LABELS[health(a, provider, now)] + STORAGE_MARKS.get(a.storage or "", "")
            key = (a.provider, *a.connectors)
            connectors = connector_names.get(key)
            if connectors is None:
                connectors = connector_names[key] = ", ".join(connector_name(provider, cid) for cid in a.connectors)
            row = [provider.name if provider else a.provider, a.name, status, connectors]
            if show_deactivated:
                row.append(a.deactivated_at or "")
            yield row

    write_rows(ctx, headers, rows())


def print_details(ctx: AppContext, details: AuthorizationDetails, as_json: JsonOutput | None) -> None:
    a = details.authorization
    if as_json:
        document = authorization_json(ctx, a)
        document["scopes"] = [
            {
                "scope": line.scope,
                "description": line.description,
                "connectors": line.connectors,
                "granted": line.granted,
            }
            for line in details.scopes
        ]
        document["extra_granted_scopes"] = details.extra_granted
        # Each connector with whether the grant covers its scopes (null: not authorized, or
        # a connector the registry no longer has); the same objects as before, with more fields.
        document["connectors"] = [
            {"id": c.id, "name": c.name, "scopes": c.scopes, "covered": c.covered, "missing_scopes": c.missing}
            for c in details.connectors
        ]
        write_json(ctx.stdout, {"authorization": as_json.narrow(document)}, as_json)
        return
    bold, reset = styles(ctx)
    now = now_from(ctx.clock)
    value = health(a, ctx.registry.get(a.provider), now)
    status = LABELS[value]
    if value == NEEDS_REAUTHORIZATION:
        if a.refresh_rejected_at and not a.is_authorized:
            status += " (the provider rejected the refresh)"
        elif a.rejected_at:
            status += " (the provider rejected its access token: status --check)"
        else:
            status += " (the registry names other endpoints)"
    elif value == EXPIRED:
        status += " (and the provider gave no refresh token)"
    if a.storage == STORAGE_FILE:
        status += " (tokens in an insecure 0600 file, by --insecure-storage)"
    elif a.storage == STORAGE_VAULT:
        located = a.locator if isinstance(a.locator, dict) else {}
        status += f" (shared through Vault at {located.get('addr', '?')}, {located.get('mount', '?')}/{located.get('prefix', '?')})"
    fields = [
        ("Name", a.name),
        ("ID", a.id),
        ("Provider", f"{details.provider_name} ({a.provider})"),
        ("Status", status),
        ("Active", "yes" if a.active else f"no (deactivated {a.deactivated_at})"),
        ("Connectors", ", ".join(details.connector_names)),
        ("Account", a.account),
        ("Parameters", _parameters_text(a.parameters)),
        ("Created", a.created_at),
        ("Authorized", a.authorized_at),
        ("Expires", _expiry_text(a.expires_at, now) if a.is_authorized else None),
        ("Refreshed", a.refreshed_at if a.is_authorized else None),
    ]
    width = max(len(label) for label, _ in fields) + 1
    lines = [f"{label + ':':<{width}} {escape(value)}" for label, value in fields if value]
    lines += ["", f"{bold}Connectors{reset}"]
    for c in details.connectors:
        if c.scopes is None:
            state = "not in the registry"
        elif c.covered is None:
            state = "not authorized yet"
        elif c.covered:
            state = "covered"
        else:
            state = "NOT covered: the grant lacks " + ", ".join(c.missing)
        lines.append(f"  {escape(c.name)} ({escape(c.id)})  [{escape(state)}]")
    missing = list(dict.fromkeys(s for c in details.connectors for s in (c.missing or ())))
    if missing:
        from ..hints import command_hint

        lines.append(f"  Missing scopes: {escape(', '.join(missing))}. Run: {command_hint('authorize', a)}")
    lines += ["", f"{bold}Scopes{reset}"]
    for line in details.scopes:
        granted = {True: "granted", False: "NOT granted", None: "requested"}[line.granted]
        description = escape(line.description) if line.description else "(not described in the registry)"
        lines.append(f"  {escape(line.scope)}  [{granted}]")
        lines.append(f"      {description}")
        if line.connectors:
            lines.append(f"      needed by: {escape(', '.join(line.connectors))}")
    if details.extra_granted:
        lines.append(f"  also granted, not requested: {escape(', '.join(details.extra_granted))}")
    ctx.stdout.write("\n".join(lines) + "\n")


def _expiry_text(expires_at, now) -> str | None:
    """The access token's expiry, and whether it has passed (`token` renews it then)."""
    if not isinstance(expires_at, str):
        return None
    from ..health import passed

    return expires_at + (" (expired)" if passed(expires_at, now) else "")


def _parameters_text(parameters) -> str:
    if not isinstance(parameters, dict):
        return ""
    # Checked when saved, but the index is a file anyone may edit: escaped by the caller.
    return ", ".join(f"{k}={v}" for k, v in parameters.items())


def styles(ctx: AppContext) -> tuple[str, str]:
    if not ctx.stdout_is_terminal or "NO_COLOR" in ctx.environ or ctx.environ.get("TERM") == "dumb":
        return "", ""
    return "\033[1m", "\033[0m"


def print_refresh(ctx: AppContext, outcomes: list, window_seconds: float | None, as_json: bool) -> None:
    """`refresh`: one row per authorization on stdout (or one JSON document);
    each one that needs the user or failed also gets a line on stderr, so
    cron, which mails what a job writes, mails exactly those with `>/dev/null`."""
    from ..usecases.keepalive import LABELS

    if as_json:
        write_json(ctx.stdout, {
            "window_seconds": window_seconds,
            "results": [
                {
                    "id": o.authorization.id,
                    "name": o.authorization.name,
                    "result": o.result,
                    "expires_at": o.expires_at,
                    "message": o.message,
                    "hint": o.hint,
                    "exit_code": o.exit_code,
                }
                for o in outcomes
            ],
        })
    elif outcomes:
        rows = [[o.authorization.name, LABELS[o.result], o.expires_at or ""] for o in outcomes]
        write_rows(ctx, ["Name", "Result", "Expires"], rows)
    elif ctx.stdout_is_terminal:
        ctx.stderr.write("No active authorizations to refresh.\n")
    for o in outcomes:
        _said(ctx, o.message, f" {o.hint}" if o.hint else "")


def print_status(ctx: AppContext, lines: list, checked: bool, code: int, as_json: JsonOutput | None) -> None:
    """`status`: one row per authorization with its health and the command that
    fixes it (or one JSON document); each refusal or failed check also gets its
    line on stderr."""
    from ..health import LABELS

    if as_json:
        write_json(ctx.stdout, {
            "checked": checked,
            "exit_code": code,
            "authorizations": [
                as_json.narrow({
                    "id": line.authorization.id,
                    "name": line.authorization.name,
                    "provider": line.authorization.provider,
                    "health": line.health,
                    "active": line.authorization.active,
                    "shared": line.authorization.is_shared,
                    "usable": line.usable,
                    "expires_at": line.authorization.expires_at,
                    "refreshed_at": line.authorization.refreshed_at,
                    "check": line.check,
                    "message": line.message,
                    "fix": line.fix,
                    "exit_code": line.exit_code,
                })
                for line in lines
            ],
        }, as_json)
    elif lines:
        headers = ["Name", "Health", "Active"] + (["Check"] if checked else []) + ["Expires", "Fix"]
        rows = []
        for line in lines:
            a = line.authorization
            row = [a.name, LABELS[line.health] + (" (shared)" if a.is_shared else ""), "yes" if a.active else "no"]
            row += [line.check or ""] if checked else []
            rows.append(row + [(a.expires_at or "") if a.is_authorized else "", line.fix or ""])
        # The fix is a command to paste and the expiry a time: cut neither (issue 19).
        write_rows(ctx, headers, rows, keep=(len(headers) - 2,), own_line=len(headers) - 1)
    elif ctx.stdout_is_terminal:
        ctx.stderr.write("No active authorizations.\n")
    for line in lines:
        _said(ctx, line.message, f" Run: {line.fix}" if line.fix else "")


def _said(ctx: AppContext, message: str | None, then: str) -> None:
    """One authorization's refusal or failure on stderr, worded like the entry point's
    error line: a sentence, then what to do. Both may quote the provider: escaped."""
    if message:
        stop = "" if message.endswith((".", "?", "!")) else "."
        ctx.stderr.write(f"integray-auth: {escape(message)}{stop}{escape(then)}\n")


TOKEN_VARIABLE = "INTEGRAY_AUTH_TOKEN"


def print_token(ctx: AppContext, tokens, authorization_scopes, fmt: str) -> None:
    """`token`: exactly the token in the asked format on stdout, nothing else.
    `env` is one line a POSIX shell can eval (single-quoted: nothing in it expands)."""
    if fmt == "header":
        text = f"Authorization: Bearer {tokens.access_token}"
    elif fmt == "json":
        document = {
            "access_token": tokens.access_token,
            "token_type": tokens.token_type,
            "expires_at": tokens.expires_at,
            "scopes": tokens.scope if tokens.scope is not None else authorization_scopes,
        }
        write_json(ctx.stdout, document)
        return
    elif fmt == "env":
        text = f"{TOKEN_VARIABLE}={_sh_quoted(tokens.access_token)}"
    else:
        text = tokens.access_token
    ctx.stdout.write(text + "\n")


def _sh_quoted(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"
