"""`list --all --json` of 1,000 authorizations, byte for byte what the public json
module writes for the same document: the streamed batches and the per-entry text of
cli/json_output.py are speed, never a format of their own."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from integray_auth.cli import output
from integray_auth.cli.jsonfields import JsonOutput
from integray_auth.lean.printable import json_text
from integray_auth.models import Authorization

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
CONNECTORS = [["list-locations", "create-class-booking"], ["list-segments"], ["list-locations"], [], ["gone"]]


def thousand() -> list[Authorization]:
    """The benchmark's shape (benchmarks/run.py make_home), with every kind of value
    mixed in: authorized entries with grants, expiries, accounts and parameters,
    deactivated ones, another provider and one the registry lacks, a shared one
    (Vault), and text that needs escapes."""
    entries = []
    for i in range(1000):
        stamp = f"2026-{1 + i % 12:02d}-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z"
        authorized = i % 4 == 1
        entries.append(Authorization(
            id=f"{i:012x}",
            name=f"Authorization {i:06d}" + ("" if i % 50 else " é\u202e\"\\\x1b\u2028"),
            provider=("reservanto", "google", "no-such-provider")[i % 7 // 5 + (i % 70 == 69)],
            connectors=list(CONNECTORS[i % len(CONNECTORS)]),
            requested_scopes=["Location_r", "Booking_w", "Event_r"][: 1 + i % 3],
            created_at=stamp, updated_at=stamp if i % 3 else "2026-12-08T03:00:00Z",
            status="authorized" if authorized else "not_authorized",
            active=i % 10 != 9,
            granted_scopes=(["Location_r"] if i % 8 == 1 else ["Location_r", "Booking_w", "Event_r"])
            if authorized else None,
            authorized_at=stamp if authorized else None,
            expires_at=("2026-01-01T00:00:00Z" if i % 8 == 5 else "2099-01-01T00:00:00Z") if authorized else None,
            deactivated_at=None if i % 10 != 9 else stamp,
            account=f"user{i}@example.com" if authorized else None,
            storage="vault" if i == 500 else ("keyring", "file")[i % 2] if authorized else None,
            parameters={"tenant": f"t{i}", "région": "é"} if i % 16 == 1 else {},
            renewable=(True, False, None)[i % 3] if authorized else None,
            refreshed_at=stamp if authorized and i % 5 == 0 else None,
            refresh_rejected_at=stamp if i % 40 == 2 else None,
        ))
    return entries


def test_the_listing_is_what_json_dumps_writes(make_ctx):
    ctx = make_ctx(clock=lambda: NOW)
    entries = thousand()

    output.print_authorizations(ctx, entries, "all", JsonOutput())

    document = {"schema_version": 1, "view": "all",
                "authorizations": [output.authorization_json(ctx, a, NOW) for a in entries]}
    expected = json_text(json.dumps(document, ensure_ascii=False, separators=(",", ":"))) + "\n"
    written = ctx.stdout.getvalue()
    assert written == expected
    assert len(json.loads(written)["authorizations"]) == 1000
    # The mix reached the listing: escapes, a shared entry, every health and both kinds of "usable".
    assert "\\u202e" in written and "\\u2028" in written and '"shared":true' in written
    assert {a["health"] for a in json.loads(written)["authorizations"]} >= {
        "authorized", "not_authorized", "expired", "needs_reauthorization", "missing_scopes"}
    assert '"usable":true' in written and '"usable":false' in written


def test_a_listing_of_one_batch_and_a_bit_is_still_one_document(make_ctx):
    """A count just past a batch (write_json_list's 100): the comma between batches, and no trailing one."""
    ctx = make_ctx(clock=lambda: NOW)
    entries = thousand()[:101]

    output.print_authorizations(ctx, entries, "all", JsonOutput())

    document = {"schema_version": 1, "view": "all",
                "authorizations": [output.authorization_json(ctx, a, NOW) for a in entries]}
    assert ctx.stdout.getvalue() == json_text(json.dumps(document, ensure_ascii=False, separators=(",", ":"))) + "\n"

