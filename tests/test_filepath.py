"""FilePath (the read path's pathlib.Path without pathlib) against pathlib itself."""

from __future__ import annotations

import os
import pickle
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integray_auth.lean.filepath import FilePath
from integray_auth.stores.locks import lock_path
from integray_auth.stores.secrets import RescuedTokens

pytestmark = pytest.mark.skipif(os.name != "posix", reason="FilePath is pathlib.Path on Windows")

texts = st.lists(st.sampled_from(["", "/", "//", ".", "..", "a", "b.json", "~", "~root", " ", ".x", "ü"]), max_size=6).map("".join)


def _outcome(function):
    try:
        value = function()
    except Exception as error:  # noqa: BLE001
        return type(error)
    return str(value) if isinstance(value, (FilePath, PurePosixPath)) else value


@settings(max_examples=200, deadline=None)
@given(texts, texts)
def test_a_filepath_spells_joins_and_splits_as_pathlib_does(text, other):
    lean, path = FilePath(text), PurePosixPath(text)
    assert str(lean) == str(path) == os.fspath(lean) == f"{lean}"
    assert lean == Path(text) and Path(text) == lean and lean == FilePath(path)
    assert str(lean / other) == str(path / other) and str(other / lean) == str(other / path)
    assert (lean.name, str(lean.parent), str(lean.parent.parent)) == (path.name, str(path.parent), str(path.parent.parent))
    assert _outcome(lambda: lean.with_name(other)) == _outcome(lambda: path.with_name(other))
    assert _outcome(lambda: FilePath(text).expanduser()) == _outcome(lambda: Path(text).expanduser())


def test_a_filepath_reads_and_checks_like_a_path(tmp_path):
    target = FilePath(str(tmp_path)) / "a.json"
    assert not target.exists() and not (target / "below").exists()
    Path(target).write_bytes(b"{}")
    assert target.exists() and target.read_bytes() == b"{}" and target.is_file()  # is_file through pathlib
    assert not (target / "below").exists()  # ENOTDIR is "not there", as in pathlib
    assert not FilePath("a\0b").exists()
    assert pickle.loads(pickle.dumps(target)) == target and hash(target) == hash(FilePath(str(target)))
    assert sorted([FilePath("b"), FilePath("a")]) == [Path("a"), Path("b")]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789abcdefABZz_-./é\n", max_size=70))
def test_file_names_from_ids_are_checked_as_the_regexes_did(authorization_id):
    import re

    expected = authorization_id if re.fullmatch(r"[0-9A-Za-z_-]{1,64}", authorization_id) else None
    name = lock_path(FilePath("/d"), authorization_id).name
    assert (name == f"{authorization_id}.lock") == (expected is not None)
    rescued = RescuedTokens(FilePath("/d"), authorization_id).path.name
    assert (rescued == f"tokens-rescued-{authorization_id}.json") == bool(re.fullmatch(r"[0-9a-f]{1,32}", authorization_id))


@pytest.mark.parametrize("given,expected", [("~/overlay.toml", "~/overlay.toml"), ("a//b/", "a/b"), ("", ".")])
def test_the_registry_option_reaches_the_context_as_a_filepath(given, expected, monkeypatch):
    # The CLI boundary makes the one path type: Typer's --registry hands a FilePath
    # (Click's path checks kept), spelled as pathlib.Path spelled it before.
    from typer.testing import CliRunner

    from integray_auth.cli import app as cli_app

    handed = []

    def context(registry_path=None):
        handed.append(registry_path)
        raise SystemExit(0)  # the option is what is checked; no command needs to run

    monkeypatch.setattr(cli_app, "_context_factory", context)  # the seam app.py names for a ready context
    result = CliRunner().invoke(cli_app.app, ["--registry", given, "doctor"])
    assert result.exit_code == 0, result.output
    assert [type(p) for p in handed] == [FilePath] and handed == [FilePath(expected)] == [Path(given)]
