"""The device authorization grant (RFC 8628) against loopback stand-ins: the
poll loop with an injected clock (interval, slow_down, expires_in, --timeout),
the device endpoint's answer checked like any outside text, and the bad
answers through the installed command (one line, its exit code, nothing saved).
The real server runs it end to end in test_e2e_device.py."""

from __future__ import annotations

import base64
import json
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integray_auth.errors import AuthorizationFailed, AuthorizationTimeout, ExitCode, NetworkError
from integray_auth.grants.base import ConsentRequest, FlowUI
from integray_auth.grants.device_code import DeviceCode, read_answer
from integray_auth.models import Authorization, utc_now
from integray_auth.oauth.endpoint import ClientCredentials
from integray_auth.registry.loading import load_registry
from integray_auth.usecases.authorize import choose_grant, no_browser_here, offers_device_flow
from tests.support.cli import assert_error_line, assert_no_crash
from tests.support.overlays import standin, write_overlay
from tests.support.stand_in import QuietHandler, serve, trickle

GOOD = {
    "device_code": "dev-code-1",
    "user_code": "WDJB-MJHT",
    "verification_uri": "https://example.com/device",
    "expires_in": 1800,
    "interval": 1,
}
TOKENS = {"access_token": "at-1", "token_type": "Bearer", "expires_in": 3600, "refresh_token": "rt-1", "scope": "read"}


class StandIn:
    """A device endpoint (/device) and a token endpoint (/token) on loopback.

    `device` is the device endpoint's answer: (status, body) with body a dict, or a str
    sent as `content_type`; `polls` the token endpoint's answers in turn, the last one
    repeated. Every request is kept: (path, headers, form, monotonic time)."""

    def __init__(self, device=(200, GOOD), polls=((200, TOKENS),), content_type="application/json") -> None:
        self.device = device
        self.polls = list(polls)
        self.content_type = content_type
        self.requests: list[tuple[str, dict, dict, float]] = []
        self.stop = threading.Event()
        stand_in = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                form = {k: v[0] for k, v in parse_qs(self.read_body().decode()).items()}
                stand_in.requests.append((self.path, dict(self.headers), form, time.monotonic()))
                if self.path == "/device":
                    answer = stand_in.device
                else:
                    answer = stand_in.polls.pop(0) if len(stand_in.polls) > 1 else stand_in.polls[0]
                if answer == "hang":
                    trickle(self, b'{"access_token": "never"}', stand_in.stop)
                    return
                status, body = answer
                if isinstance(body, str):
                    data = body.encode()
                    self.send_response(status)
                    self.send_header("Content-Type", stand_in.content_type)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                else:
                    self.send_json(status, body)

        self.server, self.url = serve(Handler)

    def polls_made(self) -> list[tuple[str, dict, dict, float]]:
        return [r for r in self.requests if r[0] == "/token"]

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()


@pytest.fixture
def stand_in():
    made: list[StandIn] = []

    def start(**kwargs) -> StandIn:
        made.append(StandIn(**kwargs))
        return made[-1]

    yield start
    for one in made:
        one.close()


def overlay(tmp_path: Path, url: str, extra: str = "") -> Path:
    return write_overlay(tmp_path / "providers.toml", standin(url, "device-client", extra))


# --- the poll loop, with an injected clock ------------------------------------------------


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 3))
        self.now += seconds


class ShownUI(FlowUI):
    def __init__(self) -> None:
        self.shown: list[tuple] = []

    def show_device_code(self, verification_uri, user_code, verification_uri_complete, seconds_left) -> None:
        self.shown.append((verification_uri, user_code, verification_uri_complete, seconds_left))

    def notice(self, message: str) -> None:
        pass


def obtain(tmp_path, server: StandIn, timeout: float = 300, extra: str = "", secret: str | None = None):
    provider = load_registry([overlay(tmp_path, server.url, extra)]).get("standin")
    fake, ui = FakeTime(), ShownUI()
    request = ConsentRequest(
        provider=provider,
        credentials=ClientCredentials("device-client", secret),
        scopes=["read"],
        authorization_name="Dev",
        ui=ui,
        browser=None,
        clock=utc_now,
        timeout=timeout,
        http_deadline=5,
    )
    grant = DeviceCode(monotonic=fake.monotonic, sleep=fake.sleep)
    try:
        return grant.obtain(request), fake, ui
    except Exception as error:  # handed back with the clock, for the assertions
        error.fake, error.ui = fake, ui
        raise


def pending(n: int = 1):
    return [(400, {"error": "authorization_pending"})] * n


def test_polls_at_the_interval_and_adds_5_seconds_on_each_slow_down(tmp_path, stand_in):
    server = stand_in(
        device=(200, {**GOOD, "interval": 2}),
        polls=[*pending(), (400, {"error": "slow_down"}), *pending(), (400, {"error": "slow_down"}), (200, TOKENS)],
    )

    obtained, fake, ui = obtain(tmp_path, server)

    assert obtained.tokens.access_token == "at-1" and obtained.tokens.refresh_token == "rt-1"
    assert fake.sleeps == [2, 2, 7, 7, 12]
    assert ui.shown == [("https://example.com/device", "WDJB-MJHT", None, 300)]
    device, *polls = server.requests
    assert device[0] == "/device" and device[2] == {"client_id": "device-client", "scope": "read"}
    assert "Authorization" not in device[1]
    assert polls[0][2] == {
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
        "device_code": "dev-code-1",
        "client_id": "device-client",
    }


def test_without_an_interval_it_polls_every_5_seconds_and_0_becomes_1(tmp_path, stand_in):
    without = {k: v for k, v in GOOD.items() if k != "interval"}
    _, fake, _ = obtain(tmp_path, stand_in(device=(200, without), polls=[*pending(), (200, TOKENS)]))
    assert fake.sleeps == [5, 5]  # RFC 8628 §3.2

    _, fake, _ = obtain(tmp_path, stand_in(device=(200, {**GOOD, "interval": 0}), polls=[*pending(), (200, TOKENS)]))
    assert fake.sleeps == [1, 1]


def test_a_200_pending_answer_keeps_polling_like_github_sends(tmp_path, stand_in):
    server = stand_in(polls=[(200, {"error": "authorization_pending"}), (200, TOKENS)])

    obtained, _, _ = obtain(tmp_path, server)

    assert obtained.tokens.access_token == "at-1" and len(server.polls_made()) == 2


def test_expires_in_shorter_than_the_timeout_ends_when_the_code_expires(tmp_path, stand_in):
    server = stand_in(device=(200, {**GOOD, "expires_in": 10, "interval": 3}), polls=pending())

    with pytest.raises(AuthorizationTimeout, match="expired after 10 seconds") as failed:
        obtain(tmp_path, server, timeout=300)

    assert failed.value.exit_code == ExitCode.TIMEOUT
    assert failed.value.fake.sleeps == [3, 3, 3, 1] and sum(failed.value.fake.sleeps) == 10
    assert len(server.polls_made()) == 3
    assert failed.value.ui.shown[0][3] == 10


def test_the_timeout_shorter_than_expires_in_ends_at_the_timeout(tmp_path, stand_in):
    server = stand_in(device=(200, {**GOOD, "interval": 2}), polls=pending())

    with pytest.raises(AuthorizationTimeout, match="not approved within 7 seconds") as failed:
        obtain(tmp_path, server, timeout=7)

    assert "--timeout" in failed.value.hint
    assert sum(failed.value.fake.sleeps) == 7 and len(server.polls_made()) == 3


def test_an_interval_longer_than_the_time_left_ends_at_once_without_showing_a_code(tmp_path, stand_in):
    server = stand_in(device=(200, {**GOOD, "interval": 10_000}))

    with pytest.raises(AuthorizationTimeout, match="asks to wait 10000 seconds between polls") as failed:
        obtain(tmp_path, server)

    assert failed.value.fake.sleeps == [] and failed.value.ui.shown == []
    assert server.polls_made() == []


def test_slow_down_past_the_time_left_sleeps_only_until_the_deadline(tmp_path, stand_in):
    server = stand_in(device=(200, {**GOOD, "interval": 4}), polls=[(400, {"error": "slow_down"})])

    with pytest.raises(AuthorizationTimeout, match="within 10 seconds") as failed:
        obtain(tmp_path, server, timeout=10)

    assert failed.value.fake.sleeps == [4, 6] and len(server.polls_made()) == 1


@pytest.mark.parametrize(
    ("error", "kind", "code", "words"),
    [
        ("access_denied", AuthorizationFailed, ExitCode.AUTHORIZATION, "denied at Stand-in; nothing was saved"),
        ("expired_token", AuthorizationTimeout, ExitCode.TIMEOUT, "expired at Stand-in before it was approved"),
        ("invalid_grant", AuthorizationFailed, ExitCode.AUTHORIZATION, "Stand-in refused: invalid_grant"),
        ("no_such_error_in_any_rfc", AuthorizationFailed, ExitCode.AUTHORIZATION, "refused: no_such_error_in_any_rfc"),
    ],
)
def test_the_ends_of_polling_each_have_their_words_and_exit_code(tmp_path, stand_in, error, kind, code, words):
    server = stand_in(polls=[*pending(), (400, {"error": error, "error_description": "x" * 5000})])

    with pytest.raises(kind) as failed:
        obtain(tmp_path, server)

    assert type(failed.value) is kind and failed.value.exit_code == code
    assert words in failed.value.message and len(failed.value.message) < 400
    assert "nothing was saved" in failed.value.message and failed.value.hint


def test_a_device_endpoint_that_insists_on_basic_gets_it_and_the_token_endpoint_its_own(tmp_path, stand_in):
    # Zoom: device_auth = "client_secret_basic" for a public client (client_auth "none").
    server = stand_in(polls=[(200, TOKENS)])

    obtain(tmp_path, server, extra='client_auth = "none"\ndevice_auth = "client_secret_basic"', secret="s3cret")

    device, poll = server.requests
    assert device[1]["Authorization"] == "Basic " + base64.b64encode(b"device-client:s3cret").decode()
    assert device[2] == {"scope": "read"}
    assert "Authorization" not in poll[1] and poll[2]["client_id"] == "device-client"
    assert "client_secret" not in poll[2]


def test_googles_verification_url_and_a_complete_uri_are_shown(tmp_path, stand_in):
    answer = {k: v for k, v in GOOD.items() if k != "verification_uri"}
    answer |= {"verification_url": "https://www.google.com/device", "verification_uri_complete": "https://example.com/device?code=WDJB-MJHT"}

    _, _, ui = obtain(tmp_path, stand_in(device=(200, answer)))

    assert ui.shown[0][:3] == ("https://www.google.com/device", "WDJB-MJHT", "https://example.com/device?code=WDJB-MJHT")


# --- the device endpoint's answer, checked -------------------------------------------------

BAD_ANSWERS = {
    "a-list": ([GOOD], "not a device authorization response"),
    "no-device-code": ({k: v for k, v in GOOD.items() if k != "device_code"}, "has no device_code"),
    "empty-user-code": ({**GOOD, "user_code": ""}, "has no user_code"),
    "no-user-code": ({k: v for k, v in GOOD.items() if k != "user_code"}, "has no user_code"),
    "no-verification-uri": ({k: v for k, v in GOOD.items() if k != "verification_uri"}, "has no verification_uri"),
    "user-code-a-number": ({**GOOD, "user_code": 1234}, "user_code that is not a short plain text"),
    "user-code-escape": ({**GOOD, "user_code": "\x1b]0;owned\x07AB"}, "user_code that is not a short plain text"),
    "user-code-bidi": ({**GOOD, "user_code": "AB\u202eCD"}, "user_code that is not a short plain text"),
    "user-code-huge": ({**GOOD, "user_code": "A" * 65}, "user_code that is not a short plain text"),
    "javascript-uri": ({**GOOD, "verification_uri": "javascript:alert(1)"}, "not an https:// URL"),
    "http-remote": ({**GOOD, "verification_uri": "http://evil.example/device"}, "not an https:// URL"),
    "userinfo": ({**GOOD, "verification_uri": "https://github.com@evil.example/device"}, "user name, password"),
    "space-in-uri": ({**GOOD, "verification_uri": "https://a.example/x y"}, "user name, password or hidden"),
    "bad-port": ({**GOOD, "verification_uri": "https://a.example:99999999/"}, "not a URL"),
    "bad-complete": ({**GOOD, "verification_uri_complete": "file:///etc/passwd"}, "verification_uri_complete that is not an https"),
    "interval-text": ({**GOOD, "interval": "soon"}, "has interval 'soon', not a number of seconds"),
    "interval-negative": ({**GOOD, "interval": -5}, "has interval -5"),
    "interval-bool": ({**GOOD, "interval": True}, "has interval True"),
    "expires-zero": ({**GOOD, "expires_in": 0}, "has expires_in 0"),
    "expires-nan": ({**GOOD, "expires_in": "nan"}, "has expires_in 'nan'"),
}


@pytest.mark.parametrize(("data", "words"), BAD_ANSWERS.values(), ids=BAD_ANSWERS)
def test_a_bad_device_answer_is_a_network_error_naming_the_field(tmp_path, data, words):
    provider = load_registry([overlay(tmp_path, "https://provider.example")]).get("standin")

    with pytest.raises(NetworkError) as failed:
        read_answer(provider, 200, "application/json", data)

    assert words in failed.value.message and failed.value.exit_code == ExitCode.NETWORK
    assert "\x1b" not in failed.value.message and "\u202e" not in failed.value.message


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=6,
)
FIELDS = ["device_code", "user_code", "verification_uri", "verification_url", "verification_uri_complete", "expires_in", "interval", "error"]


@settings(max_examples=200, deadline=None)
@given(
    base=st.fixed_dictionaries({}, optional={k: st.just(v) for k, v in GOOD.items()}),
    changed=st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES | st.sampled_from(
        ["https://ok.example/d", "http://127.0.0.1:1/d", "https://a@b.example/", "WDJB-MJHT", "\x1b[2J", "5", "-1", "inf"]), max_size=4),
)
def test_any_device_answer_is_checked_or_refused_never_a_crash(base, changed):
    from urllib.parse import urlsplit

    from integray_auth.lean.printable import has_unsafe

    provider = _PROVIDER[0]
    try:
        code = read_answer(provider, 200, "application/json", {**base, **changed})
    except (NetworkError, AuthorizationFailed) as refused:
        assert refused.message and len(refused.message) < 400
        return
    assert code.device_code and code.user_code and not has_unsafe(code.user_code) and len(code.user_code) <= 64
    for url in (code.verification_uri, code.verification_uri_complete):
        if url is not None:
            parts = urlsplit(url)
            assert "@" not in parts.netloc and not has_unsafe(url)
            assert parts.scheme == "https" or parts.hostname in ("127.0.0.1", "localhost", "::1")
    assert code.interval >= 1 and (code.expires_in is None or code.expires_in > 0)


_PROVIDER = [load_registry().get("github")]


def test_loopback_http_urls_and_numbers_as_text_are_accepted(tmp_path):
    provider = load_registry([overlay(tmp_path, "https://provider.example")]).get("standin")

    code = read_answer(
        provider, 200, "application/json", {**GOOD, "verification_uri": "http://127.0.0.1:8000/device/", "expires_in": "900", "interval": "2"}
    )

    assert (code.verification_uri, code.expires_in, code.interval) == ("http://127.0.0.1:8000/device/", 900.0, 2.0)
    assert "dev-code-1" not in repr(code)  # a credential until it expires


# --- when the device flow is offered by itself --------------------------------------------


@pytest.mark.parametrize(
    ("environ", "platform", "expected"),
    [
        ({}, "linux", True),
        ({"DISPLAY": ":0"}, "linux", False),
        ({"WAYLAND_DISPLAY": "wayland-0"}, "linux", False),
        ({"BROWSER": "lynx"}, "linux", False),
        ({"DISPLAY": ""}, "freebsd14", True),
        ({}, "darwin", False),
        ({}, "win32", False),
    ],
)
def test_no_browser_here(environ, platform, expected):
    assert no_browser_here(environ, platform) is expected


def test_the_device_flow_is_offered_only_when_nothing_asked_for_a_grant_and_the_provider_allows_it(tmp_path):
    registry = load_registry([overlay(tmp_path, "https://provider.example")])
    standin, slack = registry.get("standin"), registry.get("slack")

    assert offers_device_flow(standin, "authorization_code", None, True, {}, "linux")
    assert not offers_device_flow(standin, "authorization_code", None, True, {"DISPLAY": ":0"}, "linux")
    assert not offers_device_flow(standin, "authorization_code", None, False, {}, "linux")  # --no-browser
    assert not offers_device_flow(standin, "authorization_code", "authorization_code", True, {}, "linux")
    assert not offers_device_flow(slack, "authorization_code", None, True, {}, "linux")
    assert not offers_device_flow(load_registry().get("reservanto"), "reservanto_long_time_token", None, True, {}, "linux")


# --- through the installed command ----------------------------------------------------------

NO_DISPLAY = {"DISPLAY": None, "WAYLAND_DISPLAY": None, "BROWSER": None}


def _add(cli, path, *extra, env=None, timeout=60):
    return cli(
        "--registry", str(path), "add", "Dev", "-p", "standin", "-c", "reader", "--insecure-storage", *extra,
        env={**NO_DISPLAY, **(env or {})}, timeout=timeout,
    )


def _nothing_saved(cli, home: Path) -> None:
    listed = cli("list", "--all", "--json")
    assert listed.code == 0 and listed.json()["authorizations"] == [], listed.stdout
    assert not (home / "tokens-insecure.json").exists() or "Dev" not in (home / "tokens-insecure.json").read_text()


def _one_error_line(result, code, *fragments: str) -> str:
    """assert_error_line, past the warning every --insecure-storage run starts with
    (the tests' keyring is the fail backend)."""
    from tests.support.cli import Result

    lines = result.stderr.splitlines(keepends=True)
    assert lines and lines[0].startswith("Warning: --insecure-storage keeps the tokens unencrypted"), result.stderr
    return assert_error_line(Result(result.code, result.stdout, "".join(lines[1:])), code, *fragments)


def _last_line(result, code, *fragments: str) -> str:
    assert_no_crash(result.stderr)
    assert result.code == code, result.stderr
    assert result.stdout == ""
    line = result.stderr.splitlines()[-1]
    assert line.startswith("integray-auth: ")
    for fragment in fragments:
        assert fragment in line, result.stderr
    return line


def test_add_device_with_a_stand_in_authorizes_and_shows_the_code(cli, tmp_path, stand_in, home):
    server = stand_in(device=(200, {**GOOD, "verification_uri_complete": "https://example.com/device?c=WDJB-MJHT"}),
                      polls=[*pending(), (200, TOKENS)])

    result = _add(cli, overlay(tmp_path, server.url), "--device")

    assert result.code == 0, result.stderr
    assert result.stdout == ""
    assert "open this page in a browser on any device:\n  https://example.com/device\n" in result.stderr
    assert "enter the code: WDJB-MJHT\n" in result.stderr
    assert "https://example.com/device?c=WDJB-MJHT" in result.stderr
    assert "Authorized 'Dev' with Stand-in" in result.stderr
    assert "No browser here" not in result.stderr  # asked for, not offered
    state = cli("--registry", str(overlay(tmp_path, server.url)), "show", "Dev", "--json").json()["authorization"]
    assert state["status"] == "authorized" and state["granted_scopes"] == ["read"]
    entry, = json.loads((home / "index.json").read_text())["authorizations"]
    assert entry["grant"] == "device_code"  # so `token` renews it the device grant's way
    polls = server.polls_made()
    assert len(polls) == 2 and polls[1][3] - polls[0][3] >= 0.9  # the interval, 1 s


BAD_DEVICE_ENDPOINTS = {
    "html": ((200, "<html><body>Sign in</body></html>"), "text/html", ExitCode.NETWORK, "answered HTTP 200 with text/html, not a device authorization response"),
    "html-error": ((502, "<html>Bad gateway</html>"), "text/html", ExitCode.NETWORK, "answered HTTP 502 text/html. The provider may be down, or the device_authorization_url"),
    "unknown-error-400": ((400, {"error": "device_flow_disabled"}), None, ExitCode.AUTHORIZATION, "Stand-in refused: device_flow_disabled"),
    "unknown-error-200": ((200, {"error": "device_flow_disabled"}), None, ExitCode.AUTHORIZATION, "refused the device authorization: device_flow_disabled"),
    "no-user-code": ((200, {k: v for k, v in GOOD.items() if k != "user_code"}), None, ExitCode.NETWORK, "has no user_code"),
    "no-device-code": ((200, {k: v for k, v in GOOD.items() if k != "device_code"}), None, ExitCode.NETWORK, "has no device_code"),
    "huge": ((200, json.dumps({**GOOD, "pad": "x" * 400_000})), None, ExitCode.NETWORK, "larger than 256 KB"),
    "interval-10000": ((200, {**GOOD, "interval": 10_000}), None, ExitCode.TIMEOUT, "asks to wait 10000 seconds between polls"),
    "hostile-uri": ((200, {**GOOD, "verification_uri": "https://x.example/\x1b[2J"}), None, ExitCode.NETWORK, "verification_uri that is not a short plain text"),
}


@pytest.mark.parametrize(("answer", "content_type", "code", "words"), BAD_DEVICE_ENDPOINTS.values(), ids=BAD_DEVICE_ENDPOINTS)
def test_a_bad_device_endpoint_is_one_line_with_its_exit_code_and_nothing_saved(
    cli, tmp_path, stand_in, home, answer, content_type, code, words
):
    server = stand_in(device=answer, content_type=content_type or "application/json")
    started = time.monotonic()

    result = _add(cli, overlay(tmp_path, server.url), "--device")

    line = _one_error_line(result, code, words)
    assert "\x1b" not in result.stderr
    assert time.monotonic() - started < 15
    assert server.polls_made() == []
    assert "nothing was saved" in line or code == ExitCode.AUTHORIZATION or "larger than" in line or "HTTP 502" in line
    _nothing_saved(cli, home)


def test_an_interval_of_0_polls_once_a_second_and_the_timeout_ends_it(cli, tmp_path, stand_in, home):
    server = stand_in(device=(200, {**GOOD, "interval": 0}), polls=pending())

    result = _add(cli, overlay(tmp_path, server.url), "--device", "--timeout", "3")

    _last_line(result, ExitCode.TIMEOUT, "not approved within 3 seconds; nothing was saved", "--timeout")
    times = [p[3] for p in server.polls_made()]
    assert 1 <= len(times) <= 3, times
    assert all(b - a >= 0.9 for a, b in zip(times, times[1:])), times
    _nothing_saved(cli, home)


def test_a_token_endpoint_that_never_finishes_its_answer_cannot_hold_the_command_past_the_timeout(cli, tmp_path, stand_in, home):
    server = stand_in(polls=["hang"])
    started = time.monotonic()

    result = _add(cli, overlay(tmp_path, server.url), "--device", "--timeout", "3", env={"INTEGRAY_AUTH_HTTP_TIMEOUT": "60"})

    _last_line(result, ExitCode.TIMEOUT, "not approved within 3 seconds")
    assert time.monotonic() - started < 10
    _nothing_saved(cli, home)


@pytest.mark.parametrize(
    ("poll", "code", "words"),
    [
        ((400, {"error": "access_denied"}), ExitCode.AUTHORIZATION, "the request was denied at Stand-in; nothing was saved"),
        ((400, {"error": "expired_token"}), ExitCode.TIMEOUT, "the code expired at Stand-in before it was approved"),
        ((400, {"error": "weird", "error_description": "\x1b]0;pwned\x07 " + "y" * 3000}), ExitCode.AUTHORIZATION, "Stand-in refused: weird"),
        ((200, "<html>oops</html>"), ExitCode.NETWORK, "not a JSON token response"),
        ((200, {"access_token": 5, "token_type": "Bearer"}), ExitCode.NETWORK, "no access_token"),
    ],
    ids=["access-denied", "expired-token", "unknown-error-hostile-description", "html-poll", "junk-access-token"],
)
def test_the_ends_of_polling_through_the_command(cli, tmp_path, stand_in, home, poll, code, words):
    server = stand_in(polls=[*pending(), poll], content_type="text/html")

    result = _add(cli, overlay(tmp_path, server.url), "--device")

    line = _last_line(result, code, words)
    assert "\x1b" not in result.stderr and len(line) < 600
    assert "enter the code: WDJB-MJHT" in result.stderr
    _nothing_saved(cli, home)


def test_device_for_a_provider_that_does_not_allow_it_is_a_usage_error(cli):
    result = cli("add", "Chat", "-p", "slack", "-c", "send-message", "--device", "--client-id", "x", "--insecure-storage")

    assert_error_line(result, ExitCode.USAGE, "Slack does not allow the device_code grant", "It allows: authorization_code")


def test_a_registry_allowing_the_device_grant_without_a_device_url_is_exit_3(cli, tmp_path):
    path = tmp_path / "providers.toml"
    path.write_text('[providers.slack]\ngrants = ["authorization_code", "device_code"]\n')

    result = cli("--registry", str(path), "providers")

    assert_error_line(result, ExitCode.REGISTRY, f"{path}: provider 'slack', field 'grants': 'device_code' needs 'device_authorization_url'")


def test_a_device_endpoint_that_needs_the_secret_stops_before_asking_when_there_is_none(cli, tmp_path, stand_in, home, secret_service):
    server = stand_in()
    path = overlay(tmp_path, server.url, 'client_auth = "none"\ndevice_auth = "client_secret_basic"')
    # A usable keyring without the secret (Zoom's case before 'client set zoom').
    keyring_env = {**secret_service.env, **{name: None for name in secret_service.unset}, "PYTHON_KEYRING_BACKEND": None}

    result = _add(cli, path, "--device", env=keyring_env)

    assert_error_line(result, ExitCode.USAGE, "Stand-in needs the OAuth client secret of client device-client", "client set standin")
    assert server.requests == []

    with_secret = _add(cli, path, "--device", env={"INTEGRAY_AUTH_STANDIN_CLIENT_SECRET": "s3cret"})
    assert with_secret.code == 0, with_secret.stderr
    assert server.requests[0][1]["Authorization"].startswith("Basic ")


def test_without_display_or_browser_the_device_flow_is_offered_and_said(cli, tmp_path, stand_in, home):
    server = stand_in()

    result = _add(cli, overlay(tmp_path, server.url))

    assert result.code == 0, result.stderr
    assert result.stderr.startswith("No browser here (DISPLAY, WAYLAND_DISPLAY and BROWSER unset): using the device flow (--device).\n")
    assert "enter the code: WDJB-MJHT" in result.stderr


# (A display is covered by test_no_browser_here: with one, webbrowser would start a real browser.)
@pytest.mark.parametrize("setting", [{"BROWSER": "/bin/false"}, {}], ids=["browser", "no-browser-flag"])
def test_with_a_browser_or_display_or_no_browser_the_loopback_flow_stays(cli, tmp_path, stand_in, home, setting):
    server = stand_in()
    extra = ("--no-browser",) if not setting else ()

    result = _add(cli, overlay(tmp_path, server.url), "--timeout", "1", *extra, env=setting)

    assert "device flow" not in result.stderr and "enter the code" not in result.stderr
    assert "/authorize?response_type=code" in result.stderr
    _last_line(result, ExitCode.TIMEOUT, "no answer from the browser within 1 seconds")
    assert server.requests == []


def test_the_device_flow_is_chosen_per_run_not_kept_with_the_authorization():
    github = load_registry().get("github")
    used_device = Authorization("id", "GitHub", "github", ["list-repositories"], ["repo"], "t", "t", grant="device_code")

    assert github.grants == ("authorization_code", "device_code")
    assert choose_grant(github, used_device, None) == "authorization_code"
    assert choose_grant(github, used_device, "device_code") == "device_code"


def test_device_and_client_credentials_together_is_a_usage_error(cli):
    result = cli("add", "Both", "-p", "github", "-c", "list-repositories", "--device", "--client-credentials")

    assert_error_line(result, ExitCode.USAGE, "--client-credentials and --device are two different grants")
