"""`providers add` by hand on a terminal: the questions of Integray's "custom OAuth 2.0" form,
asked only for what the options did not give. Off a terminal a missing one is a usage error."""

from __future__ import annotations

from ..context import AppContext
from ..errors import UsageError
from ..usecases.discovery import ManualProvider, check_endpoint, check_id, parse_auth_param, parse_scope
from . import prompts


def ask_form(ctx: AppContext, provider_id: str | None, name: str | None, authorization_url: str | None,
             token_url: str | None, revocation_url: str | None, userinfo_url: str | None, scopes: list[str],
             auth_params: list[str], offline_access: bool, pkce: str, client_auth: str,
             client_id: str | None) -> tuple[ManualProvider, str, str | None]:
    """The form, its id and its name: from the options, the rest asked on a terminal."""
    missing = [option for option, value in (("ID", provider_id), ("--authorization-url", authorization_url),
                                            ("--token-url", token_url)) if value is None]  # fmt: skip
    asking = bool(missing) and ctx.interactive
    if missing and not asking:
        raise UsageError(
            f"missing {', '.join(missing)}",
            hint="For example: integray-auth providers add acme --authorization-url https://acme.example/oauth/authorize "
            "--token-url https://acme.example/oauth/token --scope read",
        )
    if asking:
        prompts.say(ctx, "A provider without a discovery document: its URLs, from the provider's OAuth documentation.")
        if provider_id is None:
            provider_id = prompts.ask_checked(ctx, "Provider id (lowercase letters, digits, '-'): ", lambda a: check_id(a, "provider id"))
        if name is None:
            name = prompts.ask(ctx, f"Display name [{provider_id}]: ").strip() or None
        if authorization_url is None:
            authorization_url = prompts.ask_checked(ctx, "Login (authorization) URL: ", lambda a: check_endpoint(a, "--authorization-url"))
        if token_url is None:
            token_url = prompts.ask_checked(ctx, "Token URL: ", lambda a: check_endpoint(a, "--token-url"))
        if revocation_url is None:
            revocation_url = prompts.ask_checked(ctx, "Revocation URL (Enter: none): ",
                                                 lambda a: a == "" or check_endpoint(a, "--revocation-url")) or None
        if not scopes:
            answer = prompts.ask_checked(ctx, "Scopes, separated by spaces (Enter: none): ",
                                         lambda a: [parse_scope(s) for s in a.split()])
            scopes = answer.split()
        if client_id is None:
            client_id = prompts.ask(ctx, f"Client id (Enter: give it later with 'integray-auth client set {provider_id}'): ").strip() or None
        if not offline_access:
            offline_access = prompts.confirm(ctx, "Request the offline_access scope (a refresh token)?")
    form = ManualProvider(
        authorization_url=authorization_url,
        token_url=token_url,
        revocation_url=revocation_url,
        userinfo_url=userinfo_url,
        scopes=dict(parse_scope(scope) for scope in scopes),
        auth_params=dict(parse_auth_param(param) for param in auth_params),
        offline_access=offline_access,
        pkce=pkce,
        client_auth=client_auth,
        client_id=client_id,
    )
    return form, provider_id, name
