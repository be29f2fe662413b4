"""`providers add --issuer` and `providers connector add`: the metadata checks,
the overlay edits, the RFC 9207 iss decision, and hostile discovery servers
(through the installed command, against loopback stand-ins)."""

from __future__ import annotations

import json
import socket
import time
import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integray_auth.errors import NetworkError, UsageError
from integray_auth.oauth.discovery import check_document, check_issuer_argument, well_known_urls
from integray_auth.oauth.issuer import iss_problem, issuer_check
from integray_auth.oauth.loopback import LoopbackServer
from integray_auth.registry import overlay as toml_text
from tests.support.cli import assert_error_line
from tests.support.stand_in import QuietHandler, serve

RFC8414 = "/.well-known/oauth-authorization-server"
OIDC = "/.well-known/openid-configuration"


# --- where the metadata is ------------------------------------------------------------------


def test_well_known_urls_per_rfc_8414_and_openid_connect():
    assert well_known_urls("https://as.example") == [
        "https://as.example/.well-known/oauth-authorization-server",
        "https://as.example/.well-known/openid-configuration",
    ]
    # RFC 8414 §3.1: between host and path; OIDC: appended to the issuer.
    assert well_known_urls("https://as.example/tenant/v2/") == [
        "https://as.example/.well-known/oauth-authorization-server/tenant/v2",
        "https://as.example/tenant/v2/.well-known/openid-configuration",
    ]


@pytest.mark.parametrize(
    "issuer",
    ["http://as.example", "https://user:pw@as.example", "https://as.example/?q=1", "https://as.example/#f",
     "ftp://as.example", "https://", "https://as.example/a b", "not a url"],
)
def test_issuer_argument_must_be_an_https_url_without_query_fragment_or_userinfo(issuer):
    with pytest.raises(UsageError):
        check_issuer_argument(issuer)


def test_loopback_issuer_may_be_http():
    assert check_issuer_argument("http://127.0.0.1:8000") == "http://127.0.0.1:8000"


# --- what of the document is trusted ----------------------------------------------------------

ISSUER = "https://as.example"


def _doc(**changes):
    doc = {
        "issuer": ISSUER,
        "authorization_endpoint": ISSUER + "/authorize",
        "token_endpoint": ISSUER + "/token",
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "orders:read"],
    }
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not None}


def test_a_good_document_becomes_registry_fields():
    found = check_document(
        _doc(revocation_endpoint=ISSUER + "/revoke", device_authorization_endpoint=ISSUER + "/device",
             userinfo_endpoint="https://api.as.example/me", authorization_response_iss_parameter_supported=True),
        ISSUER, ISSUER + RFC8414,
    )
    assert found.endpoints == {
        "authorization_url": ISSUER + "/authorize",
        "token_url": ISSUER + "/token",
        "revocation_url": ISSUER + "/revoke",
        "device_authorization_url": ISSUER + "/device",
        "userinfo_url": "https://api.as.example/me",
    }
    assert found.pkce == "required" and found.pkce_note is None
    assert found.iss_parameter is True
    assert found.scopes == ["openid", "orders:read"]


def test_pkce_from_code_challenge_methods_supported():
    absent = check_document(_doc(code_challenge_methods_supported=None), ISSUER, "u")
    assert absent.pkce == "supported" and "does not list" in absent.pkce_note
    plain_only = check_document(_doc(code_challenge_methods_supported=["plain"]), ISSUER, "u")
    assert plain_only.pkce == "unsupported" and "S256" in plain_only.pkce_note


@pytest.mark.parametrize(
    "changes, fragment",
    [
        ({"issuer": "https://evil.example"}, "names issuer 'https://evil.example'"),
        ({"issuer": ISSUER + "/"}, "names issuer"),  # exactly equal, no normalising (RFC 8414 §3.3)
        ({"issuer": None}, "has no issuer"),
        ({"issuer": ["https://as.example"]}, "of type list"),
        ({"token_endpoint": None}, "has no token_endpoint"),
        ({"token_endpoint": "http://as.example/token"}, "token_endpoint"),
        ({"token_endpoint": "http://127.0.0.1/token"}, "not a local server"),  # https issuer, loopback http endpoint
        ({"authorization_endpoint": "https://u:p@as.example/a"}, "user name or password"),
        ({"authorization_endpoint": "https://as.example/a#frag"}, "fragment"),
        ({"authorization_endpoint": 5}, "not a string"),
        ({"token_endpoint": "https://as.example/\x1b[31m"}, "control"),
        ({"scopes_supported": ["ok", "bad scope"]}, "not a scope"),
        ({"scopes_supported": "openid"}, "scopes_supported"),
        ({"authorization_response_iss_parameter_supported": "yes"}, "true or false"),
        ({"response_types_supported": ["token"]}, "authorization code flow"),
        ({"code_challenge_methods_supported": "S256"}, "code_challenge_methods_supported"),
    ],
)
def test_bad_documents_are_refused(changes, fragment):
    with pytest.raises(NetworkError) as caught:
        check_document(_doc(**changes), ISSUER, "u")
    assert fragment in caught.value.message
    assert "\x1b" not in caught.value.message and "u:p" not in caught.value.message


# --- RFC 9207: the callback's iss ---------------------------------------------------------------


@pytest.mark.parametrize(
    "iss, issuer, required, ok",
    [
        (None, None, False, True),  # no issuer known: nothing to compare
        ("https://any.example", None, False, True),
        (None, ISSUER, False, True),  # not declared: may be missing
        (None, ISSUER, True, False),  # declared: must be there (§2.4)
        (ISSUER, ISSUER, True, True),
        (ISSUER, ISSUER, False, True),
        ("https://evil.example", ISSUER, False, False),  # wrong even when not declared
        ("https://evil.example", ISSUER, True, False),
        (ISSUER + "/", ISSUER, False, False),
    ],
)
def test_iss_problem(iss, issuer, required, ok):
    assert (iss_problem(iss, issuer, required) is None) is ok


class _P:
    def __init__(self, issuer, iss_parameter=False, parameters=None):
        self.issuer, self.iss_parameter, self.parameters = issuer, iss_parameter, parameters or {}


def test_issuer_check_for_declared_undeclared_and_templated_issuers():
    assert issuer_check(_P(ISSUER, True)) == {"expected_issuer": ISSUER, "issuer_required": True}
    assert issuer_check(_P(ISSUER)) == {"expected_issuer": ISSUER, "issuer_required": False}
    assert issuer_check(_P(None)) == {"expected_issuer": None, "issuer_required": False}
    # Microsoft's {tenant}: the registry's issuer is a discovery base, not the iss sent.
    assert issuer_check(_P("https://login.example/common/v2.0", parameters={"tenant": object()}))["expected_issuer"] is None


def test_listener_refuses_a_wrong_iss_even_when_not_declared():
    with LoopbackServer("127.0.0.1", "/callback", state="s", expected_issuer=ISSUER, issuer_required=False) as server:
        base = f"http://127.0.0.1:{server.port}/callback?"
        assert "iss" in server.offer(base + "code=c&state=s&iss=https%3A%2F%2Fevil.example")
        assert server.offer(base + "code=c&state=s") is None  # missing is fine: not declared
        assert server.wait(1).params == {"code": "c", "state": "s"}


# --- the overlay as text ------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(st.text())
def test_toml_strings_round_trip(text):
    assert tomllib.loads(f"k = {toml_text.string(text)}\n")["k"] == text


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=1))
def test_toml_keys_round_trip(name):
    assert tomllib.loads(f"{toml_text.key(name)} = 1\n") == {name: 1}


USER_FILE = """# my overlay, keep this comment
schema_version = 1

[providers.mine]   # trailing comment
name = "Mine"
authorization_url = "https://mine.example/a"
token_url = "https://mine.example/t"

# comment about x, above it
[providers."x"]
name = "X"
authorization_url = "https://x.example/a"
token_url = "https://x.example/t"

[providers.x.scopes]
a = "A"

# about mine's connectors
[providers.mine.scopes]
s = "S"
"""


def test_replace_tables_keeps_everything_else_verbatim():
    block = toml_text.table(("providers", "x"), {"name": "New X", "authorization_url": "https://x.example/a",
                                                  "token_url": "https://x.example/t"})
    result = toml_text.replace_tables(USER_FILE, ("providers", "x"), block)
    parsed = tomllib.loads(result)
    assert parsed["providers"]["x"] == {"name": "New X", "authorization_url": "https://x.example/a", "token_url": "https://x.example/t"}
    assert parsed["providers"]["mine"] == tomllib.loads(USER_FILE)["providers"]["mine"]
    assert "# my overlay, keep this comment" in result and "# about mine's connectors" in result
    assert "[providers.mine]   # trailing comment" in result
    assert "comment about x" not in result  # it was about the replaced table
    appended = toml_text.replace_tables(USER_FILE, ("providers", "new"), "[providers.new]\nname = \"N\"\n")
    assert appended.startswith(USER_FILE) and tomllib.loads(appended)["providers"]["new"] == {"name": "N"}


def test_add_keys_goes_into_the_existing_table_or_a_new_one():
    result = toml_text.add_keys(USER_FILE, ("providers", "x", "scopes"), {"b:c": ""})
    assert tomllib.loads(result)["providers"]["x"]["scopes"] == {"a": "A", "b:c": ""}
    assert result.index('"b:c" = ""') < result.index("# about mine's connectors")
    fresh = toml_text.add_keys("", ("providers", "y", "scopes"), {"z": ""})
    assert tomllib.loads(fresh) == {"providers": {"y": {"scopes": {"z": ""}}}}


# --- through the installed command --------------------------------------------------------------


class Discovery:
    """A loopback discovery server: `routes` maps a path to (status, body or callable)."""

    def __init__(self) -> None:
        self.routes: dict[str, object] = {}
        self.sent = 0
        outer = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self):  # noqa: N802
                route = outer.routes.get(self.path)
                if route is None:
                    self.send_json(404, {"error": "not_found"})
                elif callable(route):
                    route(self, outer)
                else:
                    status, body = route
                    self.send_json(status, body)

        self.server, self.base = serve(Handler)

    def document(self, **changes) -> dict:
        doc = {
            "issuer": self.base,
            "authorization_endpoint": self.base + "/authorize",
            "token_endpoint": self.base + "/token",
            "userinfo_endpoint": self.base + "/userinfo",
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid", "read"],
        }
        doc.update(changes)
        return doc


@pytest.fixture
def discovery():
    stand_in = Discovery()
    yield stand_in
    stand_in.server.shutdown()
    stand_in.server.server_close()


def _assert_nothing_written(home, before: str | None = None):
    overlay = home / "providers.toml"
    if before is None:
        assert not overlay.exists()
    else:
        assert overlay.read_text() == before
    assert not [p for p in home.glob(".providers.toml.*.check.toml")]


def test_fallback_to_openid_configuration(cli, home, discovery):
    discovery.routes[OIDC] = (200, discovery.document())
    result = cli("providers", "add", "acme", "--issuer", discovery.base, "--name", "ACME")
    assert result.code == 0, result.stderr
    assert OIDC in result.stderr
    entry = tomllib.loads((home / "providers.toml").read_text())["providers"]["acme"]
    assert entry["userinfo_url"] == discovery.base + "/userinfo" and entry["name"] == "ACME"
    assert "iss_parameter" not in entry


def test_issuer_that_differs_exits_11_and_writes_nothing(cli, home, discovery):
    discovery.routes[RFC8414] = (200, discovery.document(issuer="https://evil.example"))
    discovery.routes[OIDC] = (200, discovery.document())  # not consulted: the first document is the server's word
    result = cli("providers", "add", "acme", "--issuer", discovery.base)
    assert_error_line(result, 11, "names issuer 'https://evil.example'", "--issuer https://evil.example")
    assert "unexpected error" not in result.stderr
    _assert_nothing_written(home)


def test_not_json_exits_11(cli, home, discovery):
    discovery.routes[RFC8414] = (200, "<html>hello</html>")
    discovery.routes[OIDC] = (500, "oops")
    result = cli("providers", "add", "acme", "--issuer", discovery.base)
    assert_error_line(result, 11, "not JSON", "HTTP 500")
    _assert_nothing_written(home)


def test_deeply_nested_json_exits_11(cli, home, discovery):
    discovery.routes[RFC8414] = (200, "[" * 200_000)
    nested = json.dumps(discovery.document())[:-1] + ', "x": ' + "[" * 50_000 + "]" * 50_000 + "}"
    discovery.routes[OIDC] = (200, nested)
    result = cli("providers", "add", "acme", "--issuer", discovery.base)
    assert_error_line(result, 11, "nested too deeply")
    _assert_nothing_written(home)


def _huge(handler, outer, announce: bool):
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    if announce:
        handler.send_header("Content-Length", str(40 * 1024 * 1024))
    handler.end_headers()
    chunk = b" " * 65536
    try:
        for _ in range(40 * 16):  # 40 MB
            handler.wfile.write(chunk)
            outer.sent += len(chunk)
    except OSError:
        pass  # the client hung up: what the test wants


@pytest.mark.parametrize("announce", [True, False], ids=["content-length", "no-length"])
def test_huge_document_is_cut_off_without_reading_it_all(cli, home, discovery, announce):
    discovery.routes[RFC8414] = lambda h, o: _huge(h, o, announce)
    started = time.monotonic()
    result = cli("providers", "add", "acme", "--issuer", discovery.base)
    assert_error_line(result, 11, "larger than 256 KB")
    assert time.monotonic() - started < 20
    time.sleep(0.3)
    assert discovery.sent < 20 * 1024 * 1024  # far from the 40 MB the server meant to send
    _assert_nothing_written(home)


@pytest.mark.parametrize("field", ["authorization_endpoint", "token_endpoint", "revocation_endpoint", "userinfo_endpoint"])
def test_endpoint_on_plain_http_elsewhere_exits_11(cli, home, discovery, field):
    discovery.routes[RFC8414] = (200, discovery.document(**{field: "http://as.example/x"}))
    result = cli("providers", "add", "acme", "--issuer", discovery.base)
    assert_error_line(result, 11, field, "https://")
    _assert_nothing_written(home)


def _trickle(handler, outer):
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.end_headers()
    try:
        for byte in json.dumps(outer.document()).encode():
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            time.sleep(0.2)
    except OSError:
        pass


def test_trickling_server_hits_the_overall_deadline(cli, home, discovery):
    discovery.routes[RFC8414] = _trickle
    started = time.monotonic()
    result = cli("providers", "add", "acme", "--issuer", discovery.base, env={"INTEGRAY_AUTH_HTTP_TIMEOUT": "2"}, timeout=30)
    elapsed = time.monotonic() - started
    assert_error_line(result, 11, "within 2 seconds")
    assert elapsed < 8, elapsed
    _assert_nothing_written(home)


def test_unreachable_issuer_exits_11(cli, home):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nobody listens there
    result = cli("providers", "add", "acme", "--issuer", f"http://127.0.0.1:{port}")
    assert_error_line(result, 11, "cannot connect")
    _assert_nothing_written(home)


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["acme", "--issuer", "http://login.acme.example"], "must be https://"),
        (["acme", "--issuer", "https://login.acme.example?x=1"], "query or fragment"),
        (["acme", "--issuer", "https://u:p@login.acme.example"], "user name or password"),
        (["Bad_Id", "--issuer", "https://login.acme.example"], "is not a provider id"),
        (["acme", "--issuer", "https://login.acme.example", "--name", "a\x1bb"], "--name"),
    ],
)
def test_bad_arguments_exit_2_before_any_network(cli, home, args, fragment):
    result = cli("providers", "add", *args)
    line = assert_error_line(result, 2, fragment)
    assert "\x1b" not in line and "u:p" not in line
    _assert_nothing_written(home)


def test_bundled_provider_id_exits_6_even_with_force(cli, home, discovery):
    discovery.routes[RFC8414] = (200, discovery.document())
    result = cli("providers", "add", "google", "--issuer", discovery.base, "--force")
    assert_error_line(result, 6, "bundled provider")
    _assert_nothing_written(home)


def test_existing_overlay_provider_exits_6_unless_force_and_the_rest_of_the_file_stays(cli, home, discovery):
    discovery.routes[RFC8414] = (200, discovery.document())
    (home).mkdir(exist_ok=True)
    overlay = home / "providers.toml"
    overlay.write_text(USER_FILE.replace('[providers."x"]', "[providers.acme]").replace("providers.x.scopes", "providers.acme.scopes"))
    before = overlay.read_text()
    result = cli("providers", "add", "acme", "--issuer", discovery.base)
    assert_error_line(result, 6, "already", "--force")
    _assert_nothing_written(home, before)

    forced = cli("providers", "add", "acme", "--issuer", discovery.base, "--force")
    assert forced.code == 0, forced.stderr
    after = overlay.read_text()
    assert "# my overlay, keep this comment" in after and "[providers.mine]   # trailing comment" in after
    parsed = tomllib.loads(after)["providers"]
    assert parsed["mine"] == tomllib.loads(before)["providers"]["mine"]
    assert parsed["acme"]["token_url"] == discovery.base + "/token"
    assert parsed["acme"]["scopes"] == {"openid": "", "read": "", "a": "A"}  # the user's scope kept, with its description
    assert overlay.stat().st_mode & 0o777 == 0o600


def test_connector_add_writes_the_connector_and_new_scopes(cli, home, discovery):
    discovery.routes[RFC8414] = (200, discovery.document())
    assert cli("providers", "add", "acme", "--issuer", discovery.base).code == 0
    result = cli("providers", "connector", "add", "acme", "list-orders", "--scope", "read", "--scope", "orders:read",
                 "--description", "Lists orders.")
    assert result.code == 0, result.stderr
    assert "orders:read" in result.stderr and "no description" in result.stderr
    entry = tomllib.loads((home / "providers.toml").read_text())["providers"]["acme"]
    assert entry["connectors"]["list-orders"] == {"name": "List Orders", "description": "Lists orders.", "scopes": ["read", "orders:read"]}
    assert entry["scopes"]["orders:read"] == ""
    shown = cli("providers", "show", "acme", "--json")
    assert shown.code == 0, shown.stderr
    assert [c["id"] for c in shown.json()["provider"]["connectors"]] == ["list-orders"]

    before = (home / "providers.toml").read_text()
    again = cli("providers", "connector", "add", "acme", "list-orders", "--scope", "read")
    assert_error_line(again, 6, "already", "--force")
    bundled = cli("providers", "connector", "add", "google", "gmail-list-messages", "--scope", "x")
    assert bundled.code == 6, bundled.stderr
    bad_scope = cli("providers", "connector", "add", "acme", "c", "--scope", 'a"b')
    assert_error_line(bad_scope, 2, "is not a scope")
    no_scope = cli("providers", "connector", "add", "acme", "c")
    assert_error_line(no_scope, 2, "missing --scope")
    unknown = cli("providers", "connector", "add", "nope", "c", "--scope", "s")
    assert unknown.code == 5
    _assert_nothing_written(home, before)
    forced = cli("providers", "connector", "add", "acme", "list-orders", "--scope", "read", "--force")
    assert forced.code == 0, forced.stderr
    assert tomllib.loads((home / "providers.toml").read_text())["providers"]["acme"]["connectors"]["list-orders"]["scopes"] == ["read"]
