"""An authorization is bound to the endpoints it was authorized against; overlays
that change a bundled provider's endpoints or PKCE are shown, warned about, and
never allowed to turn PKCE off; the registry cache is checked like a file.

Through the installed command, with the insecure file store and loopback
stand-ins (the real server and keyring: tests/test_e2e_authorize.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from integray_auth.errors import ExitCode
from integray_auth.registry.loading import load_registry
from integray_auth.stores import lookup
from integray_auth.stores.file_store import FileStore
from integray_auth.stores.index import Index
from integray_auth.stores.secrets import ChunkedTokens
from integray_auth.tokens import TokenSet
from integray_auth.usecases import manage, provider_lookup
from tests.support.cli import assert_error_line, assert_no_crash
from tests.support.overlays import stub, write_overlay
from tests.support.stand_in import CountingEndpoint, running

FRESH = "2099-01-01T00:00:00Z"
EXPIRED = "2000-01-01T00:00:00Z"
GOOGLE_TOKEN_ORIGIN = "https://oauth2.googleapis.com"


@pytest.fixture
def endpoint():
    yield from running(CountingEndpoint("new-access"))


def stub_overlay(path: Path, token_url: str) -> Path:
    return write_overlay(path, stub(token_url))


def authorized(make_ctx, home, name: str, provider: str, connector: str, registry: Path | None = None,
               endpoints: dict | None = None, expires_at: str = FRESH) -> str:
    """An Authorized entry with its tokens in the file store, as an older version
    (endpoints=None) or this one recorded it. Returns its id."""
    ctx = make_ctx(registry_path=registry)
    entry = manage.save_new(ctx, manage.new_authorization(ctx, name, provider, [connector]))
    with Index(home / "index.json", home / "index.lock").transaction() as authorizations:
        saved = lookup.find_in(authorizations, entry.id)
        saved.status, saved.storage, saved.client_id, saved.endpoints = "authorized", "file", "stub-client", endpoints
    store = FileStore(home / "tokens-insecure.json", home / "tokens-insecure.lock")
    ChunkedTokens(store).save(entry.id, TokenSet(access_token="old-access", refresh_token="old-refresh", expires_at=expires_at))
    return entry.id


def recorded(home: Path, authorization_id: str) -> dict | None:
    entries = json.loads((home / "index.json").read_text())["authorizations"]
    return next(e for e in entries if e["id"] == authorization_id).get("endpoints")


# --- the binding ------------------------------------------------------------------------


def test_a_recorded_binding_refuses_a_retargeted_token_endpoint_and_sends_nothing(cli, make_ctx, home, tmp_path, endpoint):
    good = stub_overlay(tmp_path / "good.toml", "https://stub.example/token")
    bound = {"token_origin": "https://stub.example", "revocation_origin": None, "userinfo_origin": None, "issuer": None}
    authorized(make_ctx, home, "Stub", "stub", "reader", good, endpoints=bound, expires_at=EXPIRED)
    hostile = stub_overlay(tmp_path / "hostile.toml", endpoint.url + "/token")

    result = cli("--registry", str(hostile), "token", "Stub")

    line = assert_error_line(result, ExitCode.REGISTRY, "https://stub.example", endpoint.url, str(hostile),
                             "nothing was sent", "integray-auth authorize Stub")
    assert "unexpected error" not in line
    assert endpoint.connections == 0
    assert recorded(home, json.loads((home / "index.json").read_text())["authorizations"][0]["id"]) == bound


def test_a_path_change_on_the_same_origin_is_not_a_retarget(cli, make_ctx, home, tmp_path, endpoint):
    first = stub_overlay(tmp_path / "first.toml", endpoint.url + "/token")
    bound = {"token_origin": endpoint.url, "revocation_origin": None, "userinfo_origin": None, "issuer": None}
    authorized(make_ctx, home, "Stub", "stub", "reader", first, endpoints=bound, expires_at=EXPIRED)
    moved = stub_overlay(tmp_path / "moved.toml", endpoint.url + "/v2/token")
    result = cli("--registry", str(moved), "token", "Stub")
    assert result.code == 0, result.stderr
    assert result.stdout == "new-access\n" and endpoint.connections == 1


def expire(home: Path) -> None:
    store = FileStore(home / "tokens-insecure.json", home / "tokens-insecure.lock")
    for key in json.loads((home / "tokens-insecure.json").read_text())["entries"]:
        authorization_id = key.removeprefix("authorization:")
        tokens = ChunkedTokens(store).load(authorization_id)
        ChunkedTokens(store).save(authorization_id, tokens.copy(expires_at=EXPIRED))


def test_a_valid_access_token_is_handed_out_without_reading_the_registry(cli, make_ctx, home, tmp_path, endpoint):
    # Nothing leaves for any endpoint; the hot path stays as fast as it was.
    good = stub_overlay(tmp_path / "good.toml", "https://stub.example/token")
    bound = {"token_origin": "https://stub.example", "revocation_origin": None, "userinfo_origin": None, "issuer": None}
    authorized(make_ctx, home, "Stub", "stub", "reader", good, endpoints=bound)
    hostile = stub_overlay(tmp_path / "hostile.toml", endpoint.url + "/token")
    assert cli("--registry", str(hostile), "token", "Stub").stdout == "old-access\n"
    expire(home)
    assert cli("--registry", str(hostile), "token", "Stub").code == ExitCode.REGISTRY
    assert endpoint.connections == 0


def test_a_binding_recorded_before_this_version_is_recorded_on_first_use_for_an_overlay_provider(
    cli, make_ctx, home, tmp_path, endpoint
):
    # Nothing to compare with: the registry of the first use becomes the binding (trust on first use).
    first = stub_overlay(tmp_path / "first.toml", endpoint.url + "/token")
    authorization_id = authorized(make_ctx, home, "Stub", "stub", "reader", first, expires_at=EXPIRED)
    assert recorded(home, authorization_id) is None
    assert cli("--registry", str(first), "token", "Stub").stdout == "new-access\n"
    assert recorded(home, authorization_id)["token_origin"] == endpoint.url
    assert endpoint.connections == 1

    other = CountingEndpoint("new-access")
    try:
        hostile = stub_overlay(tmp_path / "hostile.toml", other.url + "/token")
        expire(home)
        assert_error_line(cli("--registry", str(hostile), "token", "Stub"), ExitCode.REGISTRY, endpoint.url, other.url)
        assert other.connections == 0
    finally:
        other.close()


def test_a_binding_recorded_before_this_version_is_the_bundled_one_for_a_bundled_provider(
    cli, make_ctx, home, tmp_path, endpoint
):
    authorization_id = authorized(make_ctx, home, "Gmail", "google", "gmail-list-messages", expires_at=EXPIRED)
    hostile = tmp_path / "hostile.toml"
    hostile.write_text(f'[providers.google]\ntoken_url = "{endpoint.url}/token"\n')

    result = cli("--registry", str(hostile), "token", "Gmail", env={"INTEGRAY_AUTH_GOOGLE_CLIENT_SECRET": "s3cret"})

    assert result.code == ExitCode.REGISTRY, result.stderr
    warning, error = result.stderr.splitlines()  # the overlay warning, then the refusal
    assert str(hostile) in warning and "token_url" in warning and "'google'" in warning
    assert GOOGLE_TOKEN_ORIGIN in error and endpoint.url in error and "integray-auth authorize Gmail" in error
    assert_no_crash(result.stderr)
    assert "s3cret" not in result.stderr
    assert endpoint.connections == 0
    assert recorded(home, authorization_id) is None  # nothing accepted, nothing recorded


# --- the device endpoint is bound like the token endpoint -----------------------------------

ZOOM_BOUND = {"token_origin": "https://zoom.us", "revocation_origin": "https://zoom.us", "userinfo_origin": None,
              "device_origin": "https://zoom.us", "issuer": None}


@pytest.mark.parametrize("endpoints", [ZOOM_BOUND, None], ids=["recorded", "recorded-before-bindings"])
def test_authorize_device_refuses_a_moved_device_endpoint_of_a_bundled_provider_and_sends_nothing(
    cli, make_ctx, home, tmp_path, endpoint, endpoints
):
    # Zoom's device endpoint takes HTTP Basic: a moved one would receive the client secret.
    authorization_id = authorized(make_ctx, home, "Zoom", "zoom", next(iter(load_registry([]).get("zoom").connectors)),
                                  endpoints=endpoints)
    hostile = tmp_path / "hostile.toml"
    hostile.write_text(f'[providers.zoom]\ndevice_authorization_url = "{endpoint.url}/devicecode"\n')

    result = cli("--registry", str(hostile), "authorize", "Zoom", "--device", "--timeout", "5",
                 env={"INTEGRAY_AUTH_ZOOM_CLIENT_ID": "zoom-client", "INTEGRAY_AUTH_ZOOM_CLIENT_SECRET": "s3cret",
                      "CI": "", "INTEGRAY_AUTH_NO_INPUT": ""})

    assert result.code == ExitCode.REGISTRY, result.stderr
    warning, error = result.stderr.splitlines()  # the overlay warning, then the refusal, as for a moved token_url
    assert str(hostile) in warning and "device_authorization_url" in warning and "'zoom'" in warning
    for fragment in ("'Zoom' was authorized against the device authorization endpoint https://zoom.us", endpoint.url,
                     str(hostile), "provider 'zoom'", "nothing was sent", "integray-auth authorize --no-browser Zoom"):
        assert fragment in error, error
    assert_no_crash(result.stderr)
    assert "s3cret" not in result.stderr
    assert endpoint.connections == 0
    assert recorded(home, authorization_id) == endpoints  # nothing accepted, nothing recorded


def test_a_refresh_is_refused_once_the_device_endpoint_moved_as_for_the_token_endpoint(
    cli, make_ctx, home, tmp_path, endpoint
):
    good = stub_overlay(tmp_path / "good.toml", endpoint.url + "/token")
    good.write_text(good.read_text().replace('client_id =', 'device_authorization_url = "https://stub.example/device"\nclient_id ='))
    bound = {"token_origin": endpoint.url, "revocation_origin": None, "userinfo_origin": None,
             "device_origin": "https://stub.example", "issuer": None}
    authorized(make_ctx, home, "Stub", "stub", "reader", good, endpoints=bound, expires_at=EXPIRED)
    device = CountingEndpoint("new-access")
    try:
        hostile = tmp_path / "hostile.toml"
        hostile.write_text(good.read_text().replace("https://stub.example/device", device.url + "/device"))

        result = cli("--registry", str(hostile), "token", "Stub")

        assert_error_line(result, ExitCode.REGISTRY, "device authorization endpoint https://stub.example", device.url,
                          str(hostile), "nothing was sent", "integray-auth authorize Stub")
        assert endpoint.connections == device.connections == 0
        listed = cli("--registry", str(hostile), "list", "--json").json()["authorizations"]
        assert [a["health"] for a in listed] == ["needs_reauthorization"]
        # The registry it was authorized against still refreshes.
        assert cli("--registry", str(good), "token", "Stub").stdout == "new-access\n"
    finally:
        device.close()


def test_a_binding_recorded_before_the_device_endpoint_was_bound_takes_it_on_first_use(cli, make_ctx, home, tmp_path, endpoint):
    good = stub_overlay(tmp_path / "good.toml", endpoint.url + "/token")
    good.write_text(good.read_text().replace('client_id =', 'device_authorization_url = "https://stub.example/device"\nclient_id ='))
    older = {"token_origin": endpoint.url, "revocation_origin": None, "userinfo_origin": None, "issuer": None}
    authorization_id = authorized(make_ctx, home, "Stub", "stub", "reader", good, endpoints=older, expires_at=EXPIRED)
    listed = cli("--registry", str(good), "list", "--json").json()["authorizations"]
    assert [a["health"] for a in listed] == ["authorized"]  # an upgrade is no retarget

    assert cli("--registry", str(good), "token", "Stub").stdout == "new-access\n"

    assert recorded(home, authorization_id) == {**older, "device_origin": "https://stub.example"}


def _check(make_ctx, name: str) -> dict:
    """check_binding as a refresh runs it (in process: a refresh would reach the real Google)."""
    from integray_auth.usecases.binding import check_binding

    ctx = make_ctx()
    authorization = lookup.find(ctx, name)
    check_binding(ctx, authorization, provider_lookup.provider_for(ctx, authorization))
    return lookup.find(ctx, name).endpoints


def test_without_an_overlay_an_older_entry_of_a_bundled_provider_is_bound_to_the_bundled_endpoints(make_ctx, home):
    authorized(make_ctx, home, "Gmail", "google", "gmail-list-messages")
    assert _check(make_ctx, "Gmail") == {
        "token_origin": GOOGLE_TOKEN_ORIGIN,
        "revocation_origin": GOOGLE_TOKEN_ORIGIN,
        "userinfo_origin": None,  # none bundled
        "device_origin": GOOGLE_TOKEN_ORIGIN,
        "issuer": "https://accounts.google.com",
    }


def test_the_bundled_endpoints_are_always_accepted_so_an_upgrade_may_move_them(make_ctx, home):
    # As if an older bundled providers.toml had another token host.
    old = {"token_origin": "https://old-token.example", "revocation_origin": None, "userinfo_origin": None, "issuer": None}
    authorized(make_ctx, home, "Gmail", "google", "gmail-list-messages", endpoints=old)
    assert _check(make_ctx, "Gmail")["token_origin"] == GOOGLE_TOKEN_ORIGIN


def test_origins_leave_out_default_ports_and_case():
    from integray_auth.usecases.binding import origin

    assert origin("https://Login.Example:443/a/b?c") == "https://login.example"
    assert origin("http://127.0.0.1:8000/o/token/") == "http://127.0.0.1:8000"
    assert origin("http://[::1]:9/t") == "http://[::1]:9"
    assert origin("https://login.example:8443/t") != origin("https://login.example/t")


def test_remove_refuses_to_revoke_at_a_retargeted_endpoint_and_keeps_everything(cli, make_ctx, home, tmp_path, endpoint):
    bound = {"token_origin": "https://stub.example", "revocation_origin": "https://stub.example",
             "userinfo_origin": None, "issuer": None}
    good = stub_overlay(tmp_path / "good.toml", "https://stub.example/token")
    good.write_text(good.read_text().replace('client_id =', 'revocation_url = "https://stub.example/revoke"\nclient_id ='))
    authorized(make_ctx, home, "Stub", "stub", "reader", good, endpoints=bound)
    hostile = tmp_path / "hostile.toml"
    hostile.write_text(good.read_text().replace("https://stub.example/revoke", endpoint.url + "/revoke"))

    result = cli("--registry", str(hostile), "remove", "Stub", "--yes")

    assert_error_line(result, ExitCode.REGISTRY, "revocation endpoint", "https://stub.example", endpoint.url,
                      "integray-auth authorize Stub", "--no-revoke")
    assert endpoint.connections == 0
    assert len(json.loads((home / "index.json").read_text())["authorizations"]) == 1
    assert json.loads((home / "tokens-insecure.json").read_text())["entries"]
    # Forgetting it without revoking sends nothing anywhere, so it is allowed.
    assert cli("--registry", str(hostile), "remove", "Stub", "--yes", "--no-revoke").code == 0
    assert endpoint.connections == 0


@pytest.mark.parametrize("endpoints", ['"https://x.example"', '{"token_origin": 5}', '["a"]'])
def test_a_hand_edited_binding_that_is_not_a_table_of_strings_is_exit_4(cli, make_ctx, home, endpoints):
    authorized(make_ctx, home, "Gmail", "google", "gmail-list-messages")
    index = home / "index.json"
    index.write_text(index.read_text().replace('"endpoints": null', f'"endpoints": {endpoints}'))
    assert_error_line(cli("token", "Gmail"), ExitCode.INDEX, "'endpoints'", "doctor --repair")


# --- overlays over bundled providers ----------------------------------------------------


def test_providers_show_names_every_overridden_field_and_the_warning_comes_once(cli, tmp_path):
    overlay = tmp_path / "tenant.toml"
    overlay.write_text('[providers.google]\ntoken_url = "https://tenant.example/token"\npkce = "required"\nname = "G"\n')
    shown = cli("--registry", str(overlay), "providers", "show", "google")
    assert shown.code == 0, shown.stderr
    assert "Overridden:        token_url = 'https://tenant.example/token'" in shown.stdout
    assert f"by {overlay} (bundled: 'https://oauth2.googleapis.com/token')" in shown.stdout
    assert "Overridden:        pkce = 'required'" in shown.stdout and "Overridden:        name" not in shown.stdout
    [warning] = shown.stderr.splitlines()
    assert warning.startswith("integray-auth: warning: ")
    assert str(overlay) in warning and "token_url, pkce" in warning and "'google'" in warning

    as_json = cli("--registry", str(overlay), "providers", "show", "google", "--json").json()["provider"]
    assert as_json["overrides"] == {
        "token_url": {"source": str(overlay), "bundled": "https://oauth2.googleapis.com/token"},
        "pkce": {"source": str(overlay), "bundled": "supported"},
    }
    plain = cli("providers", "show", "google")
    assert plain.stderr == "" and "Overridden" not in plain.stdout


def test_the_fast_path_warns_once_too(cli, make_ctx, home, tmp_path):
    authorized(make_ctx, home, "Gmail", "google", "gmail-list-messages")
    authorized(make_ctx, home, "Drive", "google", "gmail-list-messages")
    overlay = tmp_path / "o.toml"
    overlay.write_text('[providers.google]\nrevocation_url = "https://other.example/revoke"\n')
    for _ in range(2):  # from the TOML, then from the cache
        listed = cli("--registry", str(overlay), "list")
        assert listed.code == 0 and len(listed.stdout.splitlines()) == 2
        [warning] = listed.stderr.splitlines()
        assert "revocation_url" in warning and str(overlay) in warning


def test_an_overlay_setting_a_field_back_to_the_bundled_value_is_no_override(cli, tmp_path):
    first = tmp_path / "first.toml"
    first.write_text('[providers.google]\ntoken_url = "https://tenant.example/token"\n')
    second = tmp_path / "second.toml"
    second.write_text('[providers.google]\ntoken_url = "https://oauth2.googleapis.com/token"\n')
    registry = load_registry([first, second])
    assert registry.get("google").overrides == {} and registry.override_warnings() == []


@pytest.mark.parametrize("text, field", [
    ('pkce = "unsupported"', "pkce"),
    ('variant = "reservanto_long_time_token"', "variant"),
])
def test_an_overlay_may_never_turn_pkce_off_for_a_bundled_provider_that_has_it(cli, tmp_path, text, field):
    overlay = tmp_path / "nopkce.toml"
    overlay.write_text(f"[providers.google]\n{text}\n")
    result = cli("--registry", str(overlay), "providers")
    assert_error_line(result, ExitCode.REGISTRY, str(overlay), "provider 'google'", f"field '{field}'", "PKCE off")


def test_pkce_may_be_changed_where_the_bundled_provider_has_none_or_for_a_provider_of_ones_own(tmp_path):
    overlay = tmp_path / "o.toml"
    overlay.write_text('[providers.reservanto]\npkce = "required"\n')
    assert load_registry([overlay]).get("reservanto").pkce == "required"
    stub = stub_overlay(tmp_path / "stub.toml", "https://stub.example/token")
    stub.write_text(stub.read_text().replace('client_id =', 'pkce = "unsupported"\nclient_id ='))
    assert load_registry([stub]).get("stub").pkce == "unsupported"


# --- userinfo in registry URLs -------------------------------------------------------------


@pytest.mark.parametrize("url", ["https://user:hunter2@login.example/token", "https://hunter2@login.example/token"])
def test_a_registry_url_with_userinfo_is_refused_without_echoing_it(cli, tmp_path, url):
    overlay = stub_overlay(tmp_path / "creds.toml", url)
    result = cli("--registry", str(overlay), "providers")
    line = assert_error_line(result, ExitCode.REGISTRY, str(overlay), "provider 'stub', field 'token_url'", "userinfo")
    assert "hunter2" not in line


# --- the registry cache ---------------------------------------------------------------------


def _tamper(cache: Path, change) -> None:
    path = cache / "registry.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_an_edited_cache_entry_with_a_plain_http_url_is_not_accepted(cli, make_ctx, home, tmp_path, endpoint):
    cache = tmp_path / "cache"
    assert load_registry([], cache_dir=cache).get("google").token_url == "https://oauth2.googleapis.com/token"
    _tamper(cache, lambda data: data["providers"]["google"].update(token_url="http://evil.example/token"))
    assert load_registry([], cache_dir=cache).get("google").token_url == "https://oauth2.googleapis.com/token"
    # ...and the cache is written anew from the files.
    assert json.loads((cache / "registry.json").read_text())["providers"]["google"]["token_url"].startswith("https://oauth2")


def test_the_command_does_not_take_an_edited_cache_either(cli, home):
    assert cli("providers").code == 0  # writes the cache in INTEGRAY_AUTH_HOME/cache
    _tamper(home / "cache", lambda data: data["providers"]["google"].update(token_url="http://evil.example/token"))
    shown = cli("providers", "show", "google", "--json")
    assert shown.code == 0, shown.stderr
    assert shown.json()["provider"]["token_url"] == "https://oauth2.googleapis.com/token"


@pytest.mark.parametrize("change", [
    lambda d: d["providers"]["google"].update(pkce="none"),
    lambda d: d["providers"]["google"].update(redirect_host="0.0.0.0"),
    lambda d: d["providers"]["google"].update(unknown_field=1),
    lambda d: d["providers"]["google"]["connectors"]["gmail-list-messages"].update(scopes=["not-a-scope"]),
    lambda d: d["origin"].pop("google"),
    lambda d: d.pop("overrides"),
    lambda d: d["overrides"].update(google={"pkce": {"source": "x", "bundled": "required"}}) or d["providers"]["google"].update(
        pkce="unsupported"),
])
def test_a_cache_that_would_not_pass_as_a_registry_file_is_read_from_the_files_instead(tmp_path, change):
    cache = tmp_path / "cache"
    load_registry([], cache_dir=cache)
    _tamper(cache, change)
    google = load_registry([], cache_dir=cache).get("google")
    assert google.pkce == "supported" and google.redirect_host == "127.0.0.1"
    assert google.connectors["gmail-list-messages"].scopes != ("not-a-scope",)


def test_a_templated_provider_is_bound_to_its_filled_in_endpoints(make_ctx, home, tmp_path):
    authorization_id = authorized(make_ctx, home, "Contoso", "microsoft", "outlook-read-mail")
    with Index(home / "index.json", home / "index.lock").transaction() as authorizations:
        lookup.find_in(authorizations, authorization_id).parameters = {"tenant": "contoso.onmicrosoft.com"}
    # Before bindings were recorded: the bundled URLs, filled in with its tenant, are the binding.
    bound = _check(make_ctx, "Contoso")
    assert bound["token_origin"] == "https://login.microsoftonline.com"
    assert bound["issuer"] == "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0"
