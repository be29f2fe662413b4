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
    from typing import Any, Iterable, Sequence, TextIO

from . import jsonfields
from ..context import AppContext, isatty
from .fit import fit_rows, terminal_width
from ..health import EXPIRED, LABELS, NEEDS_REAUTHORIZATION, health, usable
from ..grants import DEFAULT_GRANT
from .jsonfields import JsonOutput
from ..models import AUTHORIZED, STORAGE_VAULT, Authorization, now_from
from ..lean.printable import escape, json_text, tsv_cell
from ..usecases.manage import AuthorizationDetails
from ..usecases.provider_lookup import connector_name
from ..oauth.redirect import redirect_uri_template

JSON_VERSION = 1


def write_json(stream: TextIO, document: dict[str, Any], output: JsonOutput | None = None) -> None:
    """Indented for a person at a terminal, compact on one line for a script:
    json's indenting encoder is pure Python, ~4x slower for a long list.
    With --jq, what the expression makes of the versioned document."""
    document = {"schema_version": JSON_VERSION, **document}
    jsonfields.write(stream, document, output or JsonOutput(), isatty(stream))


_BATCH = 1000  # rows per write: output streams out instead of being built whole
_JSON_BATCH = 100  # objects per encode: its set-up is paid per call, the objects are held until it returns


def write_json_list(
    stream: TextIO, head: dict[str, Any], key: str, items: Sequence, convert, output: JsonOutput | None = None,
    render=None,
) -> None:
    """write_json({**head, key: [convert(i) for i in items]}, output), streamed
    when compact and unfiltered: the same bytes, without every object and the
    whole text in memory at once (`list --all --json` of 100,000 authorizations).
    `render(item, encode)`, when given, is the compact text of convert(item), made faster."""
    if isatty(stream) or (output is not None and output.jq is not None):
        write_json(stream, {**head, key: [convert(item) for item in items]}, output)
        return
    from ..lean.jsonio import encoder as json_encoder

    # No cycle check (~12% of the encoding): `convert` builds a fresh tree per item from
    # decoded JSON, which cannot hold a cycle; the bytes are the same.
    encode = json_encoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)

    def batch(start: int) -> str:
        chunk = items[start:start + _JSON_BATCH]
        if render is not None:
            return json_text(",".join([render(item, encode) for item in chunk]))
        # One encode per batch, not per object: each encode() sets up the C encoder anew.
        return json_text(encode([convert(item) for item in chunk])[1:-1])

    # The first batch before any byte goes out: an error (the registry, say) leaves stdout empty.
    first = batch(0)
    opening = encode({"schema_version": JSON_VERSION, **head, key: []})
    stream.write(json_text(opening[:-2]) + first)
    for start in range(_JSON_BATCH, len(items), _JSON_BATCH):
        stream.write("," + batch(start))
    stream.write("]}\n")


def write_rows(ctx: AppContext, headers: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """A table for people, or header-less TSV for scripts (the `gh` convention)."""
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
    if limit:
        rows, widths = fit_rows(headers, rows, widths, limit, gap=2)
    bold, reset = _styles(ctx)
    lines = [bold + "  ".join(h.upper().ljust(w) for h, w in zip(headers, widths)).rstrip() + reset]
    lines.extend("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows)
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


def authorization_json(ctx: AppContext, authorization: Authorization, now=None, looked_up: dict | None = None) -> dict[str, Any]:
    """The authorization's JSON object. `looked_up`: what a listing has found in the
    registry so far, by provider and connectors (most entries share them); the
    objects in it are shared by the documents, which are only encoded."""
    key = (authorization.provider, *authorization.connectors)
    known = None if looked_up is None else looked_up.get(key)
    if known is None:
        provider = ctx.registry.get(authorization.provider)
        known = (
            provider,
            provider.name if provider else authorization.provider,
            [{"id": cid, "name": connector_name(provider, cid)} for cid in authorization.connectors],
        )
        if looked_up is not None:
            looked_up[key] = known
    provider, provider_name, connectors = known
    value = health(authorization, provider, now_from(ctx.clock) if now is None else now)
    return {
        "id": authorization.id,
        "name": authorization.name,
        "provider": authorization.provider,
        "provider_name": provider_name,
        "connectors": connectors,
        "status": authorization.status,
        "authorized": authorization.is_authorized,
        "health": value,
        "usable": usable(value, authorization.active),
        "active": authorization.active,
        "requested_scopes": authorization.requested_scopes,
        "granted_scopes": authorization.granted_scopes,
        "account": authorization.account,
        "parameters": dict(authorization.parameters) if isinstance(authorization.parameters, dict) else {},
        "storage": authorization.storage,
        "shared": authorization.is_shared,  # through Vault: every machine pointed at it sees it
        "created_at": authorization.created_at,
        "updated_at": authorization.updated_at,
        "authorized_at": authorization.authorized_at,
        "expires_at": authorization.expires_at,
        "refreshed_at": authorization.refreshed_at,
        "renewable": authorization.renewable,
        "deactivated_at": authorization.deactivated_at,
    }


def authorization_json_text(ctx: AppContext, now, looked_up: dict):
    """render(authorization, encode) for write_json_list: the compact JSON text of
    authorization_json(ctx, authorization, now, looked_up), byte for byte, without
    the object. At 10,000 entries the encoder spent 4 µs per entry on its 23 keys
    and values (~100 small strings each) and building the dict 2 µs more; here one
    %-format per entry takes the values, each string through the same C function
    the encoder uses, and what entries share (provider, connectors) is encoded once.
    It relies on the index's checks for the types (index.entry_problem);
    a shared authorization (from Vault) takes the encoder. tests/test_json_text.py
    holds the two equal over any entry."""
    from .jsonfields import AUTHORIZATION
    from ..lean.jsonio import string_encoder

    text = string_encoder()
    template = "{" + ",".join(f'"{key}":%s' for key in AUTHORIZATION) + "}"
    encoded: dict = {}  # by provider and connectors: (provider, its name's text, the connectors' text)

    def value(v) -> str:
        return "null" if v is None else text(v)

    def strings(items) -> str:
        return "[" + ",".join(map(text, items)) + "]"

    def render(a: Authorization, encode) -> str:
        if a.storage == STORAGE_VAULT:
            return encode(authorization_json(ctx, a, now, looked_up))
        key = (a.provider, *a.connectors)
        known = encoded.get(key)
        if known is None:
            document = authorization_json(ctx, a, now, looked_up)  # fills looked_up for this key
            provider = looked_up[key][0]
            known = encoded[key] = (provider, text(document["provider_name"]), encode(document["connectors"]))
        provider, provider_name, connectors = known
        health_value = health(a, provider, now)
        granted, parameters, renewable = a.granted_scopes, a.parameters, a.renewable
        return template % (
            text(a.id), text(a.name), text(a.provider), provider_name, connectors, text(a.status),
            _BOOLEAN[a.status == AUTHORIZED], text(health_value), _BOOLEAN[usable(health_value, a.active)],
            _BOOLEAN[a.active], strings(a.requested_scopes), "null" if granted is None else strings(granted),
            value(a.account),
            "{" + ",".join([text(k) + ":" + text(v) for k, v in parameters.items()]) + "}"
            if type(parameters) is dict else "{}",
            value(a.storage), "false", text(a.created_at), text(a.updated_at), value(a.authorized_at),
            value(a.expires_at), value(a.refreshed_at), "null" if renewable is None else _BOOLEAN[renewable],
            value(a.deactivated_at),
        )

    return render


_BOOLEAN = {True: "true", False: "false"}


# After the health in a listing: where the tokens are, when not the keyring.
STORAGE_MARKS = {"file": " (insecure storage)", "vault": " (shared)"}


def print_authorizations(ctx: AppContext, authorizations: list[Authorization], view: str, as_json: JsonOutput | None) -> None:
    now = now_from(ctx.clock)
    if as_json:
        looked_up: dict = {}
        write_json_list(ctx.stdout, {"view": view}, "authorizations", authorizations,
                        lambda a: as_json.narrow(authorization_json(ctx, a, now, looked_up)), as_json,
                        render=authorization_json_text(ctx, now, looked_up) if as_json.fields is None else None)
        return
    if not authorizations and ctx.stdout_is_terminal:
        hint = "integray-auth add NAME --provider P --connector C" if view == "active" else "integray-auth list --all"
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
    bold, reset = _styles(ctx)
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
    if a.storage == "file":
        status += " (tokens in an insecure 0600 file, by --insecure-storage)"
    elif a.storage == "vault":
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


def _styles(ctx: AppContext) -> tuple[str, str]:
    if not ctx.stdout_is_terminal or "NO_COLOR" in ctx.environ or ctx.environ.get("TERM") == "dumb":
        return "", ""
    return "\033[1m", "\033[0m"


def print_providers(ctx: AppContext, as_json: JsonOutput | None) -> None:
    providers = sorted(ctx.registry.providers.values(), key=lambda p: p.name.casefold())
    if as_json:
        write_json(ctx.stdout, {"providers": [as_json.narrow(provider_json(p)) for p in providers]}, as_json)
        return
    rows = [[p.id, p.name, ", ".join(c.name for c in p.connectors.values())] for p in providers]
    write_rows(ctx, ["ID", "Provider", "Connectors"], rows)


def provider_json(provider) -> dict[str, Any]:
    return {
        "id": provider.id,
        "name": provider.name,
        "authorization_url": provider.authorization_url,
        "token_url": provider.token_url,
        "revocation_url": provider.revocation_url,
        "device_authorization_url": provider.device_authorization_url,
        "issuer": provider.issuer,
        "userinfo_url": provider.userinfo_url,
        "resource": provider.resource,  # an MCP server's RFC 8707 resource (docs/mcp.md), else null
        "mcp_url": provider.mcp_url,
        "scope_separator": provider.scope_separator,
        "scope_parameter": provider.scope_parameter,
        "token_path": provider.token_path,
        "token_types": list(provider.token_types),
        "authorization_params": dict(provider.authorization_params),
        "incremental_consent_params": dict(provider.incremental_consent_params),
        "refresh_narrows_scope": provider.refresh_narrows_scope,
        "pkce": provider.pkce,
        "client_auth": provider.client_auth,
        "client_secret_required": provider.client_secret_required,
        "redirect_uri": redirect_uri_template(provider),
        "redirect_host": provider.redirect_host,
        "redirect_path": provider.redirect_path,
        "redirect_ports": list(provider.redirect_ports),
        "grants": list(provider.grants),
        "public_grants": list(provider.public_grants),
        "variant": provider.default_grant,  # the former name, kept for scripts reading schema_version 1
        "docs_url": provider.docs_url,
        "revoke_page_url": provider.revoke_page_url,
        "parameters": [
            {"name": p.name, "description": p.description, "default": p.default, "pattern": p.pattern}
            for p in provider.parameters.values()
        ],
        "callback_parameters": list(provider.callback_parameters),
        "revocation_auth": provider.revocation_auth,
        "device_auth": provider.device_auth,
        "notes": provider.notes,
        "scopes": [{"scope": s, "description": d} for s, d in provider.scopes.items()],
        "connectors": [
            {"id": c.id, "name": c.name, "description": c.description, "scopes": list(c.scopes)}
            for c in provider.connectors.values()
        ],
        "source": provider.source,
        # Bundled fields an overlay changed: {field: {"source": file, "bundled": value}}.
        "overrides": {field: dict(fact) for field, fact in provider.overrides.items()},
    }




def print_provider(ctx: AppContext, provider, as_json: JsonOutput | None) -> None:
    if as_json:
        write_json(ctx.stdout, {"provider": as_json.narrow(provider_json(provider))}, as_json)
        return
    bold, reset = _styles(ctx)
    e = escape  # an overlay's strings are outside text like any other
    lines = [
        f"{bold}{e(provider.name)}{reset} ({e(provider.id)})",
        f"Authorization URL: {e(provider.authorization_url)}",
        f"Token URL:         {e(provider.token_url)}",
    ]
    if provider.revocation_url:
        lines.append(f"Revocation URL:    {e(provider.revocation_url)}")
    if provider.resource:  # an MCP server (docs/mcp.md)
        lines.append(f"MCP server:        {e(provider.mcp_url or provider.resource)} (resource {e(provider.resource)})")
    lines.append(f"Redirect URI:      {e(redirect_uri_template(provider))}")
    lines.append(f"PKCE:              {e(provider.pkce)}; client auth: {e(provider.client_auth)}"
                 + ("; needs a client secret" if provider.client_secret_required else "")
                 + "".join(f" (not for {e(g)})" for g in provider.public_grants))
    if provider.incremental_consent_params:
        extra = "&".join(f"{k}={v}" for k, v in provider.incremental_consent_params.items())
        lines.append(f"Step-up consent:   {e(extra)} (keeps the scopes granted before)")
    if provider.refresh_narrows_scope:
        lines.append("Narrowing:         a refresh with fewer scopes narrows the grant")
    if provider.authorization_params:
        extra = "&".join(f"{k}={v}" for k, v in provider.authorization_params.items())
        lines.append(f"Extra parameters:  {e(extra)}")
    if provider.grants != (DEFAULT_GRANT,):
        several = " (the first is the default)" if len(provider.grants) > 1 else ""
        lines.append(f"Grants:            {e(', '.join(provider.grants))}{several}")
    for p in provider.parameters.values():
        default = f" (default {p.default})" if p.default is not None else " (no default: --param needed)"
        lines.append(f"Parameter:         {e(p.name)}{e(default)}: {e(p.description)}")
    if provider.docs_url:
        lines.append(f"Docs:              {e(provider.docs_url)}")
    if provider.revoke_page_url:
        lines.append(f"Revoke by hand:    {e(provider.revoke_page_url)}")
    for field, fact in provider.overrides.items():
        lines.append(
            f"Overridden:        {field} = {e(repr(getattr(provider, field)))} by {e(str(fact['source']))} "
            f"(bundled: {e(repr(fact['bundled']))})"
        )
    if provider.notes:
        lines.append("Notes:")
        lines.extend(f"  {e(line)}".rstrip() for line in provider.notes.strip().splitlines())
    lines += ["", f"{bold}Connectors{reset}"]
    for c in provider.connectors.values():
        lines.append(f"  {e(c.id)}  {e(c.name)}: {e(c.description)}")
        lines.append(f"      scopes: {e(', '.join(c.scopes))}")
    lines += ["", f"{bold}Scopes{reset}"]
    scopes = {e(s): e(d) for s, d in provider.scopes.items()}
    width = max((len(s) for s in scopes), default=0)
    lines.extend(f"  {s:<{width}}  {d}" for s, d in scopes.items())
    ctx.stdout.write("\n".join(lines) + "\n")


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
        if o.message:
            hint = f" {o.hint}" if o.hint else ""
            stop = "" if o.message.endswith((".", "?", "!")) else "."
            ctx.stderr.write(f"integray-auth: {escape(o.message)}{stop}{escape(hint)}\n")


def print_status(ctx: AppContext, lines: list, checked: bool, code: int, as_json: bool) -> None:
    """`status`: one row per authorization with its health and the command that
    fixes it (or one JSON document); each refusal or failed check also gets its
    line on stderr."""
    from ..health import LABELS

    if as_json:
        write_json(ctx.stdout, {
            "checked": checked,
            "exit_code": code,
            "authorizations": [
                {
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
                }
                for line in lines
            ],
        })
    elif lines:
        headers = ["Name", "Health", "Active"] + (["Check"] if checked else []) + ["Expires", "Fix"]
        rows = []
        for line in lines:
            a = line.authorization
            row = [a.name, LABELS[line.health] + (" (shared)" if a.is_shared else ""), "yes" if a.active else "no"]
            row += [line.check or ""] if checked else []
            rows.append(row + [(a.expires_at or "") if a.is_authorized else "", line.fix or ""])
        write_rows(ctx, headers, rows)
    elif ctx.stdout_is_terminal:
        ctx.stderr.write("No active authorizations.\n")
    for line in lines:
        if line.message:
            fix = f" Run: {line.fix}" if line.fix else ""
            stop = "" if line.message.endswith((".", "?", "!")) else "."
            ctx.stderr.write(f"integray-auth: {escape(line.message)}{stop}{escape(fix)}\n")


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
