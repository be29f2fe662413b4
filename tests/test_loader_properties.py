"""Property tests of the two loaders that read files from outside: the registry (an overlay
TOML) and the index (JSON). Whatever the bytes, however deep the nesting, the answer is the
documented error (RegistryError, exit 3; IndexError_, exit 4) naming the file, or a result
that the commands can use; never another exception.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integray_auth.cli.jsonfields import JsonOutput
from integray_auth.cli.output import print_details
from integray_auth.cli.run import run_list
from integray_auth.errors import ExitCode, IndexError_, IntegrayAuthError, RegistryError
from integray_auth.lean.paths import Paths
from integray_auth.registry.checks import PROVIDER_KEYS
from integray_auth.registry.loading import bundled_registry_path, load_registry
from integray_auth.registry.model import Registry
from integray_auth.stores import lookup
from integray_auth.usecases import manage

# The hypothesis examples share the test's temp home (written afresh each time).
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

BUNDLED = tomllib.loads(bundled_registry_path().read_text(encoding="utf-8"))["providers"]

# --- values and their TOML / JSON text -------------------------------------------------------

text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
# Values a field could plausibly hold, so that examples get past the type checks too.
plausible = st.sampled_from(
    ["required", "supported", "none", "client_secret_post", "localhost", "authorization_code", "user_scope", " ",
     "https://auth.example/authorize", "http://127.0.0.1:8/token", "https://u:p@x.example/", "/callback", "Name"]
) | st.integers(1024, 65535)
scalars = (
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | text | plausible
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4), max_leaves=12)


def toml_value(value) -> str:
    """An inline TOML rendering; None (no TOML null) becomes an empty table."""
    if value is None:
        return "{}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k, ensure_ascii=False)} = {toml_value(v)}" for k, v in value.items()) + "}"


def nested(depth: int, kind: str, leaf: str) -> str:
    if kind == "array":
        return "[" * depth + leaf + "]" * depth
    return "{a = " * depth + leaf + "}" * depth


depths = st.integers(1, 3000)

# --- the registry ----------------------------------------------------------------------------

provider_ids = st.sampled_from(sorted(BUNDLED)) | st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True)
provider_keys = st.sampled_from(sorted(PROVIDER_KEYS)) | text


@st.composite
def mutated_overlays(draw) -> str:
    """A bundled provider (so most of it is valid) with a few fields changed to anything."""
    pid = draw(provider_ids)
    entry = dict(BUNDLED.get(pid) or BUNDLED[draw(st.sampled_from(sorted(BUNDLED)))])
    for _ in range(draw(st.integers(1, 3))):
        key = draw(provider_keys)
        if key in ("connectors", "scopes") and draw(st.booleans()):
            inner = dict(entry[key]) if isinstance(entry.get(key), dict) else {}
            inner[draw(text | st.sampled_from(sorted(inner) or ["x"]))] = draw(values)
            entry[key] = inner
        else:
            entry[key] = draw(values)
    version = draw(values) if draw(st.booleans()) and draw(st.booleans()) and draw(st.booleans()) else 1
    return f"schema_version = {toml_value(version)}\n[providers.{json.dumps(pid)}]\n" + "".join(
        f"{json.dumps(k, ensure_ascii=False)} = {toml_value(v)}\n" for k, v in entry.items()
    )


@st.composite
def deep_overlays(draw) -> str:
    deep = nested(draw(depths), draw(st.sampled_from(["array", "table"])), draw(st.sampled_from(["", "1", '"x"'])))
    where = draw(st.sampled_from(["top", "provider", "connector", "params", "header"]))
    if where == "top":
        return f"x = {deep}\n"
    if where == "header":  # [a.a.a...] tables, nested by dotted keys
        return "[" + ".".join(["a"] * draw(depths)) + "]\n"
    field = draw(st.sampled_from(["notes", "redirect_ports", "scopes", "unknown"]))
    if where == "provider":
        return f"[providers.google]\n{field} = {deep}\n"
    if where == "params":
        return f"[providers.google.authorization_params]\nprompt = {deep}\n"
    return f"[providers.google.connectors.gmail-send-message]\n{field} = {deep}\n"


def check_registry_loads_or_refuses(path: Path, content: bytes) -> None:
    path.write_bytes(content)
    try:
        registry = load_registry([path])
    except RegistryError as error:
        assert error.exit_code == ExitCode.REGISTRY
        assert str(path) in error.message
        return
    assert isinstance(registry, Registry)
    for provider in registry.providers.values():  # usable, not just loaded
        provider.scopes_for(list(provider.connectors))


@PROPERTY
@given(content=st.binary(max_size=2000))
def test_an_overlay_of_any_bytes_is_a_registry_or_a_registry_error(tmp_path, content):
    check_registry_loads_or_refuses(tmp_path / "overlay.toml", content)


@PROPERTY
@given(document=mutated_overlays())
def test_an_overlay_with_any_values_in_any_field_is_a_registry_or_a_registry_error(tmp_path, document):
    check_registry_loads_or_refuses(tmp_path / "overlay.toml", document.encode("utf-8"))


@PROPERTY
@given(document=deep_overlays())
def test_an_overlay_nested_to_any_depth_is_a_registry_or_a_registry_error(tmp_path, document):
    check_registry_loads_or_refuses(tmp_path / "overlay.toml", document.encode("utf-8"))


# --- the index -------------------------------------------------------------------------------

VALID_ENTRY = {
    "id": "a1b2c3d4e5f6",
    "name": "Reservanto Prague",
    "provider": "reservanto",
    "connectors": ["list-locations"],
    "requested_scopes": ["Location_r"],
    "created_at": "2026-01-02T03:04:05Z",
    "updated_at": "2026-01-02T03:04:05Z",
    "status": "authorized",
    "active": True,
    "granted_scopes": ["Location_r"],
    "authorized_at": "2026-01-02T03:05:00Z",
    "expires_at": "2026-01-02T03:35:00Z",
    "account": "merchant@example.com",
    "storage": "keyring",
}
entry_keys = st.sampled_from(
    sorted(VALID_ENTRY) + ["deactivated_at", "client_id", "keyring_backend", "grant", "parameters", "endpoints"]
) | text


@st.composite
def mutated_indexes(draw) -> str:
    entries = []
    for _ in range(draw(st.integers(0, 3))):
        entry = dict(VALID_ENTRY, id=draw(st.from_regex(r"[0-9a-f]{12}", fullmatch=True)), name=draw(text))
        for _ in range(draw(st.integers(0, 3))):
            key = draw(entry_keys)
            if draw(st.booleans()):
                entry.pop(key, None)
            else:
                entry[key] = draw(values)
        entries.append(entry)
    document = {"schema_version": draw(values) if draw(st.booleans()) and draw(st.booleans()) and draw(st.booleans()) else 1, "authorizations": entries}
    if draw(st.integers(0, 4)) == 0:
        document = draw(values) if draw(st.booleans()) else {**document, draw(text): draw(values)}
    return json.dumps(document)


@st.composite
def deep_indexes(draw) -> str:
    depth = draw(depths)
    deep = "[" * depth + "]" * depth if draw(st.booleans()) else '{"a": ' * depth + "1" + "}" * depth
    where = draw(st.sampled_from(["top", "authorizations", "known-field", "unknown-field"]))
    if where == "top":
        return deep
    if where == "authorizations":
        return f'{{"schema_version": 1, "authorizations": {deep}}}'
    known = ["granted_scopes", "account", "connectors", "parameters", "endpoints"]
    field = draw(st.sampled_from(known)) if where == "known-field" else "later"
    entry = json.dumps(VALID_ENTRY)[:-1] + f', "{field}": {deep}}}'
    return f'{{"schema_version": 1, "authorizations": [{entry}]}}'


def check_index_loads_or_refuses(make_ctx, home: Path, content: bytes) -> None:
    home.mkdir(mode=0o700, exist_ok=True)
    (home / "index.json").write_bytes(content)
    ctx = make_ctx()
    try:
        authorizations = ctx.index.load()
    except IndexError_ as error:
        assert error.exit_code == ExitCode.INDEX
        assert str(home / "index.json") in error.message
        return
    # A valid index is one the commands can use: list it, show each entry, write it back.
    for as_json in (None, JsonOutput(), JsonOutput(("name", "status"), ".authorizations[].name")):
        run_list(ctx, "all", as_json)
    for authorization in authorizations:
        try:
            print_details(ctx, manage.describe(ctx, authorization.id), as_json=False)
        except IntegrayAuthError:
            pass  # e.g. two entries of one id: refused, not a crash
    with ctx.index.transaction():
        pass
    assert len(ctx.index.load()) == len(authorizations)


@PROPERTY
@given(content=st.binary(max_size=2000))
def test_an_index_of_any_bytes_is_an_index_or_an_index_error(make_ctx, home, content):
    check_index_loads_or_refuses(make_ctx, home, content)


@PROPERTY
@given(document=mutated_indexes())
def test_an_index_with_any_values_in_any_field_is_an_index_or_an_index_error(make_ctx, home, document):
    check_index_loads_or_refuses(make_ctx, home, document.encode("utf-8"))


@PROPERTY
@given(document=deep_indexes())
def test_an_index_nested_to_any_depth_is_an_index_or_an_index_error(make_ctx, home, document):
    check_index_loads_or_refuses(make_ctx, home, document.encode("utf-8"))


def test_the_strategies_reach_both_outcomes(tmp_path):
    """A guard on the generators: valid documents load, so the properties are not vacuous."""
    path = tmp_path / "overlay.toml"
    path.write_text("[providers.google]\n" + f"notes = {toml_value('fine')}\n")
    assert load_registry([path]).get("google").notes == "fine"
    with pytest.raises(RegistryError):
        path.write_text("x = " + nested(3000, "array", ""))
        load_registry([path])



def outcome(call):
    """What a read gave: the entries' (or entry's) fields, or the error's kind and words."""
    try:
        found = call()
        return ("found", [a.to_json() for a in found] if isinstance(found, list) else found.to_json())
    except IntegrayAuthError as error:
        return (type(error).__name__, error.message, error.hint)


@st.composite
def index_and_word(draw) -> tuple[str, str]:
    document = draw(mutated_indexes())
    try:
        entries = json.loads(document).get("authorizations") or []
    except AttributeError:
        entries = []
    handles = [str(e.get(k)) for e in entries if isinstance(e, dict) for k in ("id", "name")]
    handles += [h.upper() for h in handles] + [f" {h} " for h in handles]
    word = draw(st.sampled_from(handles) if handles and draw(st.booleans()) else text)
    return document, word


@PROPERTY
@given(case=index_and_word())
def test_the_snapshot_answers_as_the_json_does(make_ctx, home, case):
    """Whatever the index holds, reading it through the snapshot (index.py: the checked
    entries as marshal data, made by the first read) gives what parsing the JSON gives:
    the same entries, or the same error; and `find` (what `token` and `show` run, which
    builds only the entries the word may mean) answers as find_in over all of them."""
    document, word = case
    home.mkdir(mode=0o700, exist_ok=True)
    (home / "index.json").write_text(document, encoding="utf-8")
    snapshot = home / "cache" / "index.snapshot"
    snapshot.unlink(missing_ok=True)
    plain = make_ctx()
    cached = make_ctx(paths=Paths(config_dir=home, data_dir=home, cache_dir=home / "cache"))

    parsed = outcome(plain.index.load)
    first, second = outcome(cached.index.load), outcome(cached.index.load)  # the JSON, then the snapshot

    assert first == second == parsed
    assert snapshot.exists() == (parsed[0] == "found")
    assert outcome(lambda: lookup.find(cached, word)) == outcome(lambda: lookup.find_in(plain.index.load(), word))
