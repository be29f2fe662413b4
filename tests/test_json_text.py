"""output.authorization_json_text: the compact JSON text `list --json` writes for each
authorization without building its object. It must be, byte for byte, what the encoder
makes of output.authorization_json, for every entry the index's checks let through."""

from __future__ import annotations

import io
from datetime import datetime, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integray_auth.cli import output
from integray_auth.cli.jsonfields import JsonOutput
from integray_auth.lean.jsonio import encoder
from integray_auth.models import Authorization

ENCODE = encoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)
# Any text, lone surrogates included (a hand-edited index decodes with surrogatepass).
text = st.text(st.characters(), max_size=8) | st.sampled_from(["", "é€", "\u202e", "\x00", '"\\', "\udcff"])
maybe = st.none() | text
stamp = st.none() | st.sampled_from(["2026-01-02T03:04:05Z", "2099-01-01T00:00:00Z", "2000-01-01T00:00:00Z",
                                     "2026-01-02T03:04:05+00:00", "soon"]) | text
providers = st.sampled_from(["reservanto", "google", "github", "no-such-provider"]) | text
connectors = st.lists(st.sampled_from(["list-locations", "gmail-send-message", "repo", "gone"]) | text, max_size=3)


@st.composite
def entries(draw) -> Authorization:
    return Authorization(
        id=draw(text), name=draw(text), provider=draw(providers), connectors=draw(connectors),
        requested_scopes=draw(st.lists(text, max_size=3)), created_at=draw(text), updated_at=draw(text),
        status=draw(st.sampled_from(["authorized", "not_authorized"]) | text), active=draw(st.booleans()),
        granted_scopes=draw(st.none() | st.lists(text, max_size=3)), authorized_at=draw(stamp),
        expires_at=draw(stamp), deactivated_at=draw(stamp), account=draw(maybe),
        storage=draw(st.sampled_from([None, "keyring", "file", "vault"])), client_id=draw(maybe),
        grant=draw(st.none() | st.sampled_from(["authorization_code", "device_code"])),
        keyring_backend=draw(maybe), locator=draw(st.none() | text | st.dictionaries(text, text, max_size=2)),
        parameters=draw(st.none() | st.dictionaries(text, text, max_size=2)),
        endpoints=draw(st.none() | st.dictionaries(st.sampled_from(["token_url", "authorization_url"]), maybe)),
        renewable=draw(st.none() | st.booleans()), refreshed_at=draw(stamp), refresh_rejected_at=draw(stamp),
        extra=draw(st.dictionaries(text, text, max_size=1)),
    )


NOW = [datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc), 1780000000]  # a clock's datetime, or whole seconds


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(entries(), min_size=1, max_size=6), now=st.sampled_from(NOW))
def test_the_text_is_what_the_encoder_makes_of_the_object(make_ctx, batch, now):
    ctx = make_ctx()
    render = output.authorization_json_text(ctx, now, {})
    looked_up: dict = {}

    for authorization in batch:
        assert render(authorization, ENCODE) == ENCODE(output.authorization_json(ctx, authorization, now, looked_up))


def test_list_json_writes_the_same_bytes_with_and_without_it(make_ctx, monkeypatch):
    """The listing itself, through write_json_list's streamed batches (more than one)."""
    ctx = make_ctx()
    batch = [Authorization(id=f"{i:012x}", name=f"Shop {i} é\u202e", provider="reservanto",
                           connectors=["list-locations"], requested_scopes=["Location_r"],
                           created_at="2026-01-02T03:04:05Z", updated_at="2026-01-02T03:04:05Z",
                           status="authorized" if i % 2 else "not_authorized", active=i % 3 != 0,
                           storage="vault" if i == 7 else "keyring")
             for i in range(250)]
    written = []
    for render in (True, False):
        if not render:
            monkeypatch.setattr(output, "authorization_json_text", lambda *args: None)
        ctx.stdout = io.StringIO()
        output.print_authorizations(ctx, batch, "all", JsonOutput())
        written.append(ctx.stdout.getvalue())

    assert written[0] == written[1]
    assert "\\u202e" in written[0] and '"shared":true' in written[0]
