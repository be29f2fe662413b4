"""Where the files live without INTEGRAY_AUTH_HOME: the folders paths.py works out
on Linux are the ones platformdirs gives, for every HOME and XDG variable."""

from __future__ import annotations

import os
import sys

import platformdirs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integray_auth.lean import paths
from integray_auth.lean.paths import APP_NAME, HOME_ENV, Paths

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the XDG folders are worked out on Linux only")

values = st.one_of(st.none(), st.sampled_from(["", "  ", "/", "/home/u", "/home/u/", "//x", "/x y/", "rel", "./rel", "~", "~/x", " /x"]))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(home=values, config=values, data=values, cache=values)
def test_the_folders_are_the_ones_platformdirs_gives(monkeypatch, home, config, data, cache):
    for variable, value in (("HOME", home), ("XDG_CONFIG_HOME", config), ("XDG_DATA_HOME", data), ("XDG_CACHE_HOME", cache)):
        if value is None:
            monkeypatch.delenv(variable, raising=False)
        else:
            monkeypatch.setenv(variable, value)

    folders = paths._xdg_folders()

    if folders is not None:
        expected = (
            platformdirs.user_config_dir(APP_NAME, appauthor=False),
            platformdirs.user_data_dir(APP_NAME, appauthor=False),
            platformdirs.user_cache_dir(APP_NAME, appauthor=False),
        )
        assert folders == expected
    assert (folders is not None) == (
        (home or "").startswith("/") and all((v or "").startswith("/") or not (v or "").strip() for v in (config, data, cache))
    )


def test_without_integray_auth_home_the_xdg_folders_are_used(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)

    found = Paths.from_environment({})

    assert str(found.config_dir) == os.path.join(tmp_path, "config", APP_NAME)
    assert str(found.data_dir) == os.path.join(tmp_path, ".local", "share", APP_NAME)
    assert str(found.cache_dir) == os.path.join(tmp_path, ".cache", APP_NAME)
    assert str(Paths.from_environment({HOME_ENV: str(tmp_path)}).data_dir) == str(tmp_path)
