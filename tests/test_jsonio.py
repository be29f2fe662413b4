"""jsonio (the C scanner and encoder without importing json) against json itself."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integray_auth.errors import ExitCode
from integray_auth.lean import jsonio

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


# --- issue 17, item 4: `_json` is a private CPython API, so every use of it falls back to json --


def _raising(*args, **kwargs):
    raise SystemError("<_json.Scanner object> returned NULL without setting an exception")


BROKEN_SCANNERS = {
    "NULL without an exception": lambda context: _raising,
    "another exception": lambda context: lambda s, i: {}["missing"],
    "not a tuple": lambda context: lambda s, i: [1, len(s)],
    "an end past the text": lambda context: lambda s, i: ({"a": 1}, len(s) + 5),
    "an end of the wrong type": lambda context: lambda s, i: ({"a": 1}, float(len(s))),
    "an end before the start": lambda context: lambda s, i: ({"a": 1}, 0),
    "stops early": lambda context: lambda s, i: ("garbage", 1),
    "absent": None,
}
TEXTS = ['{"a": [1, 2', '{"a"', '{"a": 1}', ' [1, "x", null] \n', "[1] x", "", b'{"a": [1]}', b'{"a": [', '"\\ud800"']


@pytest.mark.parametrize("broken", BROKEN_SCANNERS)
def test_when_the_private_scanner_fails_json_answers(monkeypatch, broken):
    make = BROKEN_SCANNERS[broken]
    monkeypatch.setattr(jsonio, "make_scanner", make)
    monkeypatch.setattr(jsonio, "_plain_scan", None if make is None else make(None))
    hook = lambda d: ("object", sorted(d))  # noqa: E731

    for text in TEXTS:
        assert _outcome(jsonio.loads, text) == _outcome(json.loads, text), text
        assert _outcome(jsonio.loads, text, object_hook=hook) == _outcome(json.loads, text, object_hook=hook), text


BROKEN_ENCODERS = {
    "raises": lambda *args: _raising,
    "returns a str of the wrong kind": lambda *args: lambda o, level: [b"bytes"],
    "returns None": lambda *args: lambda o, level: None,
    "absent": None,
}


@pytest.mark.parametrize("broken", BROKEN_ENCODERS)
def test_when_the_private_encoder_fails_json_answers(monkeypatch, broken):
    monkeypatch.setattr(jsonio, "make_encoder", BROKEN_ENCODERS[broken])
    loop: list = []
    loop.append(loop)

    for document in ({"a": [1, "é", None]}, [1.5, True], "text", loop, object()):
        for ensure_ascii in (True, False):
            assert _outcome(jsonio.dumps, document, ensure_ascii, (",", ":")) == _outcome(
                json.dumps, document, ensure_ascii=ensure_ascii, separators=(",", ":"))


@pytest.mark.parametrize("broken", [_raising, lambda s: s, lambda s: b'"x"', None], ids=["raises", "echoes", "bytes", "absent"])
def test_when_the_private_string_encoder_fails_json_answers(monkeypatch, broken):
    monkeypatch.setattr(jsonio, "encode_basestring", broken)
    text = jsonio.string_encoder()

    assert text is jsonio._public_string
    for value in ("plain", '"\\\x00\u2028\ud800é', ""):
        assert text(value) == json.dumps(value, ensure_ascii=False)


def test_the_private_functions_pass_their_probes_on_this_interpreter():
    assert jsonio._plain_scan is not None and jsonio.string_encoder() is jsonio.encode_basestring
    assert json.dumps(jsonio._PROBE, ensure_ascii=False) == jsonio._PROBE_JSON


def test_a_truncated_document_in_a_fresh_interpreter_is_json_s_error():
    """What broke every command: a fresh process (json.decoder not imported yet) reading a
    truncated document. The C scanner returned NULL without an exception (SystemError)."""
    import subprocess
    import sys

    code = ("from integray_auth.lean import jsonio\n"
            "try:\n    jsonio.loads('{\"a\": [1, 2')\n"
            "except Exception as e:\n    print(type(e).__name__, e)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)

    assert done.stdout == "JSONDecodeError Expecting ',' delimiter: line 1 column 12 (char 11)\n", done.stdout + done.stderr
