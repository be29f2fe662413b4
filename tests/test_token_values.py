"""Token values are text from outside: RFC 6749's character rules (Appendix A)
hold for every token integray-auth receives and every token set it loads.

An access token holding `ESC ] 0; ... BEL` would retitle the terminal that
`token` prints it on, one holding CR LF would add a header to
`token --format header`, a NUL would end `exec` in a crash. Whoever sent it
(a hostile token endpoint) or wrote it (anyone who can write to the keyring,
the token file or Vault), it is refused, with a message that names the field
and never echoes the value: exit 11 when a provider sent it (nothing is
stored), exit 8 when a store holds it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from integray_auth.errors import ExitCode
from integray_auth.stores import lookup
from integray_auth.stores.file_store import FileStore
from integray_auth.stores.index import Index
from integray_auth.stores.secrets import token_key
from integray_auth.usecases import manage
from tests.support import overlays
from tests.support.cli import assert_no_crash
from tests.support.refresh import authorized, endpoint, state, stored  # noqa: F401 - fixtures
from tests.support.stand_in import QuietHandler, StandIn, serve
from tests.support.team import PREFIX, fake_server, seed_file_authorization, team  # noqa: F401 - fixtures

# Each value carries MARK, so a test can tell that no part of it was echoed.
MARK = "EVIL"
HOSTILE = {
    "osc": f"{MARK}\x1b]0;{MARK}\x07{MARK}",  # retitles the terminal
    "crlf": f"{MARK}\r\nX-Injected: {MARK}",  # a second header line
    "nul": f"{MARK}\x00{MARK}",  # os.execvpe: "embedded null byte"
    "del": f"{MARK}\x7f{MARK}",  # not a VSCHAR either
    "non-ascii": f"{MARK}\u202e{MARK}",  # a bidi override
}
FUTURE = "2999-01-01T00:00:00Z"


def assert_refused(result, code: int, *fragments: str) -> str:
    """Exit `code`, nothing on stdout, the last stderr line says why, and no
    part of the value anywhere (an --insecure-storage warning may come first)."""
    assert_no_crash(result.stderr)
    assert result.code == code, result.stderr
    assert result.stdout == ""
    assert MARK not in result.stderr and "\x1b" not in result.stderr and "\r" not in result.stderr
    line = result.stderr.splitlines()[-1]
    assert line.startswith("integray-auth: "), result.stderr
    for fragment in fragments:
        assert fragment in line, line
    return line


# --- received from a token endpoint: exit 11, nothing stored ---------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [("access_token", HOSTILE["osc"]), ("access_token", HOSTILE["crlf"]), ("access_token", HOSTILE["nul"]),
     ("access_token", HOSTILE["non-ascii"]), ("refresh_token", HOSTILE["crlf"]), ("refresh_token", [MARK])],
    ids=["access-osc", "access-crlf", "access-nul", "access-bidi", "refresh-crlf", "refresh-list"],
)
def test_a_refresh_answer_with_a_hostile_token_is_refused_and_nothing_is_stored(cli, endpoint, authorized, home,  # noqa: F811
                                                                                 field, value):
    overlay = authorized(endpoint.url + "/token")
    endpoint.answer(200, {"access_token": "fine", "refresh_token": "fine-refresh", "token_type": "Bearer",
                          "expires_in": 3600, field: value})

    result = cli("--registry", str(overlay), "token", "Stub")

    assert_refused(result, ExitCode.NETWORK, f"the token response of Stub has a{'n' if field[0] == 'a' else ''} {field}",
                   "not printable ASCII", "nothing was stored")
    assert stored(home)["refresh_token"] == "old-refresh" and stored(home)["access_token"] == "old-access"
    assert state(cli, overlay)["status"] == "authorized"


class ProviderStandIn(StandIn):
    """Every way integray-auth receives tokens, on loopback: an authorization
    endpoint that consents at once, a device endpoint, a token endpoint, and
    Reservanto's two calls. `issued` is the token endpoint's answer,
    `short_token` Reservanto's ShortTimeToken."""

    def __init__(self) -> None:
        self.issued: dict = {}
        self.short_token: object = "STT-fine"
        stand_in = self

        class Handler(QuietHandler):
            def do_GET(self):  # noqa: N802
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                if parts.path == "/authorize":
                    target, answer = query["redirect_uri"], {"code": "code-1", "state": query["state"]}
                elif parts.path == "/v1/Authorize/GetLongTimeToken":
                    target, answer = query["redirectUrl"], {"accepted": "1", "token": "LTT-fine"}
                else:
                    self.send_error(404)
                    return
                self.send_response(302)
                self.send_header("Location", target + ("&" if "?" in target else "?") + urlencode(answer))
                self.end_headers()

            def do_POST(self):  # noqa: N802
                self.read_body()
                if self.path == "/device":
                    self.send_json(200, {"device_code": "dev-1", "user_code": "WDJB-MJHT", "interval": 1,
                                         "verification_uri": "https://example.com/device", "expires_in": 600})
                elif self.path == "/token":
                    self.send_json(200, stand_in.issued)
                elif self.path == "/v1/Authorize/GetShortTimeToken":
                    self.send_json(200, {"IsError": False, "ShortTimeToken": stand_in.short_token})
                else:
                    self.send_error(404)

        self.server, self.url = serve(Handler)


@pytest.fixture
def provider(tmp_path):
    stand_in = ProviderStandIn()
    url = stand_in.url
    stand_in.overlay = tmp_path / "providers.toml"
    machine = overlays.provider(
        "machine", "Machine", {"authorization_endpoint": f"{url}/authorize", "token_endpoint": f"{url}/token"},
        endpoints=("authorization_url", "token_url"), pkce="", scopes=("read",), connectors=(overlays.READ_ONLY,),
        fields='client_id = "machine-client"\nclient_auth = "client_secret_post"\ngrants = ["client_credentials"]')
    reservanto = (f'[providers.reservanto]\nauthorization_url = "{url}/v1/Authorize/GetLongTimeToken"\n'
                  f'token_url = "{url}/v1/Authorize/GetShortTimeToken"\nclient_id = "integray-test"\n')
    overlays.write_overlay(stand_in.overlay, overlays.standin(url, "stand-in-client"), machine, reservanto)
    # A browser that only follows redirects: the stand-in consents at once.
    stand_in.browser = tmp_path / "follow-redirects"
    stand_in.browser.write_text(
        f"#!/bin/sh\n{sys.executable} -c 'import requests, sys; requests.get(sys.argv[1], timeout=20)' \"$1\" "
        ">/dev/null 2>&1 &\n"
    )
    stand_in.browser.chmod(0o755)
    yield stand_in
    stand_in.close()


GRANTS = {
    # how `add` gets each grant's tokens: provider (id, name), connector, extra arguments, environment
    "authorization_code": ("standin", "Stand-in", "reader", [], "browser"),
    "device_code": ("standin", "Stand-in", "reader", ["--device"], {"DISPLAY": None, "WAYLAND_DISPLAY": None, "BROWSER": None}),
    "client_credentials": ("machine", "Machine", "reader", ["--client-credentials"],
                           {"INTEGRAY_AUTH_MACHINE_CLIENT_SECRET": "s3cret"}),
    "reservanto": ("reservanto", "Reservanto", "list-locations", [], "browser"),
}


@pytest.mark.parametrize("grant", list(GRANTS))
@pytest.mark.parametrize("kind", ["osc", "crlf", "nul"])
def test_add_refuses_a_hostile_token_from_every_grant_and_saves_nothing(cli, provider, home, grant, kind):
    provider_id, name, connector, extra, env = GRANTS[grant]
    env = {"BROWSER": str(provider.browser)} if env == "browser" else env
    provider.issued = {"access_token": HOSTILE[kind], "token_type": "Bearer", "expires_in": 3600, "scope": "read"}
    provider.short_token = HOSTILE[kind]

    result = cli("--registry", str(provider.overlay), "add", "Hostile", "-p", provider_id, "-c", connector,
                 "--insecure-storage", *extra, env=env, timeout=90)

    assert_refused(result, ExitCode.NETWORK, f"the token response of {name} has an access_token", "not printable ASCII",
                   "nothing was stored")
    listed = cli("--registry", str(provider.overlay), "list", "--all", "--json").json()["authorizations"]
    assert [a["status"] for a in listed] in ([], ["not_authorized"])
    store = home / "tokens-insecure.json"
    assert not store.exists() or MARK not in store.read_text()


def test_reservanto_refuses_a_short_time_token_that_is_not_text(cli, provider):
    provider.short_token = [MARK]  # str() of it would have passed for a token
    result = cli("--registry", str(provider.overlay), "add", "Listed", "-p", "reservanto", "-c", "list-locations",
                 "--insecure-storage", env={"BROWSER": str(provider.browser)}, timeout=90)
    assert_refused(result, ExitCode.NETWORK, "the token response of Reservanto has an access_token")


def test_a_good_token_from_the_stand_in_still_works(cli, provider):
    """The stand-in itself is sound: what the tests above refuse is the value, not the flow."""
    provider.issued = {"access_token": "00D5e!AQ4AQ:v1u+/=~", "token_type": "Bearer", "expires_in": 3600}
    added = cli("--registry", str(provider.overlay), "add", "Good", "-p", "standin", "-c", "reader",
                "--insecure-storage", env={"BROWSER": str(provider.browser)}, timeout=90)
    assert added.code == 0, added.stderr
    token = cli("--registry", str(provider.overlay), "token", "Good")
    assert (token.code, token.stdout) == (0, "00D5e!AQ4AQ:v1u+/=~\n"), token.stderr
    # Salesforce's "!" and Pipedrive's ":" are outside RFC 6750's b64token, yet their APIs take them as Bearer.
    header = cli("--registry", str(provider.overlay), "token", "Good", "--format", "header")
    assert (header.code, header.stdout) == (0, "Authorization: Bearer 00D5e!AQ4AQ:v1u+/=~\n"), header.stderr


# --- loaded from a store: exit 8, for every command that hands a token out -------------------

COMMANDS = {
    "raw": ["token", "Planted"],
    "header": ["token", "Planted", "--format", "header"],
    "json": ["token", "Planted", "--format", "json"],
    "env": ["token", "Planted", "--format", "env"],
    "exec": ["exec", "Planted", "--", sys.executable, "-c", "print('ran')"],
}
PLANTED = {
    "access-osc": {"access_token": HOSTILE["osc"]},
    "access-crlf": {"access_token": HOSTILE["crlf"]},
    "access-nul": {"access_token": HOSTILE["nul"]},
    "access-del": {"access_token": HOSTILE["del"]},
    "access-list": {"access_token": [MARK]},
    "refresh-crlf": {"access_token": "fine", "refresh_token": HOSTILE["crlf"]},
    "type-crlf": {"access_token": "fine", "token_type": f"Bearer\r\nX-Injected: {MARK}"},
    "type-list": {"access_token": "fine", "token_type": [MARK]},
}
FIELD_OF = {"access": "an access_token", "refresh": "a refresh_token", "type": "a token_type"}


def planted_authorization(make_ctx, home: Path, storage: str = "file", backend: str | None = None) -> str:
    """An Authorized 'Planted' whose tokens are written by someone else; its id."""
    ctx = make_ctx()
    entry = manage.save_new(ctx, manage.new_authorization(ctx, "Planted", "reservanto", ["list-locations"]))
    with Index(home / "index.json", home / "index.lock").transaction() as authorizations:
        saved = lookup.find_in(authorizations, entry.id)
        saved.status, saved.storage, saved.expires_at = "authorized", storage, FUTURE
        if backend:
            saved.keyring_backend = backend
    return entry.id


def planted_secret(values: dict) -> str:
    """A token set as the stores keep it, with `values` written over a good one."""
    return json.dumps({"v": 1, "access_token": "fine", "token_type": "Bearer", "expires_at": FUTURE, **values})


@pytest.mark.parametrize("planted", list(PLANTED))
def test_a_hostile_token_set_in_the_token_file_is_refused_by_every_command(cli, make_ctx, home, planted):
    authorization_id = planted_authorization(make_ctx, home)
    FileStore(home / "tokens-insecure.json", home / "tokens-insecure.lock").set(
        token_key(authorization_id), planted_secret(PLANTED[planted]))

    for command in COMMANDS.values():
        result = cli(*command)
        assert_refused(result, ExitCode.STORAGE, "the tokens of 'Planted' in the insecure file",
                       f"hold {FIELD_OF[planted.split('-')[0]]} that is", "not used",
                       "integray-auth authorize Planted")


def test_a_token_with_a_space_is_handed_out_but_never_as_a_header(cli, make_ctx, home):
    """RFC 6749 allows a space in a token; a Bearer credential ends at one (RFC 6750 §2.1)."""
    authorization_id = planted_authorization(make_ctx, home)
    FileStore(home / "tokens-insecure.json", home / "tokens-insecure.lock").set(
        token_key(authorization_id), planted_secret({"access_token": f"{MARK} X-Injected"}))

    assert cli("token", "Planted").stdout == f"{MARK} X-Injected\n"
    result = cli("token", "Planted", "--format", "header")
    assert_refused(result, ExitCode.NETWORK, "the access token of 'Planted' is not printable ASCII without spaces",
                   "cannot be sent as a Bearer token", "Print it as it is: integray-auth token Planted")


SECRET_SERVICE = "keyring.backends.SecretService.Keyring"


@pytest.mark.parametrize("reader", ["secret-service-reader", "keyring-library"])
@pytest.mark.parametrize("planted", ["access-osc", "access-nul", "access-list", "type-crlf"])
def test_a_hostile_token_set_in_the_real_keyring_is_refused(cli, make_ctx, home, secret_service, keyring_env,
                                                            reader, planted):
    """The real GNOME Keyring, read by our own Secret Service reader (the fast
    `token` path) and by the keyring library (a user's backend choice)."""
    authorization_id = planted_authorization(make_ctx, home, storage="keyring", backend=SECRET_SERVICE)
    subprocess.run(
        [sys.executable, "-c", "import keyring, sys; keyring.set_password('integray-auth', sys.argv[1], sys.argv[2])",
         token_key(authorization_id), planted_secret(PLANTED[planted])],
        env=secret_service.subprocess_env(), check=True, timeout=60,
    )
    env = dict(keyring_env)
    if reader == "keyring-library":
        env["PYTHON_KEYRING_BACKEND"] = SECRET_SERVICE  # keyring honours it: the read goes through keyring

    for command in COMMANDS.values():
        result = cli(*command, env=env)
        assert_refused(result, ExitCode.STORAGE, "the tokens of 'Planted' in the keyring",
                       f"hold {FIELD_OF[planted.split('-')[0]]} that is", "integray-auth authorize Planted")


def test_the_character_rules_of_rfc_6749():
    """Appendix A, by str methods alone (no `re` on the fast path); a good set loads as before."""
    from integray_auth.tokens import TokenSet, is_token_text, is_type_name

    assert TokenSet.from_secret(planted_secret({"refresh_token": "r~+/=-._!:"})).refresh_token == "r~+/=-._!:"
    for bad in ("", " \x00", "\x1b", "a\r\nb", "é", "\x7f", ["a"], 5, None):
        assert not is_token_text(bad), bad
    assert is_token_text(" ") and is_token_text("~") and is_token_text("a b")
    for good in ("Bearer", "bearer", "N_A", "x-y.z", "-", "9"):
        assert is_type_name(good), good
    for bad in ("", "Bearer ", "Bearer\r\n", "a/b", "é", ["Bearer"]):
        assert not is_type_name(bad), bad


@pytest.mark.e2e
@pytest.mark.parametrize("planted", ["access-osc", "access-crlf", "type-list"])
def test_a_hostile_token_set_written_into_vault_is_refused_on_every_machine(team, fake_server, vault_server,  # noqa: F811
                                                                             planted):
    """The real OpenBao: someone with write access to the shared tokens plants a set."""
    a, b = team(fake_server, "a", "b")
    authorization_id = seed_file_authorization(a, name="Planted")
    shared = a.run("share", "Planted")
    assert shared.code == 0, shared.stderr
    vault_server.kv_write(f"{PREFIX}/{authorization_id}/tokens",
                          {"schema_version": 1, "tokens": planted_secret(PLANTED[planted])})

    for machine in (a, b):
        for command in COMMANDS.values():
            result = machine.run(*command)
            assert_refused(result, ExitCode.STORAGE, "the tokens of 'Planted' in Vault",
                           f"hold {FIELD_OF[planted.split('-')[0]]} that is", "integray-auth authorize Planted")
