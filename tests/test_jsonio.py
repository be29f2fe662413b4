"""jsonio (the C scanner and encoder without importing json) against json itself."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integray_auth import jsonio
from integray_auth.errors import ExitCode

documents = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


def _outcome(function, *args, **kwargs):
    try:
        return ("ok", repr(function(*args, **kwargs)))  # repr: nan == nan
    except Exception as error:  # noqa: BLE001 - the same class and message is the point
        return (type(error), str(error))


@settings(max_examples=150, deadline=None)
@given(documents, st.booleans(), st.sampled_from([(", ", ": "), (",", ":")]))
def test_dumps_writes_what_json_writes(document, ensure_ascii, separators):
    assert jsonio.dumps(document, ensure_ascii, separators) == json.dumps(document, ensure_ascii=ensure_ascii, separators=separators)
    encode = jsonio.encoder(ensure_ascii, separators, check_circular=False)
    assert encode(document) == json.JSONEncoder(ensure_ascii=ensure_ascii, separators=separators, check_circular=False).encode(document)


@settings(max_examples=150, deadline=None)
@given(documents, st.sampled_from(["", " ", "\n", " \t\r\n "]), st.sampled_from(["", "\n", "  ", "x", " ]", "\n{}"]))
def test_loads_reads_what_json_reads_or_fails_as_it_does(document, before, after):
    text = before + json.dumps(document) + after
    assert _outcome(jsonio.loads, text) == _outcome(json.loads, text)
    assert _outcome(jsonio.loads, text.encode("utf-16")) == _outcome(json.loads, text.encode("utf-16"))
    hook = lambda d: ("object", sorted(d))  # noqa: E731
    assert _outcome(jsonio.loads, text, object_hook=hook) == _outcome(json.loads, text, object_hook=hook)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet='{}[]",:0123456789.eE+-tfrunlasNIiy \n\\\ufeff\x00', max_size=30))
def test_loads_of_any_text_matches_json(text):
    assert _outcome(jsonio.loads, text) == _outcome(json.loads, text)
    assert _outcome(jsonio.loads, text.encode("utf-8", "surrogatepass")) == _outcome(json.loads, text.encode("utf-8", "surrogatepass"))


@pytest.mark.parametrize("raw", [b"", b"\xef\xbb\xbf{}", b'\xff\xfe{\x00}\x00', b"\x00{", b"[1, NaN, -Infinity]", b"\xff"])
def test_loads_of_edge_bytes_matches_json(raw):
    assert repr(_outcome(jsonio.loads, raw)) == repr(_outcome(json.loads, raw))


def test_the_circular_check_is_kept_where_asked():
    loop: list = []
    loop.append(loop)
    assert _outcome(jsonio.dumps, loop) == _outcome(json.dumps, loop)
    assert _outcome(jsonio.dumps, {1j: 1}) == _outcome(json.dumps, {1j: 1})
    assert _outcome(jsonio.dumps, object()) == _outcome(json.dumps, object())


def test_exit_codes_keep_what_the_enum_gave():
    codes = list(ExitCode)
    assert [c.name for c in codes][:3] == ["OK", "ERROR", "USAGE"] and len(codes) == len(set(codes)) == 17
    assert ExitCode.USAGE == 2 and int(ExitCode.INTERRUPTED) == 130 and f"{ExitCode.INDEX}" == str(ExitCode.INDEX) == "4"
    assert ExitCode(5) is ExitCode.NOT_FOUND and ExitCode.NOT_FOUND.value == 5 and isinstance(ExitCode.OK, int)
    with pytest.raises(ValueError):
        ExitCode(99)
    assert json.dumps({"code": ExitCode.STORAGE}) == '{"code": 8}'
