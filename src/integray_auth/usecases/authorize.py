"""Authorize: from Not authorized to Authorized through one of the
provider's grants (grants/: the loopback authorization code flow, Reservanto's
long-time token, ...). The grant obtains the tokens; this use case does the
checks before it and the persisting after it.

Order of events, each chosen so a failure loses nothing:
1. the grant, the client credentials and the secret store are checked before
   any browser opens (a token that could not be kept would be lost);
2. the grant obtains the tokens (a loopback listener serves before the browser opens);
3. then the entry is written Not authorized and naming its store, then the
   tokens, then the entry is marked Authorized with the grant that got them:
   a crash leaves neither an Authorized entry without tokens nor tokens without an entry.
"""

from __future__ import annotations

import base64
import json
import shlex
import sys
from dataclasses import dataclass, field
from types import SimpleNamespace

from .. import grants, hints
from ..context import AppContext, isatty
from ..errors import ConflictError, IntegrayAuthError, UsageError
from ..grants import DEVICE_GRANT
from ..grants.base import ConsentRequest, FlowUI
from ..lean.printable import quoted
from ..models import (
    AUTHORIZED,
    NOT_AUTHORIZED,
    STORAGE_FILE,
    STORAGE_KEYRING,
    STORAGE_VAULT,
    Authorization,
    to_iso,
)
from ..oauth.browser import open_url
from ..oauth.endpoint import ClientCredentials, fetch_userinfo, request_deadline
from ..registry.model import Provider
from ..scopes import granted_as_requested
from ..stores import lookup
from ..stores.secrets import ChunkedTokens, store_of
from ..tokens import TokenSet
from . import provider_lookup
from .access_token import tokens_lock
from .binding import check_device_endpoint, endpoints_of
from .clients import resolve_credentials


@dataclass
class FlowOptions:
    open_browser: bool = True
    timeout: float = 300.0
    client_id: str | None = None
    read_secret_from_stdin: bool = False
    storage: str | None = None  # a name in secret_store.BACKENDS; None: as recorded, else the keyring
    grant: str | None = None  # one of the provider's grants; None: as before, else the provider's default
    # Resolved by the command layer before its first prompt (and set up there if missing).
    credentials: ClientCredentials | None = None


@dataclass
class AuthorizeResult:
    authorization: Authorization
    provider: Provider
    missing_scopes: list[str] = field(default_factory=list)
    extra_scopes: list[str] = field(default_factory=list)


def authorize(ctx: AppContext, authorization: Authorization, new: bool, ui: FlowUI, options: FlowOptions) -> AuthorizeResult:
    provider = provider_lookup.provider_for(ctx, authorization)  # URLs filled in: {tenant}, {shop}
    if not new:
        # Connectors or their scopes may have changed since it was added.
        known = [cid for cid in authorization.connectors if cid in provider.connectors]
        if known:
            authorization = authorization.copy(requested_scopes=provider.scopes_for(known))
    chosen, offered = grant_for_run(provider, authorization, options.grant, options.open_browser, ctx.environ)
    if offered:
        ui.notice(f"No browser here ({NO_BROWSER_SIGNS} unset): using the device flow (--device).")
    grant = grants.get(chosen)
    grants.check_provider(grant, provider)
    was_authorized = authorization.is_authorized or authorization.authorized_at or authorization.endpoints is not None
    if grant.name == DEVICE_GRANT and not new and was_authorized:
        # Its device endpoint is bound like its token endpoint: a moved one would get the
        # client's secret or assertion before anyone has consented to anything.
        check_device_endpoint(authorization, provider)
    credentials = options.credentials or resolve_credentials(
        ctx, provider, options.client_id, options.read_secret_from_stdin, require_secret=grant.needs_secret(provider),
        grant=grant.name,
    )
    store = check_storage(ctx, options.storage, None if new else authorization, authorization.name)
    storage = store.kind
    http_deadline = request_deadline(ctx.environ)  # a bad INTEGRAY_AUTH_HTTP_TIMEOUT stops here, not after consent
    if grant.needs.needs_browser:  # after the checks above: each names something to fix first
        check_someone_can_consent(ctx, authorization, new, options.open_browser, grant, provider)
    if storage == STORAGE_FILE:
        ui.notice(f"Warning: --insecure-storage keeps the tokens unencrypted in {store.path} (mode 0600).")

    browser = None if not options.open_browser else (lambda url: _open_browser(ctx, url))
    request = ConsentRequest(
        provider=provider,
        credentials=credentials,
        scopes=authorization.requested_scopes,
        authorization_name=authorization.name,
        ui=ui,
        browser=browser,
        clock=ctx.clock,
        timeout=options.timeout,
        http_deadline=http_deadline,
        extra_params=step_up_params(provider, authorization) if not new else {},
    )
    obtained = grant.obtain(request)
    tokens = obtained.tokens
    if obtained.received:
        authorization = authorization.copy(parameters={**(authorization.parameters or {}), **obtained.received})
    account = _account_from_userinfo(provider, tokens, ui, http_deadline) or _account_label(tokens)
    if account is None:
        account = _label_from_userinfo(provider, tokens, http_deadline)
    granted = granted_as_requested(
        authorization.requested_scopes, tokens.scope or [], tokens.refresh_token is not None, tokens.id_token is not None
    )
    # Bound to what it was authorized against (binding.py), after templating.
    authorization = authorization.copy(endpoints=endpoints_of(provider))
    saved = _persist(
        ctx, authorization, tokens, granted, store, credentials.client_id, grant.name, new, account, grant.can_renew(tokens)
    )
    return AuthorizeResult(
        authorization=saved,
        provider=provider,
        missing_scopes=[s for s in saved.requested_scopes if s not in granted],
        extra_scopes=[s for s in granted if s not in saved.requested_scopes],
    )


def check_someone_can_consent(
    ctx: AppContext, authorization: Authorization, new: bool, open_browser: bool, grant, provider: Provider
) -> None:
    """Fail at once, before a listener or a browser starts, where nobody can
    consent: --no-input (or its variable, or CI without BROWSER); or, for a
    grant that opens a browser here, no terminal to paste into and no browser
    that could start (no display, no BROWSER). Waiting out the timeout there
    helps nobody."""
    reason = ctx.no_input_reason()
    if (
        reason is None and grant.needs.needs_loopback and open_browser and not isatty(ctx.stdin)
        and ctx.open_browser is None and no_browser_here(ctx.environ)
    ):
        reason = "there is no terminal, and no browser can be started (no DISPLAY, WAYLAND_DISPLAY or BROWSER)"
    if reason is None:
        return
    command = _add_command(authorization) if new else hints.command_hint("authorize", authorization)
    hint = f"Run it where a person can open a browser: {command}"
    if DEVICE_GRANT in provider.grants and grant.name != DEVICE_GRANT:
        hint += f" (or add --device to enter a code on another device: {command} --device)"
    raise UsageError(
        f"a person must consent in a browser to authorize {quoted(authorization.name)}, and nobody can here: "
        f"{reason}; nothing was started or saved",
        hint=hint,
    )


def _add_command(authorization: Authorization) -> str:
    """The `add` command that makes this authorization, ready to paste."""
    words = [hints.command_hint("add", authorization), "-p", shlex.quote(authorization.provider)]
    for cid in authorization.connectors:
        words += ["-c", shlex.quote(cid)]
    for key, value in (authorization.parameters or {}).items():
        words += ["--param", shlex.quote(f"{key}={value}")]
    return " ".join(words)


def step_up_params(provider: Provider, authorization: Authorization) -> dict[str, str]:
    """The registry's incremental_consent_params, when this consent only adds
    scopes to a grant the authorization has (connectors were added): the
    provider then keeps the scopes granted before. Not when scopes were given
    up (connectors removed): the new grant should leave them out."""
    if not provider.incremental_consent_params or not authorization.is_authorized:
        return {}
    granted = set(authorization.granted_scopes or ())
    wanted = set(authorization.requested_scopes)
    if granted <= wanted and not wanted <= granted:
        return dict(provider.incremental_consent_params)
    return {}


def check_storage(ctx: AppContext, storage: str | None, authorization: Authorization | None = None,
                  name: str | None = None):
    """The store the tokens will go to, usable, and the index writable: checked
    before any prompt or browser, so no consent is given for tokens that cannot be kept.

    `storage` names one of secret_store.BACKENDS; None keeps the one `authorization`
    recorded (the choice made at add wins over defaults later), else the keyring.
    For Vault, the name (`authorization`'s, or `name` for a new one) must be
    free among the team's shared authorizations too.
    """
    if storage is None and authorization is not None and authorization.storage:
        store = store_of(ctx, authorization)
    else:
        store = ctx.secret_store(storage or STORAGE_KEYRING)
    store.check_usable()
    if store.kind == STORAGE_VAULT:
        if authorization is not None:
            store.index.check_name(authorization.name, authorization.id)
        elif name is not None:
            store.index.check_name(name)
    ctx.index.check_writable()
    return store


def grant_needs(
    provider: Provider, authorization: Authorization | None, requested_grant: str | None, open_browser: bool = True, environ=None
) -> tuple[str, bool]:
    """The grant the flow will use, and whether it needs the client secret
    whatever the provider's client_auth (checked before any prompt)."""
    previous = authorization or SimpleNamespace(grant=None)  # a new one: the provider's default grant
    chosen, _ = grant_for_run(provider, previous, requested_grant, open_browser, {} if environ is None else environ)
    return chosen, grants.get(chosen).needs_secret(provider)


NO_BROWSER_SIGNS = "DISPLAY, WAYLAND_DISPLAY and BROWSER"


def grant_for_run(
    provider: Provider, authorization: Authorization, requested: str | None, open_browser: bool, environ, platform: str | None = None
) -> tuple[str, bool]:
    """The grant this run uses, and whether it is the device flow offered because
    there is no browser here (the caller says so). One place for that rule: the
    secret check before the first prompt and the flow itself both ask it."""
    chosen = choose_grant(provider, authorization, requested)
    if offers_device_flow(provider, chosen, requested, open_browser, environ, platform):
        return DEVICE_GRANT, True
    return chosen, False


def no_browser_here(environ, platform: str | None = None) -> bool:
    """Whether this machine can open no browser: on Linux and the BSDs, no
    display (X11, Wayland) and no BROWSER; an SSH session is the usual case.
    macOS and Windows always have one: False there."""
    platform = sys.platform if platform is None else platform
    if platform.startswith(("win", "darwin", "cygwin")):
        return False
    return not any(environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER"))


def offers_device_flow(
    provider: Provider, chosen: str, requested: str | None, open_browser: bool, environ, platform: str | None = None
) -> bool:
    """Whether to use the device flow instead of `chosen`, the grant that would
    run: only when no grant was asked for, the one chosen needs a browser on
    this machine, there is none, and the provider allows the device flow.
    --no-browser keeps the loopback flow (the URL opened elsewhere, the redirect pasted)."""
    if requested is not None or not open_browser or DEVICE_GRANT not in provider.grants:
        return False
    return grants.get(chosen).needs.needs_loopback and no_browser_here(environ, platform)


def choose_grant(provider: Provider, authorization: Authorization, requested: str | None) -> str:
    """The grant asked for, else the one the authorization used before, else the provider's default."""
    if requested is not None:
        if requested not in provider.grants:
            raise UsageError(
                f"{provider.name} does not allow the {requested} grant",
                hint=f"It allows: {', '.join(provider.grants)}.",
            )
        return requested
    # The device flow is chosen per run (--device, or no browser here: see
    # offers_device_flow), not per authorization: on a desktop, authorize again in the browser.
    if authorization.grant in provider.grants and authorization.grant != DEVICE_GRANT:
        return authorization.grant
    return provider.default_grant


def _account_from_userinfo(provider: Provider, tokens: TokenSet, ui: FlowUI, deadline: float) -> str | None:
    """The account the registry says to read from userinfo_url (Fakturoid's slug), best effort."""
    if not provider.account_field or not provider.userinfo_url:
        return None

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


def _open_browser(ctx: AppContext, url: str) -> bool:
    if ctx.open_browser is not None:
        return ctx.open_browser(url)

    return open_url(url, ctx.environ)  # without our secrets in its environment


def _persist(
    ctx: AppContext,
    authorization: Authorization,
    tokens: TokenSet,
    granted: list[str],
    store,
    client_id: str,
    grant: str,
    new: bool,
    account: str | None = None,
    renewable: bool | None = None,
) -> Authorization:

    now = to_iso(ctx.clock())
    storage, locator = store.kind, store.locator()
    # keyring_backend: what versions before `locator` read.
    backend = locator if storage == STORAGE_KEYRING else None
    previous = None  # the store of tokens this authorization leaves behind
    with ctx.index.transaction() as authorizations:
        if new:
            lookup.check_unique(authorizations, authorization.name)
            entry = authorization.copy(status=NOT_AUTHORIZED, storage=storage, keyring_backend=backend, locator=locator, updated_at=now)
            authorizations.append(entry)
        else:
            entry = lookup.find_in(authorizations, authorization.id)
            # Only across kinds (file <-> keyring): once keyring has picked a backend
            # in this process, an old backend name resolves to that same backend, and
            # deleting "the old tokens" would delete the ones just saved.
            if entry.storage and entry.storage != storage:
                previous = store_of(ctx, entry)
            entry.status, entry.storage, entry.updated_at = NOT_AUTHORIZED, storage, now
            entry.keyring_backend, entry.locator = backend, locator
            if entry.connectors == authorization.connectors:
                # Not over a `connectors add`/`remove` made while the user consented:
                # its connectors and scopes stay together (and the grant may lack some).
                entry.requested_scopes = authorization.requested_scopes
            entry.parameters = authorization.parameters
    with tokens_lock(ctx, authorization), store.lock(authorization.id):
        ChunkedTokens(store).save(authorization.id, tokens)
        with ctx.index.transaction() as authorizations:
            try:
                entry = lookup.find_in(authorizations, authorization.id)
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
            entry.grant = grant
            entry.renewable = renewable
            entry.refreshed_at = entry.refresh_rejected_at = entry.rejected_at = None  # a new grant
            entry.account = account  # who signed in this time; an earlier label may be another user
            saved = entry.copy()
        store.record(saved)
    if previous is not None:
        ChunkedTokens(previous).delete(authorization.id)
    return saved


def _label_from_userinfo(provider: Provider, tokens: TokenSet, deadline: float) -> str | None:
    """Who signed in, from the provider's userinfo answer (OIDC claims), best effort and silent."""
    if not provider.userinfo_url or provider.account_field:
        return None

    try:
        return _human_label(fetch_userinfo(provider, tokens.access_token, deadline))
    except IntegrayAuthError:
        return None


def _human_label(claims: dict) -> str | None:
    """An e-mail or a user name a person recognises; never the bare `sub`, an
    opaque number ("Account: 1") that says nothing about who signed in."""
    for claim in ("email", "preferred_username", "name"):
        value = claims.get(claim)
        if isinstance(value, str) and value.strip() and len(value) <= 200:
            return value.strip()
    return None


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
    return _human_label(claims)

