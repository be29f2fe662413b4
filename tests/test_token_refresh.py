"""`token` when the access token has expired: what each answer of the token
endpoint does to the stored tokens and to the authorization's status.

A stand-in token endpoint on loopback answers exactly what a test scripts,
including answers no good provider gives, so every one of them ends in a
documented exit code and one line on stderr, never "unexpected error".
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from integray_auth.errors import ExitCode, StorageError
from integray_auth.stores.file_store import FileStore
from integray_auth.stores.files import take_lock
from integray_auth.stores.index import Index
from integray_auth.stores.locks import lock_path
from integray_auth.stores.secrets import ChunkedTokens
from integray_auth.tokens import TokenSet
from integray_auth.usecases import access_token as token_usecase
from tests.support.cli import SCRIPT, assert_error_line
from tests.support.refresh import EXPIRED, TokenEndpointStandIn, authorized, endpoint, overlay_text, state, stored  # noqa: F401
from tests.support.stand_in import flood, trickle


def test_a_rotated_refresh_token_is_kept_and_an_omitted_scope_means_the_one_granted_before(cli, endpoint, authorized, home):
    overlay = authorized(endpoint.url + "/token")
    # RFC 6749 §5.1: no "scope" in the answer means the scope asked for, and a refresh
    # asks for the one granted before (only `read`), not all the connectors requested.
    endpoint.answer(200, {"access_token": "new-access", "token_type": "Bearer", "expires_in": 3600, "refresh_token": "new-refresh"})

    result = cli("--registry", str(overlay), "token", "Stub")

    assert result.code == 0, result.stderr
    assert result.stdout == "new-access\n"
    assert "grant_type=refresh_token" in endpoint.requests[0] and "refresh_token=old-refresh" in endpoint.requests[0]
    assert stored(home)["refresh_token"] == "new-refresh"
    shown = state(cli, overlay)
    assert shown["status"] == "authorized"
    assert shown["granted_scopes"] == ["read"]
    assert {line["scope"]: line["granted"] for line in shown["scopes"]} == {"read": True, "write": False}


def test_a_successful_refresh_clears_a_rejection_status_check_recorded(cli, endpoint, authorized, home):
    # As `status --check` leaves an authorization whose access token the provider refused.
    overlay = authorized(endpoint.url + "/token")
    with Index(home / "index.json", home / "index.lock").transaction() as authorizations:
        authorizations[0].rejected_at = "2030-01-01T00:00:00Z"
    listed = cli("--registry", str(overlay), "list", "--json").json()["authorizations"]
    assert [(a["health"], a["usable"]) for a in listed] == [("needs_reauthorization", False)]
    assert cli("--registry", str(overlay), "status", "Stub").code == ExitCode.NOT_AUTHORIZED
    endpoint.answer(200, {"access_token": "new-access", "token_type": "Bearer", "expires_in": 3600, "scope": "read write"})

    assert cli("--registry", str(overlay), "token", "Stub").stdout == "new-access\n"

    assert json.loads((home / "index.json").read_text())["authorizations"][0]["rejected_at"] is None
    assert state(cli, overlay)["health"] == "authorized"
    assert cli("--registry", str(overlay), "status", "Stub").code == 0


@pytest.mark.parametrize(
    ("status", "error"),
    [(503, "temporarily_unavailable"), (500, "server_error"), (401, "invalid_client"), (400, "unauthorized_client")],
)
def test_a_refusal_that_is_not_invalid_grant_keeps_the_authorization(cli, endpoint, authorized, home, status, error):
    """Only invalid_grant means the grant is gone. A provider having a bad minute, or a
    client id to fix, must not turn the authorization Not authorized (and so make the
    user consent again) while its refresh token is still good."""
    overlay = authorized(endpoint.url + "/token")
    endpoint.answer(status, {"error": error})

    result = cli("--registry", str(overlay), "token", "Stub")

    assert_error_line(result, ExitCode.AUTHORIZATION, f"Stub refused: {error}")
    assert state(cli, overlay)["status"] == "authorized"
    assert stored(home)["refresh_token"] == "old-refresh"

    endpoint.answer(200, {"access_token": "later", "token_type": "Bearer", "expires_in": 3600})
    assert cli("--registry", str(overlay), "token", "Stub").stdout == "later\n"


def test_invalid_grant_turns_the_authorization_not_authorized(cli, endpoint, authorized):
    overlay = authorized(endpoint.url + "/token")
    endpoint.answer(400, {"error": "invalid_grant", "error_description": "revoked"})

    result = cli("--registry", str(overlay), "token", "Stub")

    assert_error_line(result, ExitCode.NOT_AUTHORIZED, "invalid_grant", "now Not authorized", "integray-auth authorize Stub")
    assert state(cli, overlay)["status"] == "not_authorized"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"token_type": "Bearer", "expires_in": 3600}, "has no access_token"),
        ({"access_token": "", "token_type": "Bearer"}, "has no access_token"),
        ({"access_token": "x", "token_type": "Bearer", "scope": 5}, "cannot read the token response"),
        ('{"access_token": "x", "token_type": "Bearer", "expires_in": 1e400}', "cannot read the token response"),
    ],
    ids=["no-access-token", "empty-access-token", "scope-a-number", "expires-in-infinite"],
)
def test_a_malformed_token_response_is_a_network_error_not_a_crash(cli, endpoint, authorized, home, body, fragment):
    overlay = authorized(endpoint.url + "/token")
    endpoint.answer(200, body)

    result = cli("--registry", str(overlay), "token", "Stub")

    assert_error_line(result, ExitCode.NETWORK, fragment)
    assert state(cli, overlay)["status"] == "authorized"
    assert stored(home)["refresh_token"] == "old-refresh"


def test_an_expires_in_beyond_the_calendar_is_no_expiry_rather_than_a_crash(cli, endpoint, authorized):
    overlay = authorized(endpoint.url + "/token")
    endpoint.answer(200, {"access_token": "forever", "token_type": "Bearer", "expires_in": 10**20})

    result = cli("--registry", str(overlay), "token", "Stub")

    assert result.code == 0, result.stderr
    assert result.stdout == "forever\n"
    assert state(cli, overlay)["expires_at"] is None


def test_a_ca_bundle_that_does_not_exist_is_a_network_error_and_remove_still_removes(cli, authorized, tmp_path):
    """requests raises a bare OSError (not a RequestException) for REQUESTS_CA_BUNDLE
    naming no file, a variable docs/commands.md documents."""
    overlay = authorized("https://127.0.0.1:9/token", revocation_url="https://127.0.0.1:9/revoke")
    env = {"REQUESTS_CA_BUNDLE": str(tmp_path / "no-such-bundle.pem")}

    result = cli("--registry", str(overlay), "token", "Stub", env=env)

    assert_error_line(result, ExitCode.NETWORK, "no-such-bundle.pem", "REQUESTS_CA_BUNDLE")
    assert state(cli, overlay)["status"] == "authorized"

    removed = cli("--registry", str(overlay), "remove", "Stub", "--yes", env=env)
    assert removed.code == 0, removed.stderr
    assert "could not revoke" in removed.stderr and "Removed 'Stub'." in removed.stderr


def _lock_of(home: Path) -> Path:
    [entry] = Index(home / "index.json", home / "index.lock").load()
    return lock_path(home, entry.id)


def test_a_refresh_lock_held_too_long_is_a_storage_error_not_a_crash(make_ctx, endpoint, authorized, home, monkeypatch):
    overlay = authorized(endpoint.url + "/token")
    monkeypatch.setattr(token_usecase, "LOCK_MARGIN", 0.0)
    ctx = make_ctx(registry_path=overlay)
    ctx.environ["INTEGRAY_AUTH_HTTP_TIMEOUT"] = "0.1"  # the lock is waited for as long as one exchange may take

    with take_lock(_lock_of(home)):  # another `token` busy refreshing
        with pytest.raises(StorageError) as caught:
            token_usecase.access_token(ctx, "Stub")

    assert "refreshing the token of 'Stub'" in caught.value.message
    assert endpoint.requests == []


def test_a_refresh_lock_that_cannot_be_created_is_a_storage_error_not_a_crash(cli, endpoint, authorized, home):
    overlay = authorized(endpoint.url + "/token")
    lock = _lock_of(home)
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.mkdir()  # stands for a folder we may read but not write

    result = cli("--registry", str(overlay), "token", "Stub")

    assert_error_line(result, ExitCode.STORAGE, str(lock))


# --- the token endpoint cannot hold the tool hostage -------------------------------------

GOOD_ANSWER = json.dumps({"access_token": "new-access", "token_type": "Bearer", "expires_in": 3600}).encode()


@pytest.mark.parametrize("phase", ["headers", "body"])
def test_a_trickling_token_endpoint_is_cut_off_at_the_deadline(cli, endpoint, authorized, home, phase):
    """One byte a second never trips requests' per-read timeout (30 s); only a
    deadline for the whole exchange ends it. The old code waited for all of it."""
    overlay = authorized(endpoint.url + "/token")
    sent = []

    def slow(handler):
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(GOOD_ANSWER)
        if phase == "headers":
            sent.append(trickle(handler, head + GOOD_ANSWER, endpoint.stop))
        else:
            handler.wfile.write(head)
            handler.wfile.flush()
            sent.append(trickle(handler, GOOD_ANSWER, endpoint.stop))

    endpoint.answer_with(slow)
    started = time.monotonic()

    result = cli("--registry", str(overlay), "token", "Stub", env={"INTEGRAY_AUTH_HTTP_TIMEOUT": "2"}, timeout=40)

    elapsed = time.monotonic() - started
    assert_error_line(result, ExitCode.NETWORK, "did not complete its answer within 2 seconds", "INTEGRAY_AUTH_HTTP_TIMEOUT")
    assert "unexpected error" not in result.stderr
    # Structural, not a benchmark: far below the ~70 s the trickle lasts, above the deadline.
    assert 2 <= elapsed < 15, elapsed
    assert stored(home)["refresh_token"] == "old-refresh"
    assert state(cli, overlay)["status"] == "authorized"


def _chunked_head() -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"


@pytest.mark.parametrize("phase", ["headers", "body"])
def test_an_answer_that_stalls_longer_than_a_read_may_wait_is_reported_as_the_deadline(cli, endpoint, authorized, home,
                                                                                       phase):
    """A stall longer than the old per-read timeout (30 s) but inside the deadline: the
    read used to give up first and say "cannot connect to 127.0.0.1:PORT" (a body; in
    a chunked one requests' ChunkedEncodingError, when the connection broke after it) or
    "did not answer in time" (headers), neither naming the deadline. Now every read
    waits until the deadline, and the deadline is what the message names."""
    overlay = authorized(endpoint.url + "/token")
    chunk = b"%x\r\n%s\r\n0\r\n\r\n" % (len(GOOD_ANSWER), GOOD_ANSWER)

    def stalling(handler):
        first = _chunked_head()[:20] if phase == "headers" else _chunked_head() + chunk[:12]
        handler.wfile.write(first)
        handler.wfile.flush()
        rest = (_chunked_head() + chunk)[len(first):]
        trickle(handler, rest, endpoint.stop, every=45)  # one byte, then silence past the deadline

    endpoint.answer_with(stalling)

    result = cli("--registry", str(overlay), "token", "Stub", env={"INTEGRAY_AUTH_HTTP_TIMEOUT": "31"}, timeout=120)

    assert_error_line(result, ExitCode.NETWORK, "did not complete its answer within 31 seconds", "INTEGRAY_AUTH_HTTP_TIMEOUT")
    assert stored(home)["refresh_token"] == "old-refresh"


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_an_answer_broken_off_midway_says_so(cli, endpoint, authorized, home, framing):
    """The old message was "request to 127.0.0.1:PORT failed (ChunkedEncodingError)"."""
    overlay = authorized(endpoint.url + "/token")

    def broken_off(handler):
        if framing == "chunked":
            head, body = _chunked_head(), b"%x\r\n%s" % (len(GOOD_ANSWER), GOOD_ANSWER[:10])
        else:
            head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(GOOD_ANSWER)
            body = GOOD_ANSWER[:10]
        handler.wfile.write(head)
        trickle(handler, body, endpoint.stop, every=0.05)
        handler.close_connection = True  # and hang up before the answer is complete

    endpoint.answer_with(broken_off)

    result = cli("--registry", str(overlay), "token", "Stub", env={"INTEGRAY_AUTH_HTTP_TIMEOUT": "20"}, timeout=60)

    line = assert_error_line(result, ExitCode.NETWORK, "broke off its answer before it was complete")
    assert "ChunkedEncodingError" not in line
    assert stored(home)["refresh_token"] == "old-refresh"


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_60_mb_token_answer_is_refused_without_reading_it_all(cli, endpoint, authorized, home, framing):
    """The old code read all 60 MB and stored a 60 MB 'access token'."""
    overlay = authorized(endpoint.url + "/token")
    size = 60 * 1024 * 1024
    sent = []
    endpoint.answer_with(
        lambda handler: sent.append(
            flood(handler, b'{"token_type": "Bearer", "access_token": "', b"a", size, b'"}', chunked=framing == "chunked")
        )
    )

    result = cli("--registry", str(overlay), "token", "Stub")

    assert_error_line(result, ExitCode.NETWORK, "larger than 256 KB")
    assert "unexpected error" not in result.stderr
    deadline = time.monotonic() + 10
    while not sent and time.monotonic() < deadline:
        time.sleep(0.05)
    # What the socket buffers took before the client hung up; nowhere near 60 MB.
    assert sent and sent[0] < 20 * 1024 * 1024, sent
    assert stored(home)["refresh_token"] == "old-refresh"


def test_the_deadline_setting_is_checked_and_the_token_lock_outlasts_it(cli, endpoint, authorized, make_ctx):
    overlay = authorized(endpoint.url + "/token")
    for bad in ("soon", "0", "-5", "nan", "inf", "99999"):
        result = cli("--registry", str(overlay), "token", "Stub", env={"INTEGRAY_AUTH_HTTP_TIMEOUT": bad})
        assert_error_line(result, ExitCode.USAGE, "INTEGRAY_AUTH_HTTP_TIMEOUT must be a number of seconds")
    assert endpoint.requests == []

    ctx = make_ctx()
    assert token_usecase.lock_timeout(ctx) > 60  # the default deadline
    ctx.environ["INTEGRAY_AUTH_HTTP_TIMEOUT"] = "600"
    assert token_usecase.lock_timeout(ctx) > 600  # a waiter outlasts one holder's whole exchange


def test_revocation_answers_are_capped_too(cli, endpoint, authorized):
    overlay = authorized(endpoint.url + "/token", revocation_url=endpoint.url + "/revoke")
    endpoint.answer_with(lambda handler: flood(handler, b"[", b"0,", 60 * 1024 * 1024, b"0]", chunked=True))

    removed = cli("--registry", str(overlay), "remove", "Stub", "--yes")

    assert removed.code == 0, removed.stderr
    assert "could not revoke the grant at Stub" in removed.stderr and "larger than 256 KB" in removed.stderr
    assert "Removed 'Stub'." in removed.stderr


# --- what the token endpoint answers is checked -------------------------------------------

@pytest.mark.parametrize("token_type", ["mac", "", 7, "Bearer\u202e"])
def test_a_token_type_other_than_bearer_is_refused_and_nothing_stored(cli, endpoint, authorized, home, token_type):
    """A MAC (or unknown) token needs a proof the tool cannot give: handing it out
    as if it were Bearer is wrong. The old code stored it."""
    overlay = authorized(endpoint.url + "/token")
    endpoint.answer(200, {"access_token": "mac-access", "token_type": token_type, "refresh_token": "mac-refresh"})

    result = cli("--registry", str(overlay), "token", "Stub")

    line = assert_error_line(result, ExitCode.NETWORK, "token_type", "cannot use", "nothing was stored")
    assert "unexpected error" not in result.stderr
    assert "\u202e" not in line  # escaped, not written raw to a terminal
    assert stored(home) == {"v": 1, "access_token": "old-access", "token_type": "Bearer",
                            "refresh_token": "old-refresh", "expires_at": EXPIRED, "scope": ["read"]}
    assert state(cli, overlay)["status"] == "authorized"


def test_bearer_in_any_case_and_the_types_the_registry_declares_are_accepted(cli, endpoint, authorized, home):
    overlay = authorized(endpoint.url + "/token", extra='token_types = ["N_A"]\n')
    endpoint.answer(200, {"access_token": "one", "token_type": "bEARER", "expires_in": 1})
    assert cli("--registry", str(overlay), "token", "Stub").stdout == "one\n"
    assert stored(home)["token_type"] == "Bearer"

    endpoint.answer(200, {"access_token": "two", "token_type": "n_a", "expires_in": 1})
    assert cli("--registry", str(overlay), "token", "Stub").stdout == "two\n"
    assert stored(home)["token_type"] == "N_A"


@pytest.mark.parametrize(
    ("value", "problem"),
    [("[1]", "1 is not a token type name"), ('"Bearer"', "must be a list"),
     ('["two words"]', "'two words' is not a token type name"), ('[""]', "'' is not a token type name")],
)
def test_registry_token_types_are_validated_with_file_provider_and_field(cli, tmp_path, value, problem):
    overlay = tmp_path / "stub.toml"
    overlay.write_text(overlay_text("https://stub.example/token", extra=f"token_types = {value}\n"))

    result = cli("--registry", str(overlay), "providers", "show", "stub")

    assert_error_line(result, ExitCode.REGISTRY, "stub.toml", "provider 'stub'", "field 'token_types'", problem)

    overlay.write_text(overlay_text("https://stub.example/token", extra='token_types = ["N_A", "pop.v1"]\n'))
    shown = cli("--registry", str(overlay), "providers", "show", "stub", "--json")
    assert shown.code == 0, shown.stderr
    assert shown.json()["provider"]["token_types"] == ["N_A", "pop.v1"]


def test_the_exchange_refuses_a_mac_token_too(tmp_path, endpoint):
    """authorize stores only what exchange_code returns: a refusal there saves nothing."""
    from integray_auth.errors import NetworkError
    from integray_auth.models import utc_now
    from integray_auth.oauth.endpoint import ClientCredentials, TokenEndpoint
    from integray_auth.registry.loading import load_registry

    overlay = tmp_path / "exchange.toml"
    overlay.write_text(overlay_text(endpoint.url + "/token"))
    provider = load_registry([overlay]).get("stub")
    endpoint.answer(200, {"access_token": "a", "token_type": "MAC", "mac_key": "k"})

    with pytest.raises(NetworkError) as refused:
        TokenEndpoint(provider, ClientCredentials("stub-client"), deadline=5).exchange_code(
            "code", "http://127.0.0.1:1/callback", "v" * 43, ["read"], utc_now()
        )
    assert "token_type 'MAC'" in refused.value.message


@pytest.mark.parametrize("value", ["soon", "", "3600s", True, [3600], {"s": 1}])
def test_an_expires_in_that_is_not_a_number_names_the_field(cli, endpoint, authorized, home, value):
    overlay = authorized(endpoint.url + "/token")
    endpoint.answer(200, {"access_token": "x", "token_type": "Bearer", "expires_in": value})

    result = cli("--registry", str(overlay), "token", "Stub")

    assert_error_line(result, ExitCode.NETWORK, "field 'expires_in'", "not a number of seconds")
    assert "unexpected error" not in result.stderr
    assert stored(home)["refresh_token"] == "old-refresh"


def test_an_expires_in_sent_as_a_numeric_string_is_read(cli, endpoint, authorized):
    overlay = authorized(endpoint.url + "/token")
    endpoint.answer(200, {"access_token": "x", "token_type": "Bearer", "expires_in": "3600"})

    result = cli("--registry", str(overlay), "token", "Stub")

    assert result.code == 0, result.stderr
    assert state(cli, overlay)["expires_at"] is not None


# --- remove revokes the token a concurrent refresh may have just rotated ------------------

def test_remove_reads_the_token_to_revoke_under_the_token_lock(cli, endpoint, authorized, home):
    """While another process holds the token lock (a refresh in flight), remove
    must neither revoke nor delete; once it is released, remove revokes the
    refresh token that refresh stored, not the one it read before. The old code
    revoked the old token at once, outside the lock, and left the fresh one alive."""
    overlay = authorized(endpoint.url + "/token", revocation_url=endpoint.url + "/revoke")
    endpoint.answer(200, "")
    [entry] = Index(home / "index.json", home / "index.lock").load()
    store = ChunkedTokens(FileStore(home / "tokens-insecure.json", home / "tokens-insecure.lock"))
    env = dict(os.environ)

    with take_lock(lock_path(home, entry.id)):  # the refresh in flight
        remove = subprocess.Popen(
            [str(SCRIPT), "--registry", str(overlay), "remove", "Stub", "--yes"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        try:
            time.sleep(3)  # ample for remove to start and, on the old code, to revoke
            assert remove.poll() is None, remove.communicate()
            assert endpoint.requests == []
            # ...the refresh rotates the refresh token and stores the new set.
            store.save(entry.id, TokenSet(access_token="new-access", refresh_token="rotated-refresh", scope=["read"]))
        except BaseException:
            remove.kill()
            raise
    out, err = remove.communicate(timeout=60)

    assert remove.returncode == 0, err
    assert "Revoked the grant at Stub." in err and "Removed 'Stub'." in err
    [revocation] = endpoint.requests
    assert "token=rotated-refresh" in revocation and "old-refresh" not in revocation
    assert json.loads((home / "tokens-insecure.json").read_text())["entries"] == {}
