"""The registry's data: providers, their connectors, scopes and parameters.

What a checked registry file becomes (`Provider`, `Connector`, `Parameter`,
`Registry`) and the values its fields may take; what ids, names and
placeholders may be is in names.py. Plain data and string work only: `token`
and `list` use these without `re` or `tomllib` (loading.py reads the files,
cache.py the JSON cache).
"""

from __future__ import annotations

from ..errors import RegistryError
from ..grants import CONFIDENTIAL, DEFAULT_GRANT, GRANTS
from ..lean.record import Record
from .names import PARAMETER_VALUE_CHARS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from re import Pattern
    from typing import Any, Mapping

SCHEMA_VERSION = 1
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}

PKCE_MODES = ("required", "supported", "unsupported")
# private_key_jwt: a JWT signed with the client's key (RFC 7523 §2.2), the key
# in the keyring or a 0600 file (usecases/clients.py), never in the registry.
CLIENT_AUTH_METHODS = ("none", "client_secret_post", "client_secret_basic", "private_key_jwt")
# Grants only a client that authenticates itself may use (a confidential client).
CONFIDENTIAL_GRANTS = CONFIDENTIAL  # grants/__init__.py
REDIRECT_HOSTS = ("127.0.0.1", "localhost")
GRANT_NAMES = tuple(GRANTS)
SCOPE_PARAMETERS = ("scope", "user_scope", "none")
# Set by the flow itself; an overlay must not be able to replace state or PKCE.
RESERVED_AUTHORIZATION_PARAMS = frozenset(
    {"response_type", "client_id", "redirect_uri", "scope", "user_scope", "state", "code_challenge", "code_challenge_method"}
)
SCOPE_SEPARATORS = (" ", ",")
# Endpoints that need a client secret whatever the provider's client_auth says
# (Zoom: revocation and device authorization take HTTP Basic even for a public client).
ENDPOINT_AUTH_METHODS = ("client_secret_basic", "client_secret_post")
REFRESH_BEHAVIOURS = ("rotating", "reused", "none", "unconfirmed")  # for the fact table (docs/providers.md)
# How the token, refresh and revocation requests carry their parameters: form (RFC 6749
# §4.1.3) or a JSON object (Notion documents only that one).
TOKEN_REQUEST_ENCODINGS = ("form", "json")
# Set by the token requests themselves; code_exchange_params / refresh_params may not replace them.
RESERVED_TOKEN_PARAMS = frozenset(
    {
        "grant_type", "code", "redirect_uri", "code_verifier", "client_id", "client_secret", "refresh_token", "scope",
        "client_assertion", "client_assertion_type", "device_code",
    }
)
_COMPILED: dict[str, Pattern] = {}  # parameters' own expressions, compiled once

URL_FIELDS = (
    "authorization_url",
    "token_url",
    "revocation_url",
    "device_authorization_url",
    "issuer",
    "userinfo_url",
    # An MCP server's URL (RFC 8707 resource indicator): sent in the authorization
    # request, the code exchange and every refresh; set by `add --resource`.
    "resource",
    "mcp_url",  # the MCP server's endpoint `mcp proxy` connects to (within `resource`)
    "revoke_page_url",
    "docs_url",
    "console_url",
)
# The URLs a provider's parameters may be used in ({tenant}); the last three are for people.
TEMPLATED_FIELDS = URL_FIELDS[:-3]
# What decides where secrets go and how the flow is protected. An overlay that
# changes one of these for a bundled provider is shown by `providers show` and
# warned about on every command that reads the registry.
WATCHED_FIELDS = (
    "authorization_url",
    "token_url",
    "revocation_url",
    "userinfo_url",
    "device_authorization_url",
    "issuer",
    "pkce",
    "grants",
    "iss_parameter",
    "resource",
)


class Connector(Record):
    __slots__ = ("id", "name", "description", "scopes")

    def __init__(self, id: str, name: str, description: str, scopes: tuple[str, ...]) -> None:
        self.id = id
        self.name = name
        self.description = description
        self.scopes = scopes


class ParameterError(ValueError):
    """A template parameter's value is missing, unknown or not allowed."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message


class Parameter(Record):
    """A value an authorization supplies for a provider's URLs ({tenant}, {shop})."""

    __slots__ = ("name", "description", "default", "pattern")

    def __init__(self, name: str, description: str, default: str | None = None, pattern: str | None = None) -> None:
        self.name = name
        self.description = description
        self.default = default
        self.pattern = pattern  # a regular expression the whole value must match

    def problem(self, value: str) -> str | None:
        """Why `value` may not be used, or None."""
        if not isinstance(value, str) or not value:
            return "the value is empty"
        bad = next((ch for ch in value if ch not in PARAMETER_VALUE_CHARS), None)
        if bad is not None:
            return f"{bad!r} is not allowed (only letters, digits, '.', '-', '_' and '~')"
        if len(value) > 253:
            return "the value is longer than 253 characters"
        if ".." in value or value.startswith(".") or value.endswith("."):
            return f"{value!r} is not a host label or path segment"
        if self.pattern is not None and not self._matches(value):
            return f"{value!r} is not a valid value: {self.description}"
        return None

    def _matches(self, value: str) -> bool:
        compiled = _COMPILED.get(self.pattern)
        if compiled is None:
            import re

            try:
                compiled = _COMPILED[self.pattern] = re.compile(self.pattern)
            except re.error as exc:
                # Compiled when the TOML was read; read back from the cache it is compiled
                # here, where it is first used (read): only an edited cache gets here.
                raise RegistryError(
                    f"the registry cache: parameter {self.name!r}: pattern {self.pattern!r} "
                    f"is not a regular expression: {exc}",
                    hint="Delete registry.json in the cache folder, then run the command again.",
                ) from None
        return compiled.fullmatch(value) is not None


class Provider(Record):
    __slots__ = (
        "id",
        "name",
        "authorization_url",
        "token_url",
        "scopes",
        "connectors",
        "revocation_url",
        "device_authorization_url",
        "issuer",
        "userinfo_url",
        "resource",
        "mcp_url",
        "scope_separator",
        "scope_parameter",
        "token_path",
        "token_types",
        "pkce",
        "client_auth",
        "client_secret_required",
        "client_id",
        "authorization_params",
        "incremental_consent_params",
        "refresh_narrows_scope",
        "redirect_host",
        "redirect_ports",
        "redirect_path",
        "iss_parameter",
        "grants",
        "public_grants",
        "docs_url",
        "console_url",
        "revoke_page_url",
        "notes",
        "revocation_auth",
        "device_auth",
        "callback_parameters",
        "account_field",
        "refresh_tokens",
        "parameters",
        "git_username",
        "git_hosts",
        "source",
        "overrides",
        # Issue 20 items 8-10, issue 19 item 4: the token requests, known limits, setup.
        "code_exchange_params",
        "refresh_params",
        "token_request_encoding",
        "code_lifetime",
        "https_redirect_only",
        "device_scopes",
        "limits",
        "client_registration",
        "device_flow_setting",
        "device_needs_own_client",
        "client_id_from_provider",
        "discovery",
        "discovered",
    )

    def __init__(
        self,
        id: str,
        name: str,
        authorization_url: str,
        token_url: str,
        scopes: Mapping[str, str],  # scope -> what it permits
        connectors: Mapping[str, Connector],
        revocation_url: str | None = None,
        device_authorization_url: str | None = None,
        issuer: str | None = None,
        userinfo_url: str | None = None,
        # The RFC 8707 resource (an MCP server's URL) every authorization and token request names.
        resource: str | None = None,
        mcp_url: str | None = None,  # an MCP server's endpoint (mcp proxy), when it is one
        scope_separator: str = " ",
        # Where the scopes go in the authorization request: "scope" (RFC 6749),
        # "user_scope" (Slack user tokens) or "none" (providers without scopes).
        scope_parameter: str = "scope",
        token_path: str | None = None,  # the token response's sub-object holding the tokens (Slack: authed_user)
        token_types: tuple[str, ...] = (),  # token_type values accepted besides Bearer, used like it
        pkce: str = "supported",
        client_auth: str = "none",
        client_secret_required: bool = False,
        client_id: str | None = None,
        authorization_params: Mapping[str, str] | None = None,
        # Added to the consent URL when it extends an existing grant (Google's
        # include_granted_scopes=true): the provider then keeps what was granted.
        incremental_consent_params: Mapping[str, str] | None = None,
        # A refresh with a narrower `scope` narrows the grant itself (RFC 6749 §6),
        # so removing a connector can give back its scopes without a new consent.
        refresh_narrows_scope: bool = False,
        redirect_host: str = "127.0.0.1",
        redirect_ports: tuple[int, ...] = (),
        redirect_path: str = "/callback",
        iss_parameter: bool = False,
        grants: tuple[str, ...] = (DEFAULT_GRANT,),  # the ways to obtain tokens (grants/), the default first
        # Grants the provider runs with a public client although its code exchange
        # needs the client secret (client_secret_required): GitHub's device flow.
        public_grants: tuple[str, ...] = (),
        docs_url: str | None = None,
        console_url: str | None = None,  # where a developer registers the OAuth client ("app")
        # Named when revoking fails (`remove`, `deactivate --revoke`): https, checked like the others.
        revoke_page_url: str | None = None,
        notes: str | None = None,
        # Client authentication the revocation / device endpoint insists on, when it
        # differs from client_auth; a client without a secret cannot use that endpoint.
        revocation_auth: str | None = None,
        device_auth: str | None = None,
        callback_parameters: tuple[str, ...] = (),  # redirect query values kept with the authorization (realmId)
        account_field: str | None = None,  # the userinfo_url answer's field naming the account (Fakturoid: default_account)
        refresh_tokens: str = "unconfirmed",  # "rotating" | "reused" | "none": what a refresh does, as documented
        parameters: Mapping[str, Parameter] | None = None,  # template values its URLs use ({tenant})
        # What `git-credential` answers for (usecases/git_credential.py): the user name the
        # provider's git servers take with an access token as the password, and the git hosts
        # it serves by default (a host may use the parameters: "{host}").
        git_username: str | None = None,
        git_hosts: tuple[str, ...] = (),
        source: str = "",  # the file that defined or last changed this provider
        # For a bundled provider: each WATCHED_FIELDS field an overlay changed ->
        # {"source": the overlay that set it last, "bundled": the bundled value}.
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
        # Extra parameters of the code exchange and of the refresh (Shopify expiring=1, Zendesk expires_in).
        code_exchange_params: Mapping[str, str] | None = None,
        refresh_params: Mapping[str, str] | None = None,
        token_request_encoding: str = "form",  # TOKEN_REQUEST_ENCODINGS
        code_lifetime: int | None = None,  # seconds an authorization code lives, said before the browser opens when short (Box: 30)
        # Only https redirect URIs are accepted (Intercom): no loopback listener can receive the code.
        https_redirect_only: bool = False,
        # The scopes the provider's device flow can grant (Google); None: whatever the provider offers.
        device_scopes: tuple[str, ...] | None = None,
        limits: tuple[str, ...] = (),  # known limits, one line each, for people (providers show, docs)
        client_registration: str | None = None,  # what to register at the console (one line, for people)
        device_flow_setting: str | None = None,  # what to switch on at the console for the device flow
        # The device flow needs another OAuth client than the browser flow (Google: type
        # "TVs and Limited Input devices"), so the automatic switch cannot use the configured one.
        device_needs_own_client: bool = False,
        # The provider assigns the client id (Reservanto): nothing to register in a console.
        client_id_from_provider: bool = False,
        # The issuer publishes its metadata (RFC 8414 / OpenID Connect Discovery): `authorize`
        # reads the endpoints from there, and the authorization is bound to what it returned.
        discovery: bool = False,
        # Not from a registry file: the endpoints discovery returned for one authorization
        # (field -> URL), set by provider_lookup.provider_for and authorize.
        discovered: Mapping[str, str] | None = None,
    ) -> None:
        self.discovery = discovery
        self.discovered = discovered
        self.client_id_from_provider = client_id_from_provider
        self.device_needs_own_client = device_needs_own_client
        self.code_exchange_params = {} if code_exchange_params is None else code_exchange_params
        self.refresh_params = {} if refresh_params is None else refresh_params
        self.token_request_encoding = token_request_encoding
        self.code_lifetime = code_lifetime
        self.https_redirect_only = https_redirect_only
        self.device_scopes = device_scopes
        self.limits = limits
        self.client_registration = client_registration
        self.device_flow_setting = device_flow_setting
        self.id = id
        self.name = name
        self.authorization_url = authorization_url
        self.token_url = token_url
        self.scopes = scopes
        self.connectors = connectors
        self.revocation_url = revocation_url
        self.device_authorization_url = device_authorization_url
        self.issuer = issuer
        self.userinfo_url = userinfo_url
        self.resource = resource
        self.mcp_url = mcp_url
        self.scope_separator = scope_separator
        self.scope_parameter = scope_parameter
        self.token_path = token_path
        self.token_types = token_types
        self.pkce = pkce
        self.client_auth = client_auth
        self.client_secret_required = client_secret_required
        self.client_id = client_id
        self.authorization_params = {} if authorization_params is None else authorization_params
        self.incremental_consent_params = {} if incremental_consent_params is None else incremental_consent_params
        self.refresh_narrows_scope = refresh_narrows_scope
        self.redirect_host = redirect_host
        self.redirect_ports = redirect_ports
        self.redirect_path = redirect_path
        self.iss_parameter = iss_parameter
        self.grants = grants
        self.public_grants = public_grants
        self.docs_url = docs_url
        self.console_url = console_url
        self.revoke_page_url = revoke_page_url
        self.notes = notes
        self.revocation_auth = revocation_auth
        self.device_auth = device_auth
        self.callback_parameters = callback_parameters
        self.account_field = account_field
        self.refresh_tokens = refresh_tokens
        self.parameters = {} if parameters is None else parameters
        self.git_username = git_username
        self.git_hosts = tuple(git_hosts)  # a list as read from the file
        self.source = source
        self.overrides = {} if overrides is None else overrides

    @property
    def revocation_needs_secret(self) -> bool:
        method = self.revocation_auth or self.client_auth
        return method in ENDPOINT_AUTH_METHODS

    def parameter_values(self, given: Mapping[str, str]) -> dict[str, str]:
        """Every declared parameter's value: given, else its default.

        Raises ParameterError (a ValueError) naming the parameter for an unknown
        name, a missing value without a default, or a value that is not allowed.
        """
        for name in given:
            if name not in self.parameters:
                known = ", ".join(self.parameters) or "none"
                raise ParameterError(name, f"provider '{self.id}' has no parameter '{name}' (its parameters: {known})")
        values = {}
        for name, parameter in self.parameters.items():
            value = given.get(name, parameter.default)
            if value is None:
                raise ParameterError(name, f"provider '{self.id}' needs a value for parameter '{name}' ({parameter.description})")
            problem = parameter.problem(value)
            if problem:
                raise ParameterError(name, f"parameter '{name}' of provider '{self.id}': {problem}")
            values[name] = value
        return values

    def with_parameters(self, given: Mapping[str, str]) -> "Provider":
        """This provider with its URLs filled in for one authorization's values.

        Stdlib string work only: `token` renders the token URL on its fast path.
        Anything derived from a URL (its origin, say) must be taken from the result.
        """
        if not self.parameters:
            return self
        values = self.parameter_values(given)
        changes = {}
        for field in TEMPLATED_FIELDS:
            url = getattr(self, field)
            if url and "{" in url:
                for name, value in values.items():
                    url = url.replace("{" + name + "}", value)
                changes[field] = url
        return self.copy(**changes)

    def device_flow_refuses(self, scopes) -> list[str]:
        """The scopes of `scopes` the provider's device flow cannot grant (device_scopes)."""
        if self.device_scopes is None:
            return []
        return [scope for scope in scopes if scope not in self.device_scopes]

    @property
    def default_grant(self) -> str:
        return self.grants[0]

    def connector(self, connector_id: str) -> Connector | None:
        return self.connectors.get(connector_id)

    def scopes_for(self, connector_ids: list[str]) -> list[str]:
        """The union of the connectors' scopes, in first-seen order."""
        seen: dict[str, None] = {}
        for cid in connector_ids:
            for scope in self.connectors[cid].scopes:
                seen.setdefault(scope, None)
        return list(seen)

    def git_hosts_for(self, given: Mapping[str, str]) -> list[str]:
        """The git hosts it serves, with one authorization's parameter values filled in."""
        values = self.parameter_values(given) if self.parameters else {}
        hosts = []
        for host in self.git_hosts:
            for name, value in values.items():
                host = host.replace("{" + name + "}", value)
            hosts.append(host.lower())
        return hosts


class Registry(Record):
    __slots__ = ("providers", "sources")

    def override_warnings(self) -> list[str]:
        """One line per overlay and bundled provider whose watched fields it changes."""
        lines = []
        for provider in self.providers.values():
            by_source: dict[str, list[str]] = {}
            for field, fact in provider.overrides.items():
                by_source.setdefault(fact["source"], []).append(field)
            for source, fields in by_source.items():
                lines.append(
                    f"warning: {source} overrides {', '.join(fields)} of the bundled provider '{provider.id}'; "
                    f"check that it is yours (integray-auth providers show {provider.id})"
                )
        return lines

    def __init__(self, providers: Mapping[str, Provider], sources: tuple[str, ...]) -> None:
        self.providers = providers
        self.sources = sources

    def get(self, provider_id: str) -> Provider | None:
        return self.providers.get(provider_id)
