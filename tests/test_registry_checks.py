"""The registry's checks by str methods (what `list` runs on the cache every time,
without `re`, `urllib.parse` or `pathlib`) against the regular expressions and
urlsplit they replace, with Hypothesis; and an edited cache still refused."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integray_auth.errors import ExitCode, RegistryError
from integray_auth.lean.printable import shell_quote
from integray_auth.lean.urlparts import split_plain
from integray_auth.registry import checks, loading, model, names
from integray_auth.usecases import binding

# The characters the expressions care about, the ones next to them, and some that are not ASCII.
alphabet = st.sampled_from(list("az09AZ-_.~{}:/?#@[]%+=, \t\n\x00\x7füİ١") + ["ß", "K"])
texts = st.lists(alphabet, max_size=12).map("".join)


@settings(max_examples=300, deadline=None)
@given(texts)
def test_each_check_by_str_methods_equals_its_regular_expression(text):
    def matches(pattern: str) -> bool:
        return re.fullmatch(pattern, text) is not None

    assert names.is_id(text) == matches(names._PATTERNS["ID_PATTERN"])
    assert names.is_parameter_name(text) == matches(names._PATTERNS["PARAMETER_NAME_PATTERN"])
    assert names.is_token_type(text) == matches(names._PATTERNS["TOKEN_TYPE_PATTERN"])
    assert names.is_callback_parameter(text) == matches(r"[A-Za-z][A-Za-z0-9_]*")
    for ch in text:
        assert (ch in names.PARAMETER_VALUE_CHARS) == (re.fullmatch(names._PATTERNS["PARAMETER_VALUE_PATTERN"], ch) is not None)


@settings(max_examples=300, deadline=None)
@given(texts)
def test_placeholders_are_found_and_filled_in_as_the_regular_expression_does(text):
    pattern = re.compile(names._PATTERNS["PLACEHOLDER"])

    assert list(names.placeholders(text)) == [(m.start(), m.end(), m.group(1)) for m in pattern.finditer(text)]
    assert names.with_samples(text) == pattern.sub("x", text)


def test_the_compiled_expressions_are_still_there_for_other_modules():
    from integray_auth.registry.names import ID_PATTERN, PARAMETER_VALUE_PATTERN, PLACEHOLDER

    assert ID_PATTERN.pattern == names._PATTERNS["ID_PATTERN"] and PLACEHOLDER.findall("{a}{b}") == ["a", "b"]
    assert PARAMETER_VALUE_PATTERN.fullmatch("contoso.com") and not PARAMETER_VALUE_PATTERN.fullmatch("a/b")
    with pytest.raises(AttributeError):
        names.NO_SUCH_NAME  # noqa: B018


urls = st.builds(
    lambda *parts: "".join("".join(part) for part in parts),
    st.lists(st.sampled_from(["https://", "http://", "HTTPS://", "https:/", "ftp://", " ", "\t", "//"]), max_size=2),
    st.lists(st.sampled_from(list("aZ09.-_~:@[]%ü \n") + ["example.com", "127.0.0.1", "localhost", "::1", "443", "0",
                                                         "99999", "65536", "1" * 6]), max_size=6),
    st.lists(st.sampled_from(["/", "?", "#", "/path", "?q=1", ":80"]), max_size=3),
)


def _split(url: str):
    try:
        parts = urlsplit(url)
        return parts.scheme, parts.hostname or "", parts.port
    except ValueError as error:
        return type(error)


@settings(max_examples=400, deadline=None)
@given(urls)
def test_a_plainly_spelt_url_splits_as_urlsplit_splits_it(url):
    plain = split_plain(url)
    if plain is None:
        return
    scheme, host, port = plain
    parts = urlsplit(url)
    assert (scheme, host) == (parts.scheme, parts.hostname or "")
    assert port == parts.netloc.partition(":")[2] and "@" not in parts.netloc


def _old_origin(url: str):
    try:
        return binding._split_origin(url)
    except ValueError as error:
        return type(error)


def _new_origin(url: str):
    try:
        return binding._origin(url)
    except ValueError as error:
        return type(error)


@settings(max_examples=400, deadline=None)
@given(urls)
def test_an_origin_is_the_one_urlsplit_gives(url):
    assert _new_origin(url) == _old_origin(url)


def _old_check_url(url: str):
    """checks._check_url as it was, urlsplit for every URL."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return "not a URL"
    if "@" in parts.netloc:
        return "userinfo"
    if parts.scheme == "https" and host or parts.scheme == "http" and host in model.LOOPBACK_HOSTS:
        return None
    return "not https"


def _new_check_url(url: str):
    try:
        checks._check_url(Path("f.toml"), "here", url)
    except RegistryError as error:
        message = error.message
        return "not a URL" if "is not a URL" in message else "userinfo" if "userinfo" in message else "not https"
    return None


@settings(max_examples=400, deadline=None)
@given(urls)
def test_a_url_is_accepted_and_refused_as_with_urlsplit(url):
    assert _new_check_url(url) == _old_check_url(url)


@settings(max_examples=300, deadline=None)
@given(texts)
def test_a_name_is_quoted_for_the_shell_as_shlex_quotes_it(text):
    assert shell_quote(text) == shlex.quote(text)


def test_the_bundled_registry_is_where_pathlib_found_it():
    here = Path(loading.__file__).resolve().parent.parent  # the integray_auth package
    expected = here / "providers.toml" if (here / "providers.toml").is_file() else here.parent.parent / "providers.toml"

    found = loading.bundled_registry_path()

    assert found == expected and str(found) == str(expected) and found.is_file()
    assert found.read_text(encoding="utf-8") == expected.read_text(encoding="utf-8")  # Path's methods still answer


# --- an edited cache is still refused ------------------------------------------------------


def _edited_cache(tmp_path, change) -> Path:
    cache = tmp_path / "cache"
    loading.load_registry([], cache_dir=cache)
    document = json.loads((cache / "registry.json").read_text())
    change(document["providers"])
    (cache / "registry.json").write_text(json.dumps(document))
    return cache


@pytest.mark.parametrize(
    "change",
    [
        lambda p: p["google"].update(token_url="http://evil.example/token"),
        lambda p: p["google"].update(token_url="https://user:pw@evil.example/token"),
        lambda p: p["google"]["connectors"].update({"Bad Id": p["google"]["connectors"]["gmail-send-message"]}),
        lambda p: p["google"].update(token_types=["bad type"]),
        lambda p: p["microsoft"].update(authorization_url="https://login.example/{tenant/authorize"),
        lambda p: p["microsoft"]["parameters"]["tenant"].update(default="a/b"),
        lambda p: p["quickbooks"].update(callback_parameters=["state"]),
        lambda p: p["google"].update(name="Google\x1b]0;T\x07"),
        lambda p: p["google"]["connectors"]["gmail-send-message"].update(description="Sends\u202e"),
    ],
    ids=["http", "userinfo", "connector-id", "token-type", "placeholder", "default", "callback", "name", "description"],
)
def test_an_edited_cache_is_not_used(tmp_path, change):
    cache = _edited_cache(tmp_path, change)

    fresh = loading.load_registry([], cache_dir=cache)  # read from the TOML again, and the cache rewritten

    assert fresh.get("google").token_url == "https://oauth2.googleapis.com/token"
    assert fresh == loading.load_registry([])
    assert json.loads((cache / "registry.json").read_text())["providers"] == json.loads(
        json.dumps(loading._merge_files((loading.bundled_registry_path(),))[0])
    )


def test_a_pattern_edited_in_the_cache_is_compiled_before_it_is_used(tmp_path):
    def broken(providers):
        providers["microsoft"]["parameters"]["tenant"]["pattern"] = "common|("

    model._COMPILED.pop("common|(", None)
    cache = _edited_cache(tmp_path, broken)
    tenant = loading.load_registry([], cache_dir=cache).get("microsoft").parameters["tenant"]

    with pytest.raises(RegistryError) as raised:
        tenant.problem("common")

    assert raised.value.exit_code == ExitCode.REGISTRY
    assert "pattern 'common|(' is not a regular expression" in raised.value.message


def test_a_default_edited_in_the_cache_is_matched_against_its_pattern_where_it_is_used(tmp_path):
    cache = _edited_cache(tmp_path, lambda p: p["microsoft"]["parameters"]["tenant"].update(default="not-a-tenant"))
    microsoft = loading.load_registry([], cache_dir=cache).get("microsoft")

    with pytest.raises(model.ParameterError, match="'not-a-tenant' is not a valid value"):
        microsoft.with_parameters({})
