"""MCP authorization discovery (oauth/mcp_discovery.py) and dynamic registration
(oauth/registration.py), against a stub HTTP server on loopback that answers what each
test says: the specification's order of well-known URLs, the resource and issuer checks,
PKCE refused without S256, scope selection, and hostile answers."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from integray_auth.errors import AuthorizationFailed, NetworkError, UsageError
from integray_auth.oauth import mcp_discovery as md
from integray_auth.oauth.registration import register


class Stub:
    """path -> (status, headers, body) for GET and POST; records every request."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], tuple[int, dict, bytes]] = {}
        self.requests: list[tuple[str, str, bytes]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                stub.requests.append((method, self.path, body))
                status, headers, content = stub.routes.get((method, self.path), (404, {}, b"not found"))
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def do_GET(self) -> None:  # noqa: N802
                self._answer("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._answer("POST")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def json(self, method: str, path: str, document, status: int = 200, headers: dict | None = None) -> None:
        self.routes[(method, path)] = (status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(document).encode())

    def paths(self, method: str = "GET") -> list[str]:
        return [path for m, path, _ in self.requests if m == method]


@pytest.fixture
def stub():
    server = Stub()
    yield server
    server.server.shutdown()


def metadata(issuer: str, **extra) -> dict:
    return {
        "issuer": issuer, "authorization_endpoint": f"{issuer}/authorize", "token_endpoint": f"{issuer}/token",
        "registration_endpoint": f"{issuer}/register", "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"], **extra,
    }


def challenge_header(stub: Stub, scope: str | None = None, metadata_path: str | None = "/.well-known/oauth-protected-resource/mcp") -> dict:
    parts = ["Bearer"]
    if metadata_path:
        parts.append(f'resource_metadata="{stub.base}{metadata_path}"')
    if scope:
        parts.append(f'scope="{scope}"')
    return {"WWW-Authenticate": " ".join(parts[:1]) + " " + ", ".join(parts[1:])}


def test_challenge_parameters_quoted_or_not_and_other_schemes():
    c = md.parse_challenge(401, 'Basic realm="x", Bearer error="insufficient_scope", scope="a b", resource_metadata="https://r.example/m"')
    assert (c.error, c.scopes, c.resource_metadata) == ("insufficient_scope", ("a", "b"), "https://r.example/m")
    c = md.parse_challenge(401, 'Bearer scope=read, error=invalid_token, Basic realm="other"')
    assert (c.scopes, c.error) == (("read",), "invalid_token")
    c = md.parse_challenge(401, r'Bearer scope="a\"b c"')
    assert c.scopes == ("c",)  # a quote is no scope character (RFC 6749 §3.3): dropped
    assert md.parse_challenge(401, None) == md.Challenge(401)
    assert md.parse_challenge(401, 'Bearer resource_metadata="javascript:alert(1)"').resource_metadata is None
    assert md.parse_challenge(401, "Bearer").scopes is None


def test_the_specifications_order_of_well_known_urls():
    assert md.protected_resource_urls("https://m.example/v1/mcp", None) == [
        "https://m.example/.well-known/oauth-protected-resource/v1/mcp", "https://m.example/.well-known/oauth-protected-resource",
    ]
    named = md.Challenge(401, "https://m.example/custom.json")
    assert md.protected_resource_urls("https://m.example/mcp", named) == ["https://m.example/custom.json"]
    assert md.authorization_server_urls("https://as.example/tenant1") == [
        "https://as.example/.well-known/oauth-authorization-server/tenant1",
        "https://as.example/.well-known/openid-configuration/tenant1",
        "https://as.example/tenant1/.well-known/openid-configuration",
    ]
    assert md.authorization_server_urls("https://as.example") == [
        "https://as.example/.well-known/oauth-authorization-server", "https://as.example/.well-known/openid-configuration",
    ]


@pytest.mark.parametrize("resource, url, matches", [
    ("https://m.example/mcp", "https://m.example/mcp", True),
    ("https://m.example", "https://m.example/mcp", True),
    ("https://m.example/", "https://m.example/mcp", True),
    ("https://M.example/mcp", "https://m.example/mcp", True),
    ("https://m.example/mc", "https://m.example/mcp", False),
    ("https://m.example/mcp/deeper", "https://m.example/mcp", False),
    ("https://evil.example/mcp", "https://m.example/mcp", False),
    ("https://m.example:8443/mcp", "https://m.example/mcp", False),
    ("http://m.example/mcp", "https://m.example/mcp", False),
    ("https://m.example/mcp#x", "https://m.example/mcp", False),
])
def test_a_resource_covers_its_own_url_and_paths_below_it(resource, url, matches):
    assert md.resource_matches(resource, url) is matches


def test_discovery_from_the_challenge_asks_nothing_else(stub):
    stub.json("POST", "/mcp", {"error": "invalid_token"}, 401, challenge_header(stub, scope="notes:read"))
    stub.json("GET", "/.well-known/oauth-protected-resource/mcp", {"resource": f"{stub.base}/mcp", "authorization_servers": [f"{stub.base}/as"], "scopes_supported": ["x"]})
    stub.json("GET", "/.well-known/oauth-authorization-server/as", metadata(f"{stub.base}/as", scopes_supported=["notes:read", "offline_access"]))
    found = md.discover_server(f"{stub.base}/mcp", 10)
    assert found.issuer == f"{stub.base}/as" and found.resource == f"{stub.base}/mcp"
    assert found.scopes == ("notes:read", "offline_access")  # the challenge's, and a refresh token where listed
    assert found.endpoints["token_url"] == f"{stub.base}/as/token"
    assert stub.paths() == ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-authorization-server/as"]


def test_no_offline_access_where_the_server_does_not_list_it(stub):
    stub.json("POST", "/mcp", {}, 401, challenge_header(stub, metadata_path=None))
    stub.json("GET", "/.well-known/oauth-protected-resource/mcp", {"resource": f"{stub.base}/mcp", "authorization_servers": [stub.base], "scopes_supported": ["a", "offline_access"]})
    stub.json("GET", "/.well-known/oauth-authorization-server", metadata(stub.base, scopes_supported=["a"]))
    assert md.discover_server(f"{stub.base}/mcp", 10).scopes == ("a",)


def test_without_scopes_anywhere_none_are_asked(stub):
    stub.json("POST", "/mcp", {}, 401, challenge_header(stub))
    stub.json("GET", "/.well-known/oauth-protected-resource/mcp", {"resource": f"{stub.base}/mcp", "authorization_servers": [stub.base]})
    stub.json("GET", "/.well-known/oauth-authorization-server", metadata(stub.base))
    assert md.discover_server(f"{stub.base}/mcp", 10).scopes == ()


@pytest.mark.parametrize("change, message", [
    ({"code_challenge_methods_supported": None}, "S256"),
    ({"code_challenge_methods_supported": ["plain"]}, "S256"),
    ({"issuer": "https://other.example"}, "names issuer"),
    ({"token_endpoint": "http://203.0.113.9/token"}, "must be https"),
])
def test_authorization_server_metadata_that_may_not_be_used(stub, change, message):
    document = metadata(stub.base)
    for key, value in change.items():
        if value is None:
            document.pop(key)
        else:
            document[key] = value
    stub.json("POST", "/mcp", {}, 401, challenge_header(stub))
    stub.json("GET", "/.well-known/oauth-protected-resource/mcp", {"resource": f"{stub.base}/mcp", "authorization_servers": [stub.base]})
    stub.json("GET", "/.well-known/oauth-authorization-server", document)
    with pytest.raises(NetworkError) as raised:
        md.discover_server(f"{stub.base}/mcp", 10)
    assert message in raised.value.message


def test_metadata_for_another_resource_is_refused(stub):
    stub.json("POST", "/mcp", {}, 401, challenge_header(stub))
    stub.json("GET", "/.well-known/oauth-protected-resource/mcp", {"resource": "https://evil.example/mcp", "authorization_servers": [stub.base]})
    with pytest.raises(NetworkError) as raised:
        md.discover_server(f"{stub.base}/mcp", 10)
    assert "is for 'https://evil.example/mcp'" in raised.value.message
    assert stub.paths() == ["/.well-known/oauth-protected-resource/mcp"]  # no authorization server asked


def test_the_2025_03_26_fallbacks(stub):
    stub.json("POST", "/mcp", {}, 401, {"WWW-Authenticate": 'Bearer error="invalid_token"'})
    found = md.discover_server(f"{stub.base}/mcp", 10)  # no metadata at all: the default endpoints
    assert found.revision == "2025-03-26"
    assert found.endpoints == {"authorization_url": f"{stub.base}/authorize", "token_url": f"{stub.base}/token"}
    assert found.registration_endpoint == f"{stub.base}/register"
    stub.json("GET", "/.well-known/oauth-authorization-server", metadata(f"{stub.base}/oauth"))
    found = md.discover_server(f"{stub.base}/mcp", 10)  # metadata at the origin, an issuer with a path
    assert found.issuer == f"{stub.base}/oauth" and found.endpoints["token_url"] == f"{stub.base}/oauth/token"
    stub.json("GET", "/.well-known/oauth-authorization-server", metadata("https://elsewhere.example"))
    with pytest.raises(NetworkError):
        md.discover_server(f"{stub.base}/mcp", 10)


def test_unreadable_metadata_named_by_the_challenge_stops_discovery(stub):
    stub.json("POST", "/mcp", {}, 401, challenge_header(stub, metadata_path="/custom.json"))
    stub.routes[("GET", "/custom.json")] = (200, {"Content-Type": "text/html"}, b"<html>" * 10)
    with pytest.raises(NetworkError) as raised:
        md.discover_server(f"{stub.base}/mcp", 10)
    assert "/custom.json" in raised.value.message
    assert "/.well-known/oauth-protected-resource" not in " ".join(stub.paths())  # nothing guessed instead


@pytest.mark.parametrize("url", ["ftp://m.example/mcp", "http://m.example/mcp", "https://user:pw@m.example/mcp", "https://m.example/mcp#x", "mcp"])
def test_server_urls_that_are_refused(url):
    with pytest.raises(UsageError) as raised:
        md.canonical_url(url)
    assert "pw" not in raised.value.message


def test_registration_asks_as_a_native_app_and_keeps_what_it_was_given(stub):
    stub.json("POST", "/register", {"client_id": "c-1", "client_secret": "s-1", "token_endpoint_auth_method": "client_secret_basic"}, 201)
    client = register(f"{stub.base}/register", ["http://127.0.0.1/callback"], ("client_secret_basic",), 10)
    assert (client.client_id, client.client_secret, client.auth_method) == ("c-1", "s-1", "client_secret_basic")
    assert "s-1" not in repr(client)
    sent = json.loads(stub.requests[-1][2])
    assert sent["application_type"] == "native" and sent["redirect_uris"] == ["http://127.0.0.1/callback"]
    assert sent["grant_types"] == ["authorization_code", "refresh_token"] and "scope" not in sent
    assert sent["token_endpoint_auth_method"] == "client_secret_basic"


@pytest.mark.parametrize("status, answer, error", [
    (400, {"error": "invalid_redirect_uri", "error_description": "no"}, AuthorizationFailed),
    (201, {"client_secret": "s"}, NetworkError),
    (201, {"client_id": "x" * 600}, NetworkError),
    (201, {"client_id": "a\nb"}, NetworkError),
    (201, ["client_id"], NetworkError),
    (500, "oops", NetworkError),
])
def test_registration_answers_that_are_refused(stub, status, answer, error):
    stub.json("POST", "/register", answer, status)
    with pytest.raises(error):
        register(f"{stub.base}/register", ["http://127.0.0.1/callback"], ("none",), 10)


def _behind_server_a(stub, url: str) -> None:
    """The MCP server at `url` asks for a token (401) from authorization server /a, which
    registers public clients as client-of-a."""
    stub.json("POST", "/mcp", {}, 401, challenge_header(stub))
    stub.json("GET", "/.well-known/oauth-protected-resource/mcp", {"resource": url, "authorization_servers": [f"{stub.base}/a"]})
    stub.json("GET", "/.well-known/oauth-authorization-server/a", metadata(
        f"{stub.base}/a", registration_endpoint=f"{stub.base}/a/register", token_endpoint_auth_methods_supported=["none"]))
    stub.json("POST", "/a/register", {"client_id": "client-of-a"}, 201)


def test_the_registration_is_bound_to_the_issuer(stub, make_ctx, memory_keyring):
    """Adding the same server again reuses its client while the issuer is the same; once the
    server names another authorization server, a new registration, never the old client."""
    from integray_auth.usecases import mcp_servers

    url = f"{stub.base}/mcp"
    _behind_server_a(stub, url)
    ctx = make_ctx()
    first, grant = mcp_servers.prepare(ctx, "One", url)
    assert grant == "authorization_code"
    provider = ctx.registry.get(first.provider)
    assert (provider.client_id, provider.issuer, provider.resource) == ("client-of-a", f"{stub.base}/a", url)
    assert provider.connectors["mcp"].scopes == ()
    mcp_servers.prepare(make_ctx(), "Two", url)
    assert stub.paths("POST").count("/a/register") == 1  # the same issuer: the same client

    stub.json("GET", "/.well-known/oauth-protected-resource/mcp", {"resource": url, "authorization_servers": [f"{stub.base}/b"]})
    stub.json("GET", "/.well-known/oauth-authorization-server/b", metadata(f"{stub.base}/b", registration_endpoint=f"{stub.base}/b/register", token_endpoint_auth_methods_supported=["none"]))
    stub.json("POST", "/b/register", {"client_id": "client-of-b"}, 201)
    ctx = make_ctx()
    third, _ = mcp_servers.prepare(ctx, "Three", url)
    provider = ctx.registry.get(third.provider)
    assert (provider.client_id, provider.issuer) == ("client-of-b", f"{stub.base}/b")
    assert provider.token_url == f"{stub.base}/b/token"


def test_an_issued_secret_goes_to_the_keyring_not_the_overlay(stub, make_ctx, memory_keyring, home):
    from integray_auth.stores.secrets import client_secret_key
    from integray_auth.usecases import mcp_servers

    url = f"{stub.base}/mcp"
    stub.json("POST", "/mcp", {}, 401, challenge_header(stub, scope="notes:read"))
    stub.json("GET", "/.well-known/oauth-protected-resource/mcp", {"resource": url, "authorization_servers": [stub.base]})
    stub.json("GET", "/.well-known/oauth-authorization-server", metadata(stub.base, token_endpoint_auth_methods_supported=["client_secret_post"]))
    stub.json("POST", "/register", {"client_id": "c", "client_secret": "issued-secret-value", "token_endpoint_auth_method": "client_secret_post"}, 201)
    ctx = make_ctx()
    authorization, _ = mcp_servers.prepare(ctx, "Secret", url)
    provider = ctx.registry.get(authorization.provider)
    assert provider.client_auth == "client_secret_post" and provider.connectors["mcp"].scopes == ("notes:read",)
    kept = {username: secret for (_, username), secret in memory_keyring.entries.items()}
    assert kept[client_secret_key(provider.id)] == "issued-secret-value"
    assert "issued-secret-value" not in (home / "providers.toml").read_text()


def test_no_way_to_register_says_what_to_register(stub, make_ctx):
    from integray_auth.usecases import mcp_servers

    url = f"{stub.base}/mcp"
    stub.json("POST", "/mcp", {}, 401, challenge_header(stub))
    stub.json("GET", "/.well-known/oauth-protected-resource/mcp", {"resource": url, "authorization_servers": [stub.base]})
    document = metadata(stub.base)
    document.pop("registration_endpoint")
    stub.json("GET", "/.well-known/oauth-authorization-server", document)
    with pytest.raises(UsageError) as raised:
        mcp_servers.prepare(make_ctx(), "Nothing", url)
    assert "offers no way" in raised.value.message and "http://127.0.0.1/callback" in raised.value.hint
    assert not (make_ctx().paths.user_registry).exists()  # nothing written


def test_add_resource_no_authorize_through_the_installed_command(stub, cli):
    url = f"{stub.base}/mcp"
    stub.json("POST", "/mcp", {}, 401, challenge_header(stub, scope="notes:read"))
    stub.json("GET", "/.well-known/oauth-protected-resource/mcp", {"resource": url, "authorization_servers": [stub.base]})
    stub.json("GET", "/.well-known/oauth-authorization-server", metadata(stub.base, token_endpoint_auth_methods_supported=["none"]))
    stub.json("POST", "/register", {"client_id": "registered-client"}, 201)
    added = cli("add", "Notes", "--resource", url, "--no-authorize")
    assert added.code == 0, added.stderr
    assert added.stderr == "Added 'Notes' (Not authorized). Authorize it with: integray-auth authorize Notes\n"
    shown = cli("show", "Notes", "--json", "provider,connectors,requested_scopes,status").json()["authorization"]
    assert shown["status"] == "not_authorized" and shown["requested_scopes"] == ["notes:read"]
    provider = cli("providers", "show", shown["provider"], "--json").json()["provider"]
    assert (provider["resource"], provider["mcp_url"], provider["issuer"]) == (url, url, stub.base)
    assert provider["pkce"] == "required" and provider["client_auth"] == "none"
    text = cli("providers", "show", shown["provider"], "--no-pager")
    assert f"MCP server:        {url} (resource {url})" in text.stdout


def test_discovering_again_after_a_401_registers_anew_with_a_new_issuer(stub, make_ctx, memory_keyring):
    from integray_auth.usecases import mcp_servers

    url = f"{stub.base}/mcp"
    _behind_server_a(stub, url)
    ctx = make_ctx()
    authorization, _ = mcp_servers.prepare(ctx, "One", url)
    same = mcp_servers.rediscover(ctx, authorization, md.Challenge(401, f"{stub.base}/.well-known/oauth-protected-resource/mcp", ("extra:scope",)))
    assert same.client_id == "client-of-a" and "extra:scope" in same.connectors["mcp"].scopes  # the challenge's scope added
    assert stub.paths("POST").count("/a/register") == 1

    stub.json("GET", "/.well-known/oauth-protected-resource/mcp", {"resource": url, "authorization_servers": [f"{stub.base}/b"]})
    stub.json("GET", "/.well-known/oauth-authorization-server/b", metadata(f"{stub.base}/b", registration_endpoint=f"{stub.base}/b/register", token_endpoint_auth_methods_supported=["none"]))
    stub.json("POST", "/b/register", {"client_id": "client-of-b"}, 201)
    moved = mcp_servers.rediscover(ctx, authorization, None)
    assert (moved.client_id, moved.issuer, moved.token_url) == ("client-of-b", f"{stub.base}/b", f"{stub.base}/b/token")
    assert "extra:scope" in moved.connectors["mcp"].scopes  # what was asked for stays asked for
