"""How the registry's providers and the configured OAuth clients reach stdout:
`providers`, `providers show`, `client list` and `client show`, as text or
versioned JSON. Not on the fast path: only the provider and client commands
print these. The same facts feed docs/providers.md (scripts/gen_providers_doc.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..grants import DEFAULT_GRANT
from ..lean.printable import escape
from ..oauth.redirect import redirect_uri_template
from ..usecases.clients import registration_steps
from .json_output import write_json
from .output import styles, write_rows

if TYPE_CHECKING:
    from typing import Mapping

    from ..context import AppContext
    from .jsonfields import JsonOutput


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
        # Issue 20 items 8-10, issue 19 item 4: token requests, known limits, setup.
        "code_exchange_params": dict(provider.code_exchange_params),
        "refresh_params": dict(provider.refresh_params),
        "token_request_encoding": provider.token_request_encoding,
        "code_lifetime": provider.code_lifetime,
        "https_redirect_only": provider.https_redirect_only,
        "device_scopes": None if provider.device_scopes is None else list(provider.device_scopes),
        "device_needs_own_client": provider.device_needs_own_client,
        "limits": known_limits(provider),
        "setup": setup_lines(provider),
        "console_url": provider.console_url,
    }




def known_limits(provider) -> list[str]:
    """The registry's limits of `provider` as sentences: the facts the tool acts on, then `limits`."""
    lines = []
    if provider.https_redirect_only:
        lines.append(
            f"{provider.name} accepts only https redirect URLs: integray-auth's loopback redirect cannot receive "
            "the code, so `add` and `authorize` refuse it."
        )
    if provider.code_lifetime is not None:
        lines.append(f"The authorization code is valid for {provider.code_lifetime} seconds.")
    if provider.device_scopes is not None:
        lines.append(f"The device flow can grant only: {', '.join(provider.device_scopes)}.")
    if provider.device_needs_own_client:
        lines.append("The device flow needs an OAuth client of its own"
                     + (f" ({provider.device_flow_setting})" if provider.device_flow_setting else "") + ".")
    return lines + list(provider.limits)


def extra_token_params(provider) -> list[tuple[str, Mapping[str, str]]]:
    """(request, parameters) for each token request the registry adds parameters to."""
    requests = (("Code exchange", provider.code_exchange_params), ("Refresh", provider.refresh_params))
    return [(request, params) for request, params in requests if params]


def token_request_body(provider) -> str | None:
    """How the token requests are encoded when it is not a form (RFC 6749 §4.1.3), else None."""
    if provider.token_request_encoding == "form":
        return None
    return f"{provider.token_request_encoding.upper()} body (code exchange, refresh, revocation)"


def setup_lines(provider) -> list[str]:
    """The console steps of registering a client at `provider`, without the closing pointer to its docs."""
    return [line for line in registration_steps(provider) if not line.startswith("More: ")]


def print_provider(ctx: AppContext, provider, as_json: JsonOutput | None, client=None) -> None:
    """`providers show`; `client`: the configured client (usecases.clients.ClientInfo), shown without its secret."""
    if as_json:
        record = provider_json(provider)
        record["client"] = None if client is None or not client.client_id else client.as_json()
        write_json(ctx.stdout, {"provider": as_json.narrow(record)}, as_json)
        return
    bold, reset = styles(ctx)
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
    for request, params in extra_token_params(provider):
        lines.append(f"{request + ':':<18} also sends {e('&'.join(f'{k}={v}' for k, v in params.items()))}")
    body = token_request_body(provider)
    if body:
        lines.append(f"Token requests:    {e(body)}")
    if client is not None:
        if client.client_id:
            lines.append(f"Client id:         {e(client.client_id)} (from {e(client.source)}); secret: {e(client.secret)}")
        else:
            lines.append(f"Client id:         none configured (integray-auth client set {e(provider.id)})")
    for line in known_limits(provider):
        lines.append(f"Limit:             {e(line)}")
    setup = setup_lines(provider)
    if setup:
        lines.append("Setup:")
        lines.extend(f"  {e(line.strip())}" for line in setup)
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


def print_clients(ctx: AppContext, infos: list, as_json: bool) -> None:
    """`client list`: provider, client id, where it comes from, the secret's state (never its value)."""
    if as_json:
        write_json(ctx.stdout, {"clients": [info.as_json() for info in infos]})
        return
    if not infos:
        if ctx.stdout_is_terminal:
            ctx.stderr.write("No OAuth clients configured. Set one with: integray-auth client set PROVIDER\n")
        return
    rows = [[i.provider.id, i.client_id, i.source or "", i.secret] for i in infos]
    write_rows(ctx, ["Provider", "Client id", "From", "Secret"], rows)


def print_client(ctx: AppContext, info, as_json: bool) -> None:
    """`client show PROVIDER`: the configured client (never the secret) and the provider's setup steps."""
    provider = info.provider
    if as_json:
        write_json(ctx.stdout, {"client": {**info.as_json(), "setup": setup_lines(provider)}})
        return
    e = escape
    lines = [f"Provider:  {e(provider.name)} ({e(provider.id)})"]
    if info.client_id:
        lines += [f"Client id: {e(info.client_id)}", f"From:      {e(info.source)}"]
    else:
        lines.append(f"Client id: none configured (integray-auth client set {e(provider.id)})")
    lines.append(f"Secret:    {e(info.secret)}")
    lines.append("Setup:")
    lines.extend(f"  {e(line.strip())}" for line in setup_lines(provider))
    ctx.stdout.write("\n".join(lines) + "\n")
