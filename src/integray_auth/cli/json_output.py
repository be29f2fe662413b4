"""The JSON documents of --json: versioned, escaped like every outside text,
and streamed for long listings.

`list --all --json` of 100,000 authorizations is written in batches, each
authorization's text made by one f-string (authorization_json_text), with the
same bytes as json's encoder writes for authorization_json (tests/test_json_text.py).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Sequence, TextIO

from ..context import AppContext, isatty
from ..health import health, usable
from ..lean.printable import json_text
from ..models import AUTHORIZED, STORAGE_VAULT, Authorization, now_from
from ..usecases.provider_lookup import connector_name
from . import jsonfields
from .jsonfields import JsonOutput

JSON_VERSION = 1


def write_json(stream: TextIO, document: dict[str, Any], output: JsonOutput | None = None) -> None:
    """Indented for a person at a terminal, compact on one line for a script:
    json's indenting encoder is pure Python, ~4x slower for a long list.
    With --jq, what the expression makes of the versioned document."""
    document = {"schema_version": JSON_VERSION, **document}
    jsonfields.write(stream, document, output or JsonOutput(), isatty(stream))


_JSON_BATCH = 100  # objects per encode: its set-up is paid per call, the objects are held until it returns


def write_json_list(
    stream: TextIO, head: dict[str, Any], key: str, items: Sequence, convert, output: JsonOutput | None = None,
    render=None,
) -> None:
    """write_json({**head, key: [convert(i) for i in items]}, output), streamed
    when compact and unfiltered: the same bytes, without every object and the
    whole text in memory at once (`list --all --json` of 100,000 authorizations).
    `render(item, encode)`, when given, is the compact text of convert(item), made faster."""
    if isatty(stream) or (output is not None and output.jq is not None):
        write_json(stream, {**head, key: [convert(item) for item in items]}, output)
        return
    from ..lean.jsonio import encoder as json_encoder

    # No cycle check (~12% of the encoding): `convert` builds a fresh tree per item from
    # decoded JSON, which cannot hold a cycle; the bytes are the same.
    encode = json_encoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)

    def batch(start: int) -> str:
        chunk = items[start:start + _JSON_BATCH]
        if render is not None:
            return json_text(",".join([render(item, encode) for item in chunk]))
        # One encode per batch, not per object: each encode() sets up the C encoder anew.
        return json_text(encode([convert(item) for item in chunk])[1:-1])

    # The first batch before any byte goes out: an error (the registry, say) leaves stdout empty.
    first = batch(0)
    opening = encode({"schema_version": JSON_VERSION, **head, key: []})
    stream.write(json_text(opening[:-2]) + first)
    for start in range(_JSON_BATCH, len(items), _JSON_BATCH):
        stream.write("," + batch(start))
    stream.write("]}\n")


def authorization_json(ctx: AppContext, authorization: Authorization, now=None, looked_up: dict | None = None) -> dict[str, Any]:
    """The authorization's JSON object. `looked_up`: what a listing has found in the
    registry so far, by provider and connectors (most entries share them); the
    objects in it are shared by the documents, which are only encoded."""
    key = (authorization.provider, *authorization.connectors)
    known = None if looked_up is None else looked_up.get(key)
    if known is None:
        provider = ctx.registry.get(authorization.provider)
        known = (
            provider,
            provider.name if provider else authorization.provider,
            [{"id": cid, "name": connector_name(provider, cid)} for cid in authorization.connectors],
        )
        if looked_up is not None:
            looked_up[key] = known
    provider, provider_name, connectors = known
    value = health(authorization, provider, now_from(ctx.clock) if now is None else now)
    return {
        "id": authorization.id,
        "name": authorization.name,
        "provider": authorization.provider,
        "provider_name": provider_name,
        "connectors": connectors,
        "status": authorization.status,
        "authorized": authorization.is_authorized,
        "health": value,
        "usable": usable(value, authorization.active),
        "active": authorization.active,
        "requested_scopes": authorization.requested_scopes,
        "granted_scopes": authorization.granted_scopes,
        "account": authorization.account,
        "parameters": dict(authorization.parameters) if isinstance(authorization.parameters, dict) else {},
        "storage": authorization.storage,
        "shared": authorization.is_shared,  # through Vault: every machine pointed at it sees it
        "created_at": authorization.created_at,
        "updated_at": authorization.updated_at,
        "authorized_at": authorization.authorized_at,
        "expires_at": authorization.expires_at,
        "refreshed_at": authorization.refreshed_at,
        "renewable": authorization.renewable,
        "deactivated_at": authorization.deactivated_at,
    }


def authorization_json_text(ctx: AppContext, now, looked_up: dict):
    """render(authorization, encode) for write_json_list: the compact JSON text of
    authorization_json(ctx, authorization, now, looked_up), byte for byte, without
    the object. The encoder spent 4 µs per entry on its 23 keys and values (~100
    small strings each) and building the dict 2 µs more; one %-format per entry
    over a template of the keys took 2.2 µs. Here one f-string per entry takes the
    values that differ from entry to entry, each string through the same C function
    the encoder uses, and the run of keys that entries share (provider, connectors,
    status, health, active, requested scopes) is encoded once per combination:
    1.0 µs per entry on CPython 3.11, 1.2 ms less for `list --all --json` of 1,000.
    The keys are written out here in jsonfields.AUTHORIZATION's order: a %-format
    built from that table cost 0.45 µs per entry, twice the f-string.
    It relies on the index's checks for the types (index.entry_problem);
    a shared authorization (from Vault) takes the encoder. tests/test_json_text.py
    holds the two equal over any entry."""
    from ..lean.jsonio import string_encoder

    text = string_encoder()
    providers: dict = {}  # the registry's provider (or None) by id
    # By provider, health, status, active, connectors and requested scopes: the text of the nine keys
    # from "provider" to "requested_scopes", which they make. The count of connectors tells the two lists apart.
    shared: dict = {}

    def strings(items) -> str:
        return "[" + ",".join(map(text, items)) + "]"

    def render(a: Authorization, encode) -> str:
        storage = a.storage
        if storage == STORAGE_VAULT:
            return encode(authorization_json(ctx, a, now, looked_up))
        provider_id = a.provider
        provider = providers.get(provider_id, providers)
        if provider is providers:
            provider = providers[provider_id] = ctx.registry.get(provider_id)
        health_value = health(a, provider, now)
        status, active, connectors, scopes = a.status, a.active, a.connectors, a.requested_scopes
        key = (provider_id, health_value, status, active, len(connectors), *connectors, *scopes)
        middle = shared.get(key)
        if middle is None:
            document = authorization_json(ctx, a, now, looked_up)  # the provider's and the connectors' names
            middle = shared[key] = (
                '"provider":%s,"provider_name":%s,"connectors":%s,"status":%s,"authorized":%s,"health":%s,'
                '"usable":%s,"active":%s,"requested_scopes":%s' % (
                    text(provider_id), text(document["provider_name"]), encode(document["connectors"]), text(status),
                    _LITERAL[status == AUTHORIZED], text(health_value), _LITERAL[usable(health_value, active)],
                    _LITERAL[active], strings(scopes)))
        granted, account, parameters = a.granted_scopes, a.account, a.parameters
        authorized_at, expires_at, refreshed_at, deactivated_at = (
            a.authorized_at, a.expires_at, a.refreshed_at, a.deactivated_at)
        return (
            f'{{"id":{text(a.id)},"name":{text(a.name)},{middle},'
            f'"granted_scopes":{"null" if granted is None else strings(granted)},'
            f'"account":{"null" if account is None else text(account)},"parameters":'
            f'{"{}" if type(parameters) is not dict or not parameters else _object(parameters, text)},'
            f'"storage":{"null" if storage is None else text(storage)},"shared":false,'
            f'"created_at":{text(a.created_at)},"updated_at":{text(a.updated_at)},'
            f'"authorized_at":{"null" if authorized_at is None else text(authorized_at)},'
            f'"expires_at":{"null" if expires_at is None else text(expires_at)},'
            f'"refreshed_at":{"null" if refreshed_at is None else text(refreshed_at)},'
            f'"renewable":{_LITERAL[a.renewable]},'
            f'"deactivated_at":{"null" if deactivated_at is None else text(deactivated_at)}}}'
        )

    return render


def _object(strings: dict, text) -> str:
    """The JSON object of a dict of str to str."""
    return "{" + ",".join([text(k) + ":" + text(v) for k, v in strings.items()]) + "}"


_LITERAL = {True: "true", False: "false", None: "null"}
