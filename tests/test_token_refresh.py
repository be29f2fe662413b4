"""`token` when the access token has expired: what each answer of the token
endpoint does to the stored tokens and to the authorization's status.

A stand-in token endpoint on loopback answers exactly what a test scripts,
including answers no good provider gives, so every one of them ends in a
documented exit code and one line on stderr, never "unexpected error".
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from integray_auth.errors import ExitCode, IndexError_
from integray_auth.fileutil import file_lock
from integray_auth.index import Index
from integray_auth.secret_store import ChunkedTokens, FileStore
from integray_auth.tokens import TokenSet
from integray_auth.usecases import manage
from integray_auth.usecases import tokens as token_usecase
from tests.conftest import assert_error_line
from tests.support.stand_in import QuietHandler, serve

EXPIRED = "2000-01-01T00:00:00Z"


class TokenEndpointStandIn:
    """Answers every POST with the next scripted (status, JSON body); records the forms."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, str]] = []
        self.requests: list[str] = []
        stand_in = self

        class Handler(QuietHandler):
            def do_POST(self):  # noqa: N802
                stand_in.requests.append(self.read_body().decode())
                status, body = stand_in.answers.pop(0)
                self.send_json(status, body)

        self.server, self.url = serve(Handler)

    def answer(self, status: int, body: dict | str) -> None:
        self.answers.append((status, body if isinstance(body, str) else json.dumps(body)))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def overlay_text(token_url: str, revocation_url: str | None = None) -> str:
    revocation = f'revocation_url = "{revocation_url}"\n' if revocation_url else ""
    return f'''schema_version = 1

[providers.stub]
name = "Stub"
authorization_url = "https://stub.example/authorize"
token_url = "{token_url}"
{revocation}client_id = "stub-client"

[providers.stub.scopes]
read = "Read"
write = "Write"

[providers.stub.connectors.both]
name = "Both"
description = "Reads and writes."
scopes = ["read", "write"]
'''


@pytest.fixture
def endpoint():
    stand_in = TokenEndpointStandIn()
    yield stand_in
    stand_in.close()


@pytest.fixture
def authorized(make_ctx, home, tmp_path):
    """authorized(token_url, ...) -> the overlay: an Authorized 'Stub' whose access
    token has expired, its tokens in the insecure file store, granted only `read`."""

    def make(token_url: str, revocation_url: str | None = None, refresh_token: str = "old-refresh") -> Path:
        overlay = tmp_path / "stub.toml"
        overlay.write_text(overlay_text(token_url, revocation_url))
        ctx = make_ctx(registry_path=overlay)
        entry = manage.save_new(ctx, manage.new_authorization(ctx, "Stub", "stub", ["both"]))
        with Index(home / "index.json", home / "index.lock").transaction() as authorizations:
            [saved] = authorizations
            saved.status, saved.storage, saved.client_id = "authorized", "file", "stub-client"
            saved.granted_scopes = ["read"]
        store = FileStore(home / "tokens-insecure.json", home / "tokens-insecure.lock")
        ChunkedTokens(store).save(
            entry.id, TokenSet(access_token="old-access", refresh_token=refresh_token, expires_at=EXPIRED, scope=["read"])
        )
        return overlay

    return make


def stored(home: Path) -> dict:
    [raw] = json.loads((home / "tokens-insecure.json").read_text())["entries"].values()
    return json.loads(raw)


def state(cli, overlay: Path) -> dict:
    result = cli("--registry", str(overlay), "show", "Stub", "--json")
    assert result.code == 0, result.stderr
    return result.json()["authorization"]


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
    naming no file, a variable the README documents."""
    overlay = authorized("https://127.0.0.1:9/token", revocation_url="https://127.0.0.1:9/revoke")
    env = {"REQUESTS_CA_BUNDLE": str(tmp_path / "no-such-bundle.pem")}

    result = cli("--registry", str(overlay), "token", "Stub", env=env)

    assert_error_line(result, ExitCode.NETWORK, "no-such-bundle.pem", "REQUESTS_CA_BUNDLE")
    assert state(cli, overlay)["status"] == "authorized"

    removed = cli("--registry", str(overlay), "remove", "Stub", "--yes", env=env)
    assert removed.code == 0, removed.stderr
    assert "could not revoke" in removed.stderr and "Removed 'Stub'." in removed.stderr


def test_a_refresh_lock_held_too_long_is_an_index_error_not_a_crash(make_ctx, endpoint, authorized, home, monkeypatch):
    overlay = authorized(endpoint.url + "/token")
    monkeypatch.setattr(token_usecase, "REFRESH_LOCK_TIMEOUT", 0.1)
    ctx = make_ctx(registry_path=overlay)

    with file_lock(home / "refresh.lock"):  # another `token` busy refreshing
        with pytest.raises(IndexError_) as caught:
            token_usecase.access_token(ctx, "Stub")

    assert "refreshing the token of 'Stub'" in caught.value.message
    assert endpoint.requests == []


def test_a_refresh_lock_that_cannot_be_created_is_an_index_error_not_a_crash(cli, endpoint, authorized, home):
    overlay = authorized(endpoint.url + "/token")
    (home / "refresh.lock").mkdir()  # stands for a folder we may read but not write

    result = cli("--registry", str(overlay), "token", "Stub")

    assert_error_line(result, ExitCode.INDEX, "refresh.lock")
