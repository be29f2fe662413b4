"""The loopback listener against other local users and hostile clients: the one-time
short URL, the Host check, repeated parameters, bounded connections with a whole-request
deadline, the final page owed per request, and the browser started without our secrets.
Property tests (Hypothesis) of the callback parser and of the listener fed arbitrary bytes."""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from urllib.parse import urlencode, urlsplit

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integray_auth.errors import AuthorizationFailed, ExitCode
from integray_auth.oauth import browser, loopback, pages
from integray_auth.oauth.loopback import CallbackRefused, LoopbackServer, parse_query, split_target

PROVIDER_URL = "https://provider.example/authorize?state=the-state&code_challenge=xyz"


def _listening():
    """A started listener whose flow began at PROVIDER_URL; closed after its tests."""
    server = LoopbackServer("127.0.0.1", "/callback", state="the-state")
    server.start()
    server.start_url = PROVIDER_URL
    yield server
    server.close()


@pytest.fixture
def listener():
    yield from _listening()


def _get(url: str, **headers) -> requests.Response:
    return requests.get(url, headers=headers or None, timeout=10, allow_redirects=False)


def _raw(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """What the listener answers to exactly these bytes (then end of input)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer


def _base(listener) -> str:
    return f"http://127.0.0.1:{listener.port}"


# --- item 5: the short URL and the Host check -------------------------------------------


def test_root_gives_nothing_to_whoever_asks(listener):
    response = _get(_base(listener) + "/")
    assert response.status_code == 404
    assert "Location" not in response.headers
    assert "the-state" not in response.text and "provider.example" not in response.text


def test_the_short_url_is_unguessable_and_works_once(listener):
    path = urlsplit(listener.local_url).path
    assert len(path) > 40  # 32 random bytes, base64url
    first = _get(listener.local_url)
    assert first.status_code == 302 and first.headers["Location"] == PROVIDER_URL
    second = _get(listener.local_url)
    assert second.status_code == 410
    assert "Location" not in second.headers and "the-state" not in second.text


def test_a_second_fetch_of_the_short_url_stops_the_flow(listener):
    """Whoever fetched it first may finish the flow with their own account: stop it."""
    _get(listener.local_url)
    _get(listener.local_url)
    with pytest.raises(AuthorizationFailed) as stopped:
        listener.wait(2)
    assert stopped.value.exit_code == ExitCode.AUTHORIZATION
    assert "opened twice" in stopped.value.message and "saved nothing" in stopped.value.message
    # Even the right callback is not taken any more.
    callback = _get(_base(listener) + "/callback?" + urlencode({"code": "c", "state": "the-state"}))
    assert callback.status_code == 400
    assert listener.result is None


def test_short_urls_of_two_listeners_differ():
    paths = {urlsplit(LoopbackServer("127.0.0.1", "/callback", "s").local_url).path for _ in range(20)}
    assert len(paths) == 20


@pytest.mark.parametrize("host", ["attacker.example", "localhost", "127.0.0.1", "127.0.0.2:{port}",
                                  "localhost:{port}", "attacker.example:{port}", "127.0.0.1:{port}.attacker.example"])
def test_a_wrong_host_gets_nothing_and_spends_nothing(listener, host):
    host = host.format(port=listener.port)
    callback = _base(listener) + "/callback?" + urlencode({"code": "c", "state": "the-state"})
    for url in (listener.local_url, callback, _base(listener) + "/favicon.ico"):
        response = _get(url, Host=host)
        assert response.status_code == 421, url
        assert "Location" not in response.headers and "the-state" not in response.text
    assert listener.wait(0.05) is None
    # The refused requests spent neither the short URL nor the callback.
    assert _get(listener.local_url).status_code == 302
    threading.Thread(target=lambda: (listener.wait(5), listener.finish(b"done")), daemon=True).start()
    assert _get(callback).content == b"done"


def test_no_host_or_two_hosts_get_nothing(listener):
    path = urlsplit(listener.local_url).path.encode()
    assert _raw(listener.port, b"GET " + path + b" HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.0 421")
    two = b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nHost: attacker.example\r\n\r\n" % listener.port
    assert _raw(listener.port, two).startswith(b"HTTP/1.0 421")
    assert _get(listener.local_url).status_code == 302


def test_a_localhost_listener_answers_its_names_and_literals():
    server = LoopbackServer("localhost", "/callback", "s")
    with server:
        server.start_url = PROVIDER_URL
        base = f"http://127.0.0.1:{server.port}"
        assert _get(base + "/favicon.ico", Host=f"localhost:{server.port}").status_code == 404
        assert _get(base + "/favicon.ico").status_code == 404
        assert _get(base + "/favicon.ico", Host=f"[::1]:{server.port}").status_code == 421  # not this socket
        assert server.local_url.startswith(f"http://127.0.0.1:{server.port}/")


# --- item 6: repeated parameters ------------------------------------------------------


@pytest.mark.parametrize("query", [
    [("state", "attacker"), ("state", "the-state"), ("code", "c")],
    [("state", "the-state"), ("code", "attacker"), ("code", "c")],
    [("state", "the-state"), ("error", "access_denied"), ("error", "server_error")],
    [("state", "the-state"), ("code", "c"), ("scope", "a"), ("scope", "b")],
])
def test_repeated_parameters_get_400_and_the_listener_keeps_waiting(listener, query):
    base = _base(listener) + "/callback?"
    response = _get(base + urlencode(query))
    assert response.status_code == 400 and "repeats the parameter" in response.text
    assert listener.wait(0.05) is None
    assert "repeats the parameter" in listener.offer(base + urlencode(query))
    threading.Thread(target=lambda: (listener.wait(5), listener.finish(b"done")), daemon=True).start()
    assert _get(base + urlencode({"code": "right", "state": "the-state"})).content == b"done"
    assert listener.result.params == {"code": "right", "state": "the-state"}


def test_repeated_iss_gets_400():
    server = LoopbackServer("127.0.0.1", "/callback", state="s", expected_issuer="https://as.example")
    with server:
        query = urlencode([("code", "c"), ("state", "s"), ("iss", "https://evil.example"), ("iss", "https://as.example")])
        assert _get(f"http://127.0.0.1:{server.port}/callback?{query}").status_code == 400
        assert server.wait(0.05) is None


# --- item 7: bounded connections, whole-request deadline ---------------------------------


def test_connections_beyond_the_bound_are_closed_at_once(listener):
    idle = [socket.create_connection(("127.0.0.1", listener.port), timeout=5) for _ in range(loopback.MAX_CONNECTIONS)]
    try:
        time.sleep(0.2)
        extra = socket.create_connection(("127.0.0.1", listener.port), timeout=3)
        started = time.monotonic()
        try:
            assert extra.recv(100) == b""
        except ConnectionResetError:
            pass
        assert time.monotonic() - started < 2
        extra.close()
    finally:
        for sock in idle:
            sock.close()
    # The slots come back when those connections end.
    deadline = time.monotonic() + 5
    while True:
        try:
            assert _get(_base(listener) + "/favicon.ico").status_code == 404
            break
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_a_trickling_client_is_cut_off_at_the_request_deadline(monkeypatch):
    """A byte every 0.3 s never trips a per-read timeout; the whole request has one deadline."""
    monkeypatch.setattr(loopback, "REQUEST_DEADLINE", 1.0)
    with LoopbackServer("127.0.0.1", "/callback", "s") as server:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        started = time.monotonic()
        cut = False
        try:
            for byte in b"GET /favicon.ico HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 40:
                sock.sendall(bytes([byte]))
                time.sleep(0.3)
                if time.monotonic() - started > 4:
                    break
        except (BrokenPipeError, ConnectionResetError):
            cut = True
        if not cut:
            sock.settimeout(1)
            try:
                cut = sock.recv(100) == b""
            except ConnectionResetError:
                cut = True
            except socket.timeout:
                cut = False
        sock.close()
        assert cut and time.monotonic() - started < 4


def test_an_oversized_request_gets_431(listener):
    answer = _raw(listener.port, b"GET /callback HTTP/1.1\r\nX-Big: " + b"a" * (loopback.MAX_REQUEST_HEAD + 10))
    assert answer.startswith(b"HTTP/1.0 431")
    assert listener.wait(0.05) is None


# --- item 8: the final page is owed per request ----------------------------------------


def test_a_refused_second_callback_does_not_let_close_skip_the_first_browsers_page(listener, monkeypatch):
    real_page = pages.page

    def slow_page(*args, **kwargs):
        time.sleep(1.0)
        return real_page(*args, **kwargs)

    url = _base(listener) + "/callback?" + urlencode({"code": "c", "state": "the-state"})
    first: dict = {}
    browser_a = threading.Thread(target=lambda: first.update(response=_get(url)), daemon=True)
    browser_a.start()
    assert listener.wait(5) is not None
    assert _get(url).status_code == 400  # the second browser (a reload, another tab) is refused
    monkeypatch.setattr(pages, "page", slow_page)  # the first browser's page takes a while
    started = time.monotonic()
    listener.close()
    assert time.monotonic() - started >= 0.9  # close waited for it
    browser_a.join(5)
    assert first["response"].status_code == 200


# --- property tests of the parser and of the listener -----------------------------------


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_any_query_is_parsed_or_refused(query):
    try:
        params = parse_query(query)
    except CallbackRefused as refused:
        assert str(refused).startswith("the redirect ")
    else:
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in params.items())


@settings(max_examples=200, deadline=None)
@given(st.binary())
def test_any_request_target_bytes_are_parsed_or_refused(raw):
    target = raw.decode("iso-8859-1")  # as http.server decodes the request line
    path, query = split_target(target)
    assert isinstance(path, str)
    try:
        parse_query(query)
    except CallbackRefused:
        pass


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.text(min_size=1), st.text(), max_size=20))
def test_distinct_parameters_round_trip(params):
    assert parse_query(urlencode(params)) == params


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.text(min_size=1), st.text()), min_size=1, max_size=10), st.data())
def test_a_repeated_parameter_is_always_refused(pairs, data):
    repeated = data.draw(st.sampled_from(pairs))
    with pytest.raises(CallbackRefused, match="repeats the parameter"):
        parse_query(urlencode([*pairs, (repeated[0], data.draw(st.text()))]))


@pytest.fixture(scope="module")
def shared_listener():
    yield from _listening()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(
    st.binary(max_size=2000),
    st.builds(lambda target, rest: b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1:PORT\r\n" + rest + b"\r\n\r\n",
              st.binary(max_size=300), st.binary(max_size=300)),
))
def test_arbitrary_bytes_get_an_http_answer_or_a_close_and_nothing_is_accepted(shared_listener, raw):
    raw = raw.replace(b"PORT", str(shared_listener.port).encode())
    started = time.monotonic()
    answer = _raw(shared_listener.port, raw, timeout=loopback.REQUEST_DEADLINE + 5)
    assert time.monotonic() - started < loopback.REQUEST_DEADLINE + 2
    # An HTTP/0.9 request ("GET /x") gets its page without a status line, as that version has none.
    assert answer == b"" or answer.startswith(b"HTTP/1.") or answer.lower().startswith(b"<!doctype html>")
    assert b"Traceback" not in answer
    # No random request knows the state: nothing is accepted, the short URL stays unspent.
    assert shared_listener.result is None and not shared_listener._start_claimed


# --- item 2: the browser starts without our variables ------------------------------------


def test_child_environment_drops_every_variable_of_ours():
    environ = {
        "INTEGRAY_AUTH_GOOGLE_CLIENT_SECRET": "s1",
        "integray_auth_local_client_secret": "s2",
        "INTEGRAY_AUTH_HOME": "/h",
        "PATH": "/bin",
        "DISPLAY": ":0",
        "BROWSER": "firefox",
    }
    assert browser.child_environment(environ) == {"PATH": "/bin", "DISPLAY": ":0", "BROWSER": "firefox"}


def test_open_url_runs_the_browser_with_a_scrubbed_copy_and_leaves_ours_alone(tmp_path, monkeypatch):
    record = tmp_path / "record.json"
    script = tmp_path / "browser"
    script.write_text(
        f"#!{sys.executable}\nimport json, os, sys\n"
        f"json.dump({{'argv': sys.argv, 'environ': dict(os.environ)}}, open({str(record)!r}, 'w'))\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("INTEGRAY_AUTH_LOCAL_CLIENT_SECRET", "the-client-secret")
    monkeypatch.setenv("BROWSER", str(script))
    monkeypatch.setenv("KEPT_FOR_THE_BROWSER", "yes")
    assert browser.open_url("http://127.0.0.1:1/one-time") is True
    got = json.loads(record.read_text())
    assert got["argv"][1:] == ["http://127.0.0.1:1/one-time"]
    assert got["environ"]["KEPT_FOR_THE_BROWSER"] == "yes"
    assert not any(name.startswith("INTEGRAY_AUTH_") for name in got["environ"])
    assert "the-client-secret" not in json.dumps(got)
    assert os.environ["INTEGRAY_AUTH_LOCAL_CLIENT_SECRET"] == "the-client-secret"


def test_open_url_reports_a_browser_that_fails(monkeypatch, capfd):
    monkeypatch.setenv("BROWSER", "/bin/false")
    assert browser.open_url("http://127.0.0.1:1/x") is False
    assert "Traceback" not in capfd.readouterr().err
