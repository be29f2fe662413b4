"""Unit tests of the OAuth pieces: PKCE vectors, the loopback listener's
rules, chunked token storage with Windows' size limit, the token set."""

from __future__ import annotations

import socket
import threading
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from integray_auth.errors import ExitCode
from integray_auth.oauth import pkce
from integray_auth.oauth.loopback import LoopbackServer, PortBusyError
from integray_auth.stores.secrets import CHUNK_SIZE, ChunkedTokens, KeyringStore
from integray_auth.tokens import TokenSet, utc_seconds


def test_pkce_s256_matches_rfc7636_appendix_b():
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert pkce.s256_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_pkce_verifier_and_state_are_long_random_and_unreserved():
    verifiers = {pkce.make_verifier() for _ in range(50)}
    assert len(verifiers) == 50
    for verifier in verifiers:
        assert 43 <= len(verifier) <= 128
        assert set(verifier) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
    assert len(pkce.make_state()) >= 22  # >= 128 bits in base64url


@pytest.fixture
def listener():
    server = LoopbackServer("127.0.0.1", "/callback", state="the-state")
    server.start()
    yield server
    server.close()


def _get(url: str) -> requests.Response:
    return requests.get(url, timeout=10, allow_redirects=False)


def test_listener_binds_loopback_only_on_a_random_port(listener):
    assert listener.redirect_uri == f"http://127.0.0.1:{listener.port}/callback"
    assert listener.port > 0
    assert all(s.server_address[0] == "127.0.0.1" for s in listener._servers)


def test_favicon_and_other_paths_get_404_and_do_not_end_the_flow(listener):
    base = f"http://127.0.0.1:{listener.port}"
    assert _get(base + "/favicon.ico").status_code == 404
    assert _get(base + "/callback/extra?code=x&state=the-state").status_code == 404
    assert listener.wait(0.05) is None


def test_wrong_or_missing_state_gets_400_and_the_listener_keeps_waiting(listener):
    base = f"http://127.0.0.1:{listener.port}/callback?"
    wrong = _get(base + urlencode({"code": "c", "state": "nope"}))
    missing = _get(base + urlencode({"code": "c"}))
    assert wrong.status_code == 400 and "state" in wrong.text
    assert missing.status_code == 400
    assert listener.wait(0.05) is None
    # The right one is still accepted afterwards.
    threading.Thread(target=lambda: (listener.wait(5), listener.finish(b"done")), daemon=True).start()
    right = _get(base + urlencode({"code": "the-code", "state": "the-state"}))
    assert right.status_code == 200 and right.content == b"done"
    assert listener.result.params["code"] == "the-code"


def test_provider_error_ends_the_flow_at_once_with_its_description(listener):
    response = _get(f"http://127.0.0.1:{listener.port}/callback?" + urlencode(
        {"error": "access_denied", "error_description": "The user said no", "state": "the-state"}))
    assert response.status_code == 200
    assert "access_denied" in response.text and "The user said no" in response.text
    assert listener.wait(1).error == "access_denied"


def test_second_callback_after_the_first_is_refused(listener):
    listener.finish(b"ok")
    url = f"http://127.0.0.1:{listener.port}/callback?" + urlencode({"code": "one", "state": "the-state"})
    assert _get(url).status_code == 200
    assert _get(url.replace("one", "two")).status_code == 400
    assert listener.result.params["code"] == "one"


def test_pages_are_self_contained_and_send_no_referrer(listener):
    listener.finish(b"x")
    response = _get(f"http://127.0.0.1:{listener.port}/nothing")
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    for marker in ("<script", "<img", "<link", "http://", "https://"):
        assert marker not in response.text


def test_short_local_url_redirects_to_the_provider(listener):
    listener.start_url = "https://provider.example/authorize?x=1"
    response = _get(listener.local_url)
    assert response.status_code == 302
    assert response.headers["Location"] == "https://provider.example/authorize?x=1"


def test_pasted_redirect_url_is_checked_like_a_request(listener):
    base = f"http://127.0.0.1:{listener.port}/callback?"
    assert "state" in listener.offer(base + urlencode({"code": "c", "state": "bad"}))
    assert "path" in listener.offer(f"http://127.0.0.1:{listener.port}/other?code=c&state=the-state")
    assert listener.offer("not a url at all") is not None
    assert listener.offer(base + urlencode({"code": "pasted", "state": "the-state"})) is None
    assert listener.wait(1).params["code"] == "pasted"


def test_iss_is_required_and_compared_when_the_provider_sends_it():
    server = LoopbackServer("127.0.0.1", "/callback", state="s", expected_issuer="https://as.example")
    with server:
        base = f"http://127.0.0.1:{server.port}/callback?"
        assert _get(base + urlencode({"code": "c", "state": "s"})).status_code == 400
        assert _get(base + urlencode({"code": "c", "state": "s", "iss": "https://evil.example"})).status_code == 400
        assert server.offer(base + urlencode({"code": "c", "state": "s", "iss": "https://as.example"})) is None


def test_pinned_ports_are_tried_in_order_and_all_busy_is_a_clear_error():
    blockers = []
    try:
        ports = []
        for _ in range(2):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sock.listen()
            blockers.append(sock)
            ports.append(sock.getsockname()[1])
        with pytest.raises(PortBusyError) as busy:
            LoopbackServer("127.0.0.1", "/callback", "s", ports=tuple(ports)).start()
        assert all(str(p) in busy.value.message for p in ports)
        assert busy.value.exit_code == ExitCode.NETWORK
        free = socket.socket()
        free.bind(("127.0.0.1", 0))
        free_port = free.getsockname()[1]
        free.close()
        server = LoopbackServer("127.0.0.1", "/callback", "s", ports=(*ports, free_port))
        with server:
            assert server.port == free_port
    finally:
        for sock in blockers:
            sock.close()


def test_localhost_redirect_listens_on_ipv4_and_ipv6_loopback():
    server = LoopbackServer("localhost", "/callback", "s")
    with server:
        assert server.redirect_uri.startswith(f"http://localhost:{server.port}/")
        families = {s.address_family for s in server._servers}
        assert socket.AF_INET in families
        if socket.has_ipv6 and _ipv6_loopback():
            assert socket.AF_INET6 in families
            assert _get(f"http://[::1]:{server.port}/favicon.ico").status_code == 404


def test_a_localhost_listener_whose_ipv6_port_is_refused_moves_to_another_port(monkeypatch):
    """The browser may resolve localhost to ::1: if [::1]:port is somebody else's (or
    forbidden, as Windows says with WSAEACCES/WSAEADDRINUSE), the callback would go
    there, so that port is not used at all."""
    import errno

    from integray_auth.oauth import loopback

    refused: set[int] = set()

    class RefusingIPv6(loopback._Server6):
        def __init__(self, address, handler):
            if address[1] in refused:
                raise OSError(errno.EACCES, "An attempt was made to access a socket in a way forbidden")
            super().__init__(address, handler)

    monkeypatch.setattr(loopback, "_Server6", RefusingIPv6)
    ports = []
    for _ in range(2):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            ports.append(probe.getsockname()[1])
    refused.add(ports[0])

    with LoopbackServer("localhost", "/callback", "s", ports=tuple(ports)) as server:
        assert server.port == ports[1]
        if socket.has_ipv6 and _ipv6_loopback():
            assert socket.AF_INET6 in {s.address_family for s in server._servers}


def test_waiting_for_the_callback_is_done_in_short_slices(listener, monkeypatch):
    """On Windows (Python < 3.14) one long lock wait defers Ctrl-C until it ends."""
    slices = []
    real_wait = listener._received.wait

    def wait(timeout=None):
        slices.append(timeout)
        return real_wait(timeout)

    monkeypatch.setattr(listener._received, "wait", wait)
    assert listener.wait(0.8) is None
    assert slices and max(slices) <= 0.25
    assert 0.7 <= sum(slices) <= 0.9


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


def test_listener_is_closed_after_use():
    server = LoopbackServer("127.0.0.1", "/callback", "s")
    with server:
        port = server.port
    with pytest.raises(requests.ConnectionError):
        _get(f"http://127.0.0.1:{port}/callback")


class WindowsLimitKeyring:
    """Behaves like Windows Credential Manager: refuses > 1,280 characters."""

    def __init__(self):
        self.entries = {}

    def get_password(self, service, key):
        return self.entries.get((service, key))

    def set_password(self, service, key, value):
        if len(value) * 2 > 2560:
            raise OSError(1783, "CredWrite", "The stub received bad data.")
        self.entries[(service, key)] = value

    def delete_password(self, service, key):
        from keyring.errors import PasswordDeleteError

        if self.entries.pop((service, key), None) is None:
            raise PasswordDeleteError("No such password!")


def _big_tokens(size: int) -> TokenSet:
    return TokenSet(access_token="a" * size, refresh_token="r" * 600, id_token="h.p.s", scope=["read"],
                    expires_at="2030-01-01T00:00:00Z")


def test_large_tokens_are_chunked_under_the_windows_limit_and_round_trip():
    backend = WindowsLimitKeyring()
    tokens = ChunkedTokens(KeyringStore(backend))
    big = _big_tokens(4000)
    tokens.save("abc", big)
    assert all(len(v) <= CHUNK_SIZE for v in backend.entries.values())
    assert len(backend.entries) > 2
    assert tokens.load("abc") == big
    # Saving again replaces the generation and leaves no old chunk behind.
    smaller = _big_tokens(2500)
    tokens.save("abc", smaller)
    assert tokens.load("abc") == smaller
    assert len(backend.entries) == 1 + -(-len(smaller.to_secret()) // CHUNK_SIZE)
    tokens.delete("abc")
    assert backend.entries == {}


def test_small_tokens_are_one_entry_and_a_corrupt_chunk_reads_as_missing():
    backend = WindowsLimitKeyring()
    tokens = ChunkedTokens(KeyringStore(backend))
    tokens.save("small", TokenSet(access_token="x"))
    assert len(backend.entries) == 1
    tokens.save("big", _big_tokens(3000))
    chunk_key = next(k for k in backend.entries if k[1].startswith("authorization:big#"))
    backend.entries[chunk_key] = "tampered"
    assert tokens.load("big") is None


@pytest.mark.parametrize(
    "primary",
    ['{"manifest":{"v":1,"chunks":"2","gen":"g","sha256":"x"}}', '{"manifest":{"v":1,"chunks":true,"gen":"g","sha256":"x"}}',
     "[1, 2]", '"just a string"', "null"],
    ids=["chunks-a-string", "chunks-a-boolean", "a-list", "a-string", "null"],
)
def test_a_hand_edited_entry_reads_as_missing_rather_than_crashing(primary):
    """The insecure token file is a JSON file people can edit; what `token` cannot use
    is "missing" (exit 12, run authorize), never an unexpected error."""
    backend = WindowsLimitKeyring()
    backend.entries[("integray-auth", "authorization:abc")] = primary
    assert ChunkedTokens(KeyringStore(backend)).load("abc") is None


def test_keyring_failures_become_storage_errors_without_tracebacks():
    from integray_auth.errors import StorageError

    class Broken(WindowsLimitKeyring):
        def set_password(self, service, key, value):
            raise RuntimeError("D-Bus said no\nsecond line")

    with pytest.raises(StorageError) as error:
        KeyringStore(Broken()).set("k", "v")
    assert "D-Bus said no" in error.value.message and "\n" not in error.value.message


def test_fail_and_null_keyrings_are_not_usable():
    from keyring.backends import fail, null

    from integray_auth.errors import StorageError

    for backend in (fail.Keyring(), null.Keyring()):
        with pytest.raises(StorageError) as error:
            KeyringStore(backend).check_usable()
        assert "--insecure-storage" in error.value.hint


def test_token_set_never_shows_its_secrets():
    tokens = TokenSet(access_token="SECRET-ACCESS", refresh_token="SECRET-REFRESH", id_token="SECRET-ID")
    assert "SECRET" not in repr(tokens) and "SECRET" not in str(tokens)


_MOMENTS = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)).map(
    lambda moment: moment.replace(microsecond=0, tzinfo=timezone.utc))


@settings(max_examples=200, deadline=None)
@given(_MOMENTS, st.integers(min_value=-400 * 86400, max_value=400 * 86400), st.integers(min_value=0, max_value=86400))
def test_expiry_in_whole_seconds_agrees_with_datetime(moment, offset, leeway):
    stored = moment.isoformat().replace("+00:00", "Z")
    assert utc_seconds(stored) == int(moment.timestamp())
    tokens = TokenSet(access_token="a", expires_at=stored)
    try:
        now = moment + timedelta(seconds=offset)
    except OverflowError:
        return
    assert tokens.expires_within(int(now.timestamp()), leeway) == tokens.expired(now, timedelta(seconds=leeway))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789-:TZ+.x \u0663", min_size=18, max_size=22) | st.sampled_from(
    ["2024-02-29T00:00:00Z", "2023-02-29T00:00:00Z", "0000-01-01T00:00:00Z", "2026-13-01T00:00:00Z",
     "2026-01-01T24:00:00Z", "2026-01-01T00:60:00Z", "2026-01-01T00:00:60Z", "2026-01-01T00:00:00+00:00",
     "2026-01-01T00:00:00.5Z", "2026-01-01 00:00:00Z", "2026-04-31T00:00:00Z", "\u0663026-01-01T00:00:00Z"]))
def test_any_stored_expiry_text_is_judged_as_datetime_judges_it(stored):
    tokens = TokenSet(access_token="a", expires_at=stored)
    now = datetime(2026, 6, 1, tzinfo=timezone.utc)
    assert tokens.expires_within(int(now.timestamp()), 60) == tokens.expired(now, timedelta(seconds=60))
    if utc_seconds(stored) is not None:  # only the tool's own spelling, and only real dates
        assert datetime.fromisoformat(stored.replace("Z", "+00:00")).timestamp() == utc_seconds(stored)


def test_token_set_from_response_computes_absolute_expiry_and_scope():
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    tokens = TokenSet.from_response({"access_token": "a", "expires_in": 3600, "scope": "read write"}, now, ["read"])
    assert tokens.expires_at == "2026-01-01T01:00:00Z"
    assert tokens.scope == ["read", "write"]
    assert not tokens.expired(now)
    assert tokens.expired(now + timedelta(minutes=59, seconds=30))  # 60 s leeway
    omitted = TokenSet.from_response({"access_token": "a"}, now, ["read"])
    assert omitted.scope == ["read"] and omitted.expires_at is None
    commas = TokenSet.from_response({"access_token": "a", "scope": "a,b"}, now, [], separator=",")
    assert commas.scope == ["a", "b"]


def test_granted_scopes_are_matched_to_the_requested_names():
    from integray_auth.scopes import granted_as_requested

    # Microsoft: fully-qualified names back, offline_access and openid left out.
    requested = ["openid", "offline_access", "User.Read", "Mail.Read"]
    granted = ["https://graph.microsoft.com/User.Read", "https://graph.microsoft.com/Mail.Read", "profile"]
    assert granted_as_requested(requested, granted, has_refresh_token=True, has_id_token=True) == [
        "User.Read", "Mail.Read", "profile", "offline_access", "openid"]
    # Nothing is invented: no refresh token, no id_token, a scope really missing.
    assert granted_as_requested(requested, ["User.Read"], False, False) == ["User.Read"]
    assert granted_as_requested(["read"], ["unread"], False, False) == ["unread"]


def test_the_recorded_keyring_backend_is_loaded_directly_but_never_overrides_the_user(monkeypatch):
    import sys
    import types

    import keyring
    import keyring.core
    from keyring.backends import fail

    from integray_auth.stores import secrets as secret_store

    class Recorded:  # not a KeyringBackend subclass: those register themselves globally
        priority = 5

    module = types.ModuleType("keyrings.integraytest")
    module.Recorded = Recorded
    monkeypatch.setitem(sys.modules, "keyrings.integraytest", module)
    name = "keyrings.integraytest.Recorded"

    # Only keyring backends may be named by the index, and only viable ones are used.
    assert secret_store._load_backend("os.system") is None
    assert secret_store._load_backend("keyring.backends.SecretService.Keyring") is None  # no D-Bus in tests
    assert isinstance(secret_store._load_backend(name), Recorded)
    # A backend set in this process (the tests' memory keyring) always wins.
    assert secret_store._choose_backend(name) is keyring.get_keyring()
    # Without one, the recorded class is used, unless the user pinned another.
    monkeypatch.setattr(keyring.core, "_keyring_backend", None)
    monkeypatch.setattr(keyring.core, "load_config", lambda: None)
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND")
    assert isinstance(secret_store._choose_backend(name), Recorded)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    assert isinstance(secret_store._choose_backend(name), fail.Keyring)



@pytest.mark.parametrize("payload", [b"[]", b'"someone"', b"42", b"null"])
def test_an_id_token_whose_claims_are_not_an_object_names_no_account(payload):
    """Read inside the last index transaction of an authorization: a crash there
    would leave the fresh tokens behind a Not authorized entry."""
    import base64

    from integray_auth.usecases.authorize import _account_label

    body = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
    assert _account_label(TokenSet(access_token="a", id_token=f"h.{body}.s")) is None
    email = base64.urlsafe_b64encode(b'{"email": "a@example.com"}').rstrip(b"=").decode()
    assert _account_label(TokenSet(access_token="a", id_token=f"h.{email}.s")) == "a@example.com"


def test_closing_waits_until_the_browser_has_its_final_page():
    """The CLI exits right after close(): a daemon handler still writing the
    page would die with the process and the user would see "connection reset"."""
    import subprocess
    import sys

    script = """
import os, sys
from integray_auth.oauth.loopback import LoopbackServer
server = LoopbackServer("127.0.0.1", "/callback", state="s")
server.start()
print(server.port, flush=True)
server.wait(30)
server.finish(b"<p>the outcome</p>")
server.close()
os._exit(0)  # as abrupt as the end of the CLI process: daemon threads die here
"""
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        response = _get(f"http://127.0.0.1:{port}/callback?" + urlencode({"code": "c", "state": "s"}))
        assert response.status_code == 200 and response.content == b"<p>the outcome</p>"
    finally:
        proc.wait(10)


def test_an_unreadable_expiry_means_refresh_not_a_crash():
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert TokenSet(access_token="a", expires_at="next tuesday").expired(now)
