"""Authorize: from Not authorized to Authorized through the provider's own
consent screen (RFC 8252 loopback redirect, RFC 7636 PKCE, RFC 9700).

Order of events, each chosen so a failure loses nothing:
1. client credentials and the secret store are checked before any browser
   opens (a token that could not be kept would be lost);
2. the loopback listener serves before the browser opens;
3. after the code exchange the entry is written Not authorized and naming
   its store, then the tokens, then the entry is marked Authorized: a crash
   leaves neither an Authorized entry without tokens nor tokens without an entry.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Protocol

from ..context import AppContext
from ..errors import AuthorizationFailed, AuthorizationTimeout, ConflictError, IntegrayAuthError
from ..models import AUTHORIZED, NOT_AUTHORIZED, STORAGE_FILE, STORAGE_KEYRING, Authorization, to_iso
from ..oauth import pages
from ..oauth.endpoint import HINTS, ClientCredentials, TokenEndpoint, request_deadline
from ..oauth.issuer import issuer_check
from ..oauth.loopback import Callback, LoopbackServer
from ..registry import Provider
from ..scopes import granted_as_requested
from ..tokens import TokenSet
from . import manage
from .binding import endpoints_of
from .clients import resolve_credentials
from .access_token import tokens_lock


class FlowUI(Protocol):
    """What the flow needs from the terminal; the command layer provides it."""

    def show_url(self, local_url: str, full_url: str, browser: bool) -> None: ...
    def browser_failed(self) -> None: ...
    def notice(self, message: str) -> None: ...
    def wait(self, listener: LoopbackServer, timeout: float) -> Callback | None: ...


@dataclass
class FlowOptions:
    open_browser: bool = True
    timeout: float = 300.0
    client_id: str | None = None
    read_secret_from_stdin: bool = False
    insecure_storage: bool = False


@dataclass
class AuthorizeResult:
    authorization: Authorization
    provider: Provider
    missing_scopes: list[str] = field(default_factory=list)
    extra_scopes: list[str] = field(default_factory=list)


def authorize(ctx: AppContext, authorization: Authorization, new: bool, ui: FlowUI, options: FlowOptions) -> AuthorizeResult:
    provider = manage.provider_for(ctx, authorization)  # URLs filled in: {tenant}, {shop}
    if not new:
        # Connectors or their scopes may have changed since it was added.
        known = [cid for cid in authorization.connectors if cid in provider.connectors]
        if known:
            authorization = authorization.copy(requested_scopes=provider.scopes_for(known))
    credentials = resolve_credentials(ctx, provider, options.client_id, options.read_secret_from_stdin)
    storage = STORAGE_FILE if options.insecure_storage else STORAGE_KEYRING
    store = ctx.secret_store(storage)
    store.check_usable()
    ctx.index.check_writable()
    request_deadline(ctx.environ)  # a bad INTEGRAY_AUTH_HTTP_TIMEOUT stops here, not after consent
    if storage == STORAGE_FILE:
        ui.notice(f"Warning: --insecure-storage keeps the tokens unencrypted in {store.describe().removeprefix('insecure file ')} (mode 0600).")

    tokens, received = _run_flow(ctx, provider, credentials, authorization, ui, options)
    if received:
        authorization = authorization.copy(parameters={**(authorization.parameters or {}), **received})
    account = _account_from_userinfo(provider, tokens, ui, request_deadline(ctx.environ))
    granted = granted_as_requested(
        authorization.requested_scopes, tokens.scope or [], tokens.refresh_token is not None, tokens.id_token is not None
    )
    # Bound to what it was authorized against (binding.py), after templating.
    authorization = authorization.copy(endpoints=endpoints_of(provider))
    saved = _persist(ctx, authorization, tokens, granted, store, credentials.client_id, new, account)
    return AuthorizeResult(
        authorization=saved,
        provider=provider,
        missing_scopes=[s for s in saved.requested_scopes if s not in granted],
        extra_scopes=[s for s in granted if s not in saved.requested_scopes],
    )


def _run_flow(
    ctx, provider: Provider, credentials: ClientCredentials, authorization: Authorization, ui: FlowUI, options: FlowOptions
) -> tuple[TokenSet, dict[str, str]]:
    from ..oauth import pkce

    reservanto = provider.variant == "reservanto_long_time_token"
    if reservanto:
        from ..grants import reservanto as protocol

        state = None
        # No state in this protocol: an unguessable path segment does its job.
        path = f"{provider.redirect_path.rstrip('/')}/{pkce.make_state()}"
        listener = LoopbackServer(provider.redirect_host, path, None, provider.redirect_ports, is_complete=protocol.is_complete)
    else:
        state = pkce.make_state()
        listener = LoopbackServer(
            provider.redirect_host,
            provider.redirect_path,
            state,
            provider.redirect_ports,
            **issuer_check(provider),  # RFC 9207 (mix-up defence)
        )
    verifier = pkce.make_verifier() if provider.pkce != "unsupported" and not reservanto else None
    scopes = authorization.requested_scopes

    with listener:
        if reservanto:
            url = protocol.authorization_url(provider, credentials.client_id, listener.redirect_uri, scopes)
        else:
            url = _authorization_url(provider, credentials.client_id, listener.redirect_uri, scopes, state, verifier)
        listener.start_url = url
        ui.show_url(listener.local_url, url, options.open_browser)
        # The browser gets the one-time short URL: its command line is visible to
        # every local user, and the full URL carries state and PKCE challenge.
        if options.open_browser and not _open_browser(ctx, listener.local_url):
            ui.browser_failed()
        callback = ui.wait(listener, options.timeout)
        if callback is None:
            raise AuthorizationTimeout(
                f"no answer from the browser within {int(options.timeout)} seconds; nothing was saved",
                hint="Run the command again (--timeout gives more time; --no-browser prints the URL to open elsewhere).",
            )
        try:
            received = _callback_values(provider, callback.params)
            if reservanto:
                long_token = protocol.long_time_token(provider, callback.params)
                tokens = protocol.short_time_token(provider, long_token, scopes, ctx.clock(), request_deadline(ctx.environ))
            else:
                if callback.error:
                    description = callback.params.get("error_description")
                    raise AuthorizationFailed(
                        f"{provider.name} refused: {callback.error}" + (f" ({description})" if description else ""),
                        hint=HINTS.get(callback.error, "Run the command again."),
                    )
                endpoint = TokenEndpoint(provider, credentials, request_deadline(ctx.environ))
                tokens = endpoint.exchange_code(callback.params["code"], listener.redirect_uri, verifier, scopes, ctx.clock())
        except IntegrayAuthError as error:
            if not callback.error:
                listener.finish(pages.exchange_failed(error.message))
            raise
        listener.finish(pages.success(authorization.name, provider.name))
    return tokens, received


def _callback_values(provider: Provider, params: dict[str, str]) -> dict[str, str]:
    """The redirect's values the registry says to keep (QuickBooks' realmId)."""
    from ..registry import PARAMETER_VALUE_PATTERN

    kept = {}
    for name in provider.callback_parameters:
        value = params.get(name)
        if value is None:
            continue
        if not PARAMETER_VALUE_PATTERN.fullmatch(value):  # it reaches terminals and URLs later
            raise AuthorizationFailed(f"{provider.name} sent a {name} that is not a plain value; nothing was saved")
        kept[name] = value
    return kept


def _account_from_userinfo(provider: Provider, tokens: TokenSet, ui: FlowUI, deadline: float) -> str | None:
    """The account the registry says to read from userinfo_url (Fakturoid's slug), best effort."""
    if not provider.account_field or not provider.userinfo_url:
        return None
    from ..oauth.endpoint import fetch_userinfo

    try:
        value = fetch_userinfo(provider, tokens.access_token, deadline).get(provider.account_field)
    except IntegrayAuthError as failed:
        value, why = None, failed.message
    else:
        why = f"its answer has no '{provider.account_field}'"
    if isinstance(value, str) and value and value.isprintable() and len(value) <= 200:
        return value
    ui.notice(f"Note: could not read the account from {provider.name} ({why}); the authorization is saved without it.")
    return None


def _authorization_url(provider: Provider, client_id: str, redirect_uri: str, scopes: list[str], state: str, verifier: str | None) -> str:
    from oauthlib.common import add_params_to_uri

    # Built with oauthlib's encoder, not prepare_grant_uri: that one refuses
    # http:// even for a loopback development server the registry allows.
    params = [("response_type", "code"), ("client_id", client_id), ("redirect_uri", redirect_uri)]
    if scopes and provider.scope_parameter != "none":
        params.append((provider.scope_parameter, provider.scope_separator.join(scopes)))
    params.append(("state", state))
    if verifier is not None:
        from ..oauth.pkce import s256_challenge

        params += [("code_challenge", s256_challenge(verifier)), ("code_challenge_method", "S256")]
    params += [(k, v) for k, v in provider.authorization_params.items()]
    return add_params_to_uri(provider.authorization_url, params)


def _open_browser(ctx: AppContext, url: str) -> bool:
    if ctx.open_browser is not None:
        return ctx.open_browser(url)
    from ..oauth.browser import open_url

    return open_url(url, ctx.environ)  # without our secrets in its environment


def _persist(
    ctx: AppContext,
    authorization: Authorization,
    tokens: TokenSet,
    granted: list[str],
    store,
    client_id: str,
    new: bool,
    account: str | None = None,
) -> Authorization:
    from ..secret_store import ChunkedTokens

    now = to_iso(ctx.clock())
    storage = store.kind
    backend = store.describe() if storage == STORAGE_KEYRING else None
    previous = None  # (storage, backend) of tokens this authorization leaves behind
    with ctx.index.transaction() as authorizations:
        if new:
            manage.check_unique(authorizations, authorization.name)
            entry = authorization.copy(status=NOT_AUTHORIZED, storage=storage, keyring_backend=backend, updated_at=now)
            authorizations.append(entry)
        else:
            entry = manage.find_in(authorizations, authorization.id)
            # Only across kinds (file <-> keyring): once keyring has picked a backend
            # in this process, an old backend name resolves to that same backend, and
            # deleting "the old tokens" would delete the ones just saved.
            if entry.storage and entry.storage != storage:
                previous = (entry.storage, entry.keyring_backend)
            entry.status, entry.storage, entry.keyring_backend, entry.updated_at = NOT_AUTHORIZED, storage, backend, now
            entry.requested_scopes = authorization.requested_scopes
            entry.parameters = authorization.parameters
    with tokens_lock(ctx, authorization.name):
        ChunkedTokens(store).save(authorization.id, tokens)
        with ctx.index.transaction() as authorizations:
            try:
                entry = manage.find_in(authorizations, authorization.id)
            except IntegrayAuthError:
                entry = None
            if entry is None:
                ChunkedTokens(store).delete(authorization.id)
                raise ConflictError(f"authorization '{authorization.name}' was removed while it was being authorized")
            entry.status = AUTHORIZED
            entry.authorized_at = entry.updated_at = now
            entry.expires_at = tokens.expires_at
            entry.granted_scopes = granted
            entry.client_id = client_id
            entry.endpoints = authorization.endpoints
            entry.account = account or _account_label(tokens) or entry.account
            saved = entry.copy()
    if previous:
        ChunkedTokens(ctx.secret_store(*previous)).delete(authorization.id)
    return saved


def _account_label(tokens: TokenSet) -> str | None:
    """Who signed in, from the id_token's claims (display only, not trusted)."""
    if not tokens.id_token or tokens.id_token.count(".") != 2:
        return None
    try:
        payload = tokens.id_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, TypeError):
        return None
    if not isinstance(claims, dict):  # e.g. a payload of "[]": called inside the index transaction
        return None
    for claim in ("email", "preferred_username", "name", "sub"):
        if isinstance(claims.get(claim), str) and claims[claim]:
            return claims[claim]
    return None

