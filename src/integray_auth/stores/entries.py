"""The checks of one index entry, and the row form it is checked in.

Every authorization `list` shows passed these checks, whether it came from
index.json or from the snapshot: entry_problem (the long way, for anything
unusual) and checked_row (one pass over a row of the field values, which
`list` of 10,000 runs 10,000 times). The row codec is generated from
Authorization's slots (lean/rows.py); the snapshot (snapshot.py) stores rows.
"""

from __future__ import annotations

import sys

from ..lean.rows import row_codec
from ..models import KNOWN_FIELDS, Authorization

_new = object.__new__
_intern = sys.intern
# Unknown fields are kept and written back; deeper than this, copying and
# writing them would exhaust the stack (a known field is never this deep).
MAX_EXTRA_DEPTH = 32

_STRING_OR_NONE = frozenset({str, type(None)})
_STRING = frozenset({str})
_OPTIONAL_STRINGS = (
    "authorized_at", "expires_at", "deactivated_at", "account", "storage", "client_id", "keyring_backend",
    "refreshed_at", "refresh_rejected_at", "rejected_at",
)


class EntryDecoder:
    """json's object_hook: each entry becomes an Authorization as soon as it is
    decoded, so its dict is freed at once instead of all 100,000 living until
    the end, and the values entries repeat (provider, status, connector and
    scope ids) are kept once (sys.intern): 1.8 -> 1.2 KiB per entry at 100,000.
    Objects that only look like an entry but sit elsewhere are counted, and
    `_parse` then decodes the file again without this hook: the result never
    differs from plain json.loads.

    A well-formed entry is checked and built in one pass (`checked_entry`,
    ~1 µs, against ~9 µs for from_json(**) plus the checks); anything else
    goes the long way, and `_parse` checks those (`unchecked`)."""

    __slots__ = ("made", "unchecked")

    def __init__(self) -> None:
        self.made = 0
        self.unchecked: list[Authorization] = []

    def __call__(self, item: dict):
        if "id" not in item or "requested_scopes" not in item or "authorizations" in item:
            return item
        authorization = checked_entry(item) if ONE_PASS and KNOWN_FIELDS.issuperset(item) else None
        if authorization is None:
            try:
                authorization = Authorization.from_json(item)
            except TypeError:
                return item  # `_parse` says what is wrong with it
            self.unchecked.append(authorization)
        self.made += 1
        return authorization


def checked_entry(d: dict) -> Authorization | None:
    """checked_row of the entry `d` of index.json (of known fields only): the Authorization
    from_json(d) makes, or None when anything is unusual. The values entries repeat are kept
    once (sys.intern; the snapshot keeps them so)."""
    a = checked_row(_entry_row(d))
    if a is None:
        return None
    # What many entries share (timestamps differ: not worth a lookup).
    a.provider, a.status = _intern(a.provider), _intern(a.status)
    a.connectors, a.requested_scopes = list(map(_intern, a.connectors)), list(map(_intern, a.requested_scopes))
    if a.granted_scopes is not None:
        a.granted_scopes = list(map(_intern, a.granted_scopes))
    if a.storage is not None:
        a.storage = _intern(a.storage)
    if a.client_id is not None:
        a.client_id = _intern(a.client_id)
    if a.keyring_backend is not None:
        a.keyring_backend = _intern(a.keyring_backend)
    if a.grant is not None:
        a.grant = _intern(a.grant)
    if type(a.locator) is str:
        a.locator = _intern(a.locator)
    return a


def checked_row(row: tuple) -> Authorization | None:
    """The Authorization of a row of field values (in ROW_FIELDS order) when they pass every
    check of `entry_problem`, and of `extra_problem` for fields this version does not know;
    None when anything is unusual. The one check of an entry, from index.json (checked_entry)
    or from the snapshot (checked_rows): `list` of 10,000 runs it 10,000 times, so it is C
    loops where it can be. The types of the 26 fields are one tuple, and the tuples that
    passed _SLOT_TYPES are remembered (a few shapes cover an index); then the items of the
    lists and tables are checked. Keys are strings in JSON; marshal data may hold anything,
    so they are checked too."""
    shape = tuple(map(type, row)) if type(row) is tuple else None
    if shape not in _GOOD_SHAPES:
        if shape is None or len(shape) != len(_SLOT_TYPES) or not all(map(frozenset.__contains__, _SLOT_TYPES, shape)):
            return None
        _GOOD_SHAPES.add(shape)
    granted, locator, parameters, endpoints, extra = (row[_GRANTED], row[_LOCATOR], row[_PARAMETERS], row[_ENDPOINTS],
                                                      row[_EXTRA])
    listed = row[_CONNECTORS] + row[_REQUESTED]
    if not (
        _STRING.issuperset(map(type, listed if granted is None else listed + granted))
        and (endpoints is None or _STRING.issuperset(map(type, endpoints))
             and _STRING_OR_NONE.issuperset(map(type, endpoints.values())))
        and (parameters is None or _STRING.issuperset(map(type, parameters))
             and _STRING.issuperset(map(type, parameters.values())))
        and (type(locator) is not dict
             or _STRING.issuperset(map(type, locator)) and _STRING.issuperset(map(type, locator.values())))
        and (not extra or _STRING.issuperset(map(type, extra)) and KNOWN_FIELDS.isdisjoint(extra)
             and extra_problem(extra) is None)
    ):
        return None
    return _from_row(row)


_S, _SN = frozenset({str}), frozenset({str, type(None)})
# The types each field may have: what entry_problem allows. A field of Authorization
# missing here turns the one-pass build and the snapshot off (ONE_PASS) rather than
# letting a value of any type through: to add one, give its types here (and check its
# items in checked_row if it is a list or a table).
FIELD_TYPES = {
    "id": _S, "name": _S, "provider": _S, "connectors": frozenset({list}), "requested_scopes": frozenset({list}),
    "created_at": _S, "updated_at": _S, "status": _S, "active": frozenset({bool}),
    "granted_scopes": frozenset({list, type(None)}), "authorized_at": _SN, "expires_at": _SN, "deactivated_at": _SN,
    "account": _SN, "storage": _SN, "client_id": _SN, "grant": _SN, "keyring_backend": _SN,
    "locator": frozenset({str, dict, type(None)}), "parameters": frozenset({dict, type(None)}),
    "endpoints": frozenset({dict, type(None)}), "renewable": frozenset({bool, type(None)}), "refreshed_at": _SN,
    "refresh_rejected_at": _SN, "rejected_at": _SN, "extra": frozenset({dict}),
}
# A row holds the fields in the class's own order; the codec is generated from it (lean/rows.py).
ROW_FIELDS = Authorization.__slots__
SNAPSHOTS = ONE_PASS = set(FIELD_TYPES) == set(ROW_FIELDS)
_SLOT_TYPES = tuple(FIELD_TYPES.get(name, frozenset()) for name in ROW_FIELDS)
to_row, _from_row, _entry_row = row_codec(Authorization, fresh_dicts=("extra",))
_AT = {name: position for position, name in enumerate(ROW_FIELDS)}
ID_AT, NAME_AT = _AT["id"], _AT["name"]
_CONNECTORS, _REQUESTED, _GRANTED = _AT["connectors"], _AT["requested_scopes"], _AT["granted_scopes"]
_LOCATOR, _PARAMETERS, _ENDPOINTS, _EXTRA = _AT["locator"], _AT["parameters"], _AT["endpoints"], _AT["extra"]
_GOOD_SHAPES: set = set()  # field-type tuples that passed _SLOT_TYPES: at most a few dozen in an index


def entry_problem(authorization: Authorization) -> str | None:
    """What makes a hand-edited entry unusable (a crash later would be worse)."""
    a = authorization
    if (  # the common case, checked fast: `list` reads every entry
        type(a.id) is type(a.name) is type(a.provider) is type(a.status) is str
        and type(a.created_at) is type(a.updated_at) is str
        and type(a.connectors) is type(a.requested_scopes) is list
        and all(type(item) is str for item in a.connectors)
        and all(type(item) is str for item in a.requested_scopes)
        and type(a.active) is bool
        and (a.endpoints is None or type(a.endpoints) is dict and all(v is None or type(v) is str for v in a.endpoints.values()))
        and (a.grant is None or type(a.grant) is str)
        and (a.parameters is None or type(a.parameters) is dict and all(type(v) is str for v in a.parameters.values()))
        and (a.granted_scopes is None or type(a.granted_scopes) is list and all(type(s) is str for s in a.granted_scopes))
        and {type(a.authorized_at), type(a.expires_at), type(a.deactivated_at), type(a.account),
             type(a.storage), type(a.client_id), type(a.keyring_backend),
             type(a.refreshed_at), type(a.refresh_rejected_at), type(a.rejected_at)} <= _STRING_OR_NONE
        and (a.renewable is None or type(a.renewable) is bool)
        and (a.locator is None or type(a.locator) is str)
    ):
        return None
    for name in ("id", "name", "provider", "status", "created_at", "updated_at"):
        if not isinstance(getattr(authorization, name), str):
            return f"'{name}' is not a string"
    for name in ("connectors", "requested_scopes"):
        value = getattr(authorization, name)
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            return f"'{name}' is not a list of strings"
    if not isinstance(authorization.active, bool):
        return "'active' is not true or false"
    endpoints = authorization.endpoints
    if endpoints is not None and (
        not isinstance(endpoints, dict)
        or not all(isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in endpoints.items())
    ):
        return "'endpoints' is not a table of strings"
    if authorization.grant is not None and not isinstance(authorization.grant, str):
        return "'grant' is not a string"
    parameters = authorization.parameters
    if parameters is not None and (
        not isinstance(parameters, dict) or not all(isinstance(v, str) for v in parameters.values())
    ):
        return "'parameters' is not a table of strings"
    for name in _OPTIONAL_STRINGS:
        if getattr(authorization, name) is not None and not isinstance(getattr(authorization, name), str):
            return f"'{name}' is not a string"
    granted = authorization.granted_scopes
    if granted is not None and (not isinstance(granted, list) or not all(isinstance(item, str) for item in granted)):
        return "'granted_scopes' is not a list of strings"
    if authorization.renewable is not None and not isinstance(authorization.renewable, bool):
        return "'renewable' is not true or false"
    locator = authorization.locator
    if not (
        locator is None
        or isinstance(locator, str)
        or isinstance(locator, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in locator.items())
    ):
        return "'locator' is not a string or a table of strings"
    return None


def extra_problem(extra: dict) -> str | None:
    """Fields this version does not know are kept, unless nested too deeply to copy (or
    holding what JSON cannot, which only marshal data could)."""
    todo = [(value, 1) for value in extra.values()]
    while todo:  # iterative: recursion is what must not happen here
        value, depth = todo.pop()
        kind = type(value)
        if kind is list or kind is dict:
            if depth >= MAX_EXTRA_DEPTH:
                return f"a field is nested more than {MAX_EXTRA_DEPTH} levels deep"
            if kind is dict and not _STRING.issuperset(map(type, value)):
                return "a field holds what JSON cannot"
            todo.extend((item, depth + 1) for item in (value.values() if kind is dict else value))
        elif kind not in _JSON_SCALARS:
            return "a field holds what JSON cannot"
    return None


_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})




def checked_rows(rows: list) -> list[Authorization] | None:
    """The Authorizations of snapshot rows, each checked as an entry of index.json is
    (checked_row), or None if any fails. In place: each row is freed as its object is made."""
    try:
        for position, row in enumerate(rows):
            authorization = checked_row(row)
            if authorization is None:
                return None
            rows[position] = authorization
    except Exception:  # noqa: BLE001 - not rows of ours
        return None
    return rows
