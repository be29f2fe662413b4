"""Reservanto's long-time-token protocol, through the installed command.

Reservanto is not OAuth 2.0 and has no public test server, so these tests
run against a small stand-in that speaks the protocol as documented
(https://api.reservanto.cz/Help): consent at Authorize/GetLongTimeToken
redirecting with `accepted` and `token`, and GetShortTimeToken answering
JSON. It checks what integray-auth sends, not Reservanto itself.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support.cli import assert_error_line
from tests.support.stand_in import QuietHandler, StandIn, serve


class ReservantoStandIn(StandIn):
    def __init__(self, accept: bool = True) -> None:
        self.accept = accept
        self.consents: list[dict] = []
        self.short_tokens_issued = 0
        stand_in = self

        class Handler(QuietHandler):
            def do_GET(self):  # noqa: N802
                parts = urlsplit(self.path)
                if parts.path != "/v1/Authorize/GetLongTimeToken":
                    self.send_error(404)
                    return
                query = parse_qs(parts.query)
                stand_in.consents.append(query)
                answer = "accepted=1&token=LTT-secret" if stand_in.accept else "accepted=0"
                target = query["redirectUrl"][0]
                self.send_response(302)
                self.send_header("Location", target + ("&" if "?" in target else "?") + answer)
                self.end_headers()

            def do_POST(self):  # noqa: N802
                body = json.loads(self.read_body())
                if self.path != "/v1/Authorize/GetShortTimeToken" or body.get("LongTimeToken") != "LTT-secret":
                    answer = {"IsError": True, "ErrorMessage": "Invalid LongTimeToken"}
                else:
                    stand_in.short_tokens_issued += 1
                    answer = {"IsError": False, "ShortTimeToken": f"STT-{stand_in.short_tokens_issued}"}
                self.send_json(200, answer)

        self.server, base = serve(Handler)
        self.base = f"{base}/v1"


@pytest.fixture
def reservanto(tmp_path):
    stand_in = ReservantoStandIn()
    overlay = tmp_path / "reservanto.toml"
    overlay.write_text(
        "[providers.reservanto]\n"
        f'authorization_url = "{stand_in.base}/Authorize/GetLongTimeToken"\n'
        f'token_url = "{stand_in.base}/Authorize/GetShortTimeToken"\n'
        'client_id = "integray-test"\n'
    )
    # A browser that just follows redirects: Reservanto's consent needs no form here.
    browser = tmp_path / "follow-redirects"
    browser.write_text(
        "#!/bin/sh\n"
        f"{__import__('sys').executable} -c 'import requests, sys; requests.get(sys.argv[1], timeout=20)' \"$1\" "
        ">/dev/null 2>&1 &\n"
    )
    browser.chmod(0o755)
    stand_in.overlay, stand_in.browser = overlay, browser
    yield stand_in
    stand_in.close()


def test_reservanto_consent_gives_a_long_time_token_exchanged_for_short_ones(cli, reservanto, home):
    env = {"BROWSER": str(reservanto.browser)}
    result = cli("--registry", str(reservanto.overlay), "add", "Reservanto Prague", "-p", "reservanto",
                 "-c", "list-locations", "-c", "create-class-booking", "--insecure-storage", env=env)
    assert result.code == 0, result.stderr
    (consent,) = reservanto.consents
    assert consent["clientId"] == ["integray-test"]
    assert consent["rights"] == ["Location_r", "Booking_w", "Event_r"]  # repeated, not joined
    redirect = urlsplit(consent["redirectUrl"][0])
    assert redirect.hostname == "127.0.0.1"
    assert redirect.path.startswith("/callback/") and len(redirect.path) > len("/callback/") + 20  # one-time path

    shown = cli("--registry", str(reservanto.overlay), "show", "Reservanto Prague", "--json").json()["authorization"]
    assert shown["status"] == "authorized"
    assert sorted(shown["granted_scopes"]) == ["Booking_w", "Event_r", "Location_r"]

    token = cli("--registry", str(reservanto.overlay), "token", "Reservanto Prague")
    assert token.code == 0 and token.stdout.strip() == "STT-1"

    # After 30 minutes the short-time token is renewed from the long-time one.
    store = home / "tokens-insecure.json"
    data = json.loads(store.read_text())
    (key, raw), = data["entries"].items()
    tokens = json.loads(raw)
    assert tokens["refresh_token"] == "LTT-secret"
    tokens["expires_at"] = "2000-01-01T00:00:00Z"
    data["entries"][key] = json.dumps(tokens)
    store.write_text(json.dumps(data))
    again = cli("--registry", str(reservanto.overlay), "token", "Reservanto Prague")
    assert again.code == 0 and again.stdout.strip() == "STT-2"
    assert "LTT-secret" not in (home / "index.json").read_text()


def test_reservanto_refusal_exits_9_and_saves_nothing(cli, reservanto):
    reservanto.accept = False
    result = cli("--registry", str(reservanto.overlay), "add", "Refused", "-p", "reservanto",
                 "-c", "list-locations", "--insecure-storage", env={"BROWSER": str(reservanto.browser)})
    assert result.code == 9
    assert "did not accept" in result.stderr
    assert cli("--registry", str(reservanto.overlay), "list", "--all", "--json").json()["authorizations"] == []


def _index_entry(home, **changes) -> dict:
    """The only index entry, after applying `changes` (None deletes a field)."""
    path = home / "index.json"
    data = json.loads(path.read_text())
    (entry,) = data["authorizations"]
    for key, value in changes.items():
        if value is None:
            entry.pop(key, None)
        else:
            entry[key] = value
    path.write_text(json.dumps(data))
    return entry


def _expire_tokens(home) -> None:
    store = home / "tokens-insecure.json"
    data = json.loads(store.read_text())
    (key, raw), = data["entries"].items()
    data["entries"][key] = json.dumps({**json.loads(raw), "expires_at": "2000-01-01T00:00:00Z"})
    store.write_text(json.dumps(data))


def test_the_index_records_the_grant_and_an_entry_from_before_renews_by_its_providers(cli, reservanto, home):
    def run(*args):
        return cli("--registry", str(reservanto.overlay), *args, env={"BROWSER": str(reservanto.browser)})

    assert run("add", "Prague", "-p", "reservanto", "-c", "list-locations", "--insecure-storage").code == 0

    assert _index_entry(home)["grant"] == "reservanto_long_time_token"

    # Written before the index kept the grant: Reservanto's own is derived, not the usual refresh.
    _index_entry(home, grant=None)
    _expire_tokens(home)
    renewed = run("token", "Prague")
    assert renewed.code == 0, renewed.stderr
    assert renewed.stdout == "STT-2\n"


def test_a_recorded_grant_this_version_does_not_know_is_one_line_exit_4(cli, reservanto, home):
    def run(*args):
        return cli("--registry", str(reservanto.overlay), *args, env={"BROWSER": str(reservanto.browser)})

    assert run("add", "Prague", "-p", "reservanto", "-c", "list-locations", "--insecure-storage").code == 0
    _index_entry(home, grant="telepathy")
    _expire_tokens(home)

    result = run("token", "Prague")

    assert "unexpected error" not in result.stderr
    assert_error_line(result, 4, "'Prague' was obtained with the 'telepathy' grant", "Upgrade integray-auth")
    assert reservanto.short_tokens_issued == 1  # nothing was sent on a guess
