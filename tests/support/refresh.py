"""An expired Authorized authorization in the file store, and a token endpoint stand-in that answers
what a test tells it to: the set-up of the refresh tests."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from integray_auth.stores.file_store import FileStore
from integray_auth.stores.index import Index
from integray_auth.stores.secrets import ChunkedTokens
from integray_auth.tokens import TokenSet
from integray_auth.usecases import manage
from tests.support import overlays
from tests.support.stand_in import QuietHandler, StandIn, running, serve

EXPIRED = "2000-01-01T00:00:00Z"


class TokenEndpointStandIn(StandIn):
    """Answers every POST with the next scripted (status, JSON body), or lets a
    scripted function write the answer itself; records the forms."""

    def __init__(self) -> None:
        self.answers: list = []
        self.requests: list[str] = []
        self.stop = threading.Event()  # ends trickling answers when the test is done
        stand_in = self

        class Handler(QuietHandler):
            def do_POST(self):  # noqa: N802
                stand_in.requests.append(self.read_body().decode())
                answer = stand_in.answers.pop(0)
                if callable(answer):
                    answer(self)
                else:
                    self.send_json(*answer)

        self.server, self.url = serve(Handler)

    def answer(self, status: int, body: dict | str) -> None:
        self.answers.append((status, body if isinstance(body, str) else json.dumps(body)))

    def answer_with(self, write) -> None:
        """write(handler) sends the whole answer, status line included."""
        self.answers.append(write)

    def close(self) -> None:
        self.stop.set()
        super().close()


def overlay_text(token_url: str, revocation_url: str | None = None, extra: str = "") -> str:
    revocation = f'revocation_url = "{revocation_url}"\n' if revocation_url else ""
    return overlays.overlay_text(overlays.stub(
        token_url, fields=revocation + extra, scopes={"read": "Read", "write": "Write"},
        connectors=(("both", "Both", "Reads and writes.", ("read", "write")),)))


@pytest.fixture
def endpoint():
    yield from running(TokenEndpointStandIn())


@pytest.fixture
def authorized(make_ctx, home, tmp_path):
    """authorized(token_url, ...) -> the overlay: an Authorized 'Stub' whose access
    token has expired, its tokens in the insecure file store, granted only `read`."""

    def make(token_url: str, revocation_url: str | None = None, refresh_token: str = "old-refresh", extra: str = "") -> Path:
        overlay = tmp_path / "stub.toml"
        overlay.write_text(overlay_text(token_url, revocation_url, extra))
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


def expire_stored(home: Path) -> dict:
    """Make the one token set in the insecure file expired, so the next `token` must refresh; returns it."""
    path = home / "tokens-insecure.json"
    data = json.loads(path.read_text())
    (key, raw), = data["entries"].items()
    tokens = json.loads(raw) | {"expires_at": EXPIRED}
    data["entries"][key] = json.dumps(tokens)
    path.write_text(json.dumps(data))
    return tokens


def state(cli, overlay: Path) -> dict:
    result = cli("--registry", str(overlay), "show", "Stub", "--json")
    assert result.code == 0, result.stderr
    return result.json()["authorization"]
