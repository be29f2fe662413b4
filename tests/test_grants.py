"""The grant interface: the registry's `grants`, the table of grants, and
how a use case picks one. The grants themselves run end to end in
test_e2e_authorize.py (authorization code) and test_reservanto.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from integray_auth import grants
from integray_auth.errors import ExitCode, RegistryError, UsageError
from integray_auth.grants.base import Grant, Needs
from integray_auth.models import Authorization
from integray_auth.registry.loading import load_registry
from integray_auth.usecases.authorize import choose_grant
from tests.support.cli import assert_error_line

BAD_GRANTS = {
    "unknown-name": (
        '[providers.google]\ngrants = ["implicit"]\n',
        "'implicit' is not one of 'authorization_code', 'reservanto_long_time_token'",
    ),
    "unknown-second-name": ('[providers.google]\ngrants = ["authorization_code", "device"]\n', "'device' is not one of"),
    "empty": ("[providers.google]\ngrants = []\n", "must name at least one grant"),
    "twice": ('[providers.google]\ngrants = ["authorization_code", "authorization_code"]\n', "names a grant twice"),
    "a-number": ("[providers.google]\ngrants = [1]\n", "1 is not one of"),
    "a-nested-list": ('[providers.google]\ngrants = [["authorization_code"]]\n', "is not one of"),
    "a-string-not-a-list": ('[providers.google]\ngrants = "authorization_code"\n', "must be a list"),
    "with-the-former-variant": (
        '[providers.google]\ngrants = ["authorization_code"]\nvariant = "authorization_code"\n',
        "field 'variant': is the former name of 'grants'",
    ),
    "former-variant-unknown": ('[providers.google]\nvariant = "implicit"\n', "field 'variant': 'implicit' is not one of"),
    "public-grant-not-a-grant": (
        '[providers.google]\npublic_grants = ["reservanto_long_time_token"]\n',
        "field 'public_grants': 'reservanto_long_time_token' is not one of this provider's grants",
    ),
    "public-grant-a-list-of-lists": ('[providers.google]\npublic_grants = [["device_code"]]\n', "field 'public_grants'"),
}


def overlay(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "providers.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("text", "fragment"), BAD_GRANTS.values(), ids=BAD_GRANTS)
def test_a_bad_grants_field_is_one_line_naming_file_provider_and_field_exit_3(cli, tmp_path, text, fragment):
    path = overlay(tmp_path, text)

    result = cli("--registry", str(path), "providers")

    line = assert_error_line(result, ExitCode.REGISTRY, f"integray-auth: {path}: provider 'google', field '", fragment)
    assert "unexpected error" not in line
    assert "field 'grants'" in line or "field 'variant'" in line or "field 'public_grants'" in line


def test_the_bundled_providers_name_their_grants():
    registry = load_registry()

    assert registry.get("reservanto").grants == ("reservanto_long_time_token",)
    assert registry.get("reservanto").default_grant == "reservanto_long_time_token"
    assert registry.get("google").default_grant == "authorization_code"
    for provider in registry.providers.values():
        assert provider.grants and set(provider.grants) <= set(grants.GRANTS), provider.id
        for name in provider.grants:
            grants.check_provider(grants.get(name), provider)


def test_an_overlay_lists_several_grants_the_first_the_default_and_replaces_the_bundled_list(tmp_path):
    path = overlay(tmp_path, '[providers.reservanto]\ngrants = ["authorization_code", "reservanto_long_time_token"]\n')

    reservanto = load_registry([path]).get("reservanto")

    assert reservanto.grants == ("authorization_code", "reservanto_long_time_token")
    assert reservanto.default_grant == "authorization_code"


def test_a_provider_without_the_field_uses_the_authorization_code_grant(tmp_path):
    path = overlay(
        tmp_path,
        '[providers.acme]\nname = "ACME"\nauthorization_url = "https://a.example/auth"\ntoken_url = "https://a.example/token"\n',
    )

    assert load_registry([path]).get("acme").grants == ("authorization_code",)


def test_the_former_variant_field_is_read_as_a_one_grant_list(tmp_path):
    path = overlay(tmp_path, '[providers.reservanto]\nvariant = "authorization_code"\n')

    assert load_registry([path]).get("reservanto").grants == ("authorization_code",)


def test_every_named_grant_is_a_grant_module_of_that_name():
    for name in grants.GRANTS:
        grant = grants.get(name)
        assert isinstance(grant, Grant) and grant.name == name
        assert isinstance(grant.needs, Needs)
    assert grants.DEFAULT_GRANT in grants.GRANTS


def test_grant_modules_import_nothing_heavy():
    # `token` imports a grant only to renew tokens, so it talks (requests, oauthlib) whenever
    # it imports one; the command-line and keyring libraries are none of a grant's business.
    probe = (
        "import sys; import integray_auth.grants.authorization_code, integray_auth.grants.reservanto; "
        "print([m for m in ('typer', 'rich', 'click', 'keyring', 'hvac') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout

    assert out.strip() == "[]"


class NeedsDeviceEndpoint(Grant):
    name = "needs_device_endpoint"
    needs = Needs(needs_browser=False, needs_loopback=False, provider_fields=("device_authorization_url",))


def test_a_provider_lacking_a_field_its_grant_needs_is_a_registry_error_naming_it(tmp_path):
    path = overlay(
        tmp_path,
        '[providers.acme]\nname = "ACME"\nauthorization_url = "https://a.example/auth"\ntoken_url = "https://a.example/token"\n',
    )
    acme = load_registry([path]).get("acme")

    with pytest.raises(RegistryError) as caught:
        grants.check_provider(NeedsDeviceEndpoint(), acme)

    assert caught.value.message.startswith(f"{path}: provider 'acme', field 'device_authorization_url': ")
    assert "needs_device_endpoint grant needs it" in caught.value.message
    assert caught.value.exit_code == ExitCode.REGISTRY


def _authorization(grant: str | None = None) -> Authorization:
    return Authorization("id", "Name", "reservanto", ["list-locations"], ["Location_r"], "t", "t", grant=grant)


@pytest.fixture
def two_grants(tmp_path):
    path = overlay(tmp_path, '[providers.reservanto]\ngrants = ["reservanto_long_time_token", "authorization_code"]\n')
    return load_registry([path]).get("reservanto")


def test_authorize_uses_the_grant_asked_for_else_the_one_used_before_else_the_default(two_grants):
    assert choose_grant(two_grants, _authorization(), None) == "reservanto_long_time_token"
    assert choose_grant(two_grants, _authorization("authorization_code"), None) == "authorization_code"
    assert choose_grant(two_grants, _authorization("authorization_code"), "reservanto_long_time_token") == (
        "reservanto_long_time_token"
    )
    # One the provider no longer allows is not kept.
    assert choose_grant(load_registry().get("reservanto"), _authorization("authorization_code"), None) == (
        "reservanto_long_time_token"
    )


def test_a_grant_the_provider_does_not_allow_is_a_usage_error():
    with pytest.raises(UsageError) as caught:
        choose_grant(load_registry().get("reservanto"), _authorization(), "authorization_code")

    assert caught.value.message == "Reservanto does not allow the authorization_code grant"
    assert caught.value.hint == "It allows: reservanto_long_time_token."


def test_providers_show_names_the_grants(cli, tmp_path):
    path = overlay(tmp_path, '[providers.reservanto]\ngrants = ["reservanto_long_time_token", "authorization_code"]\n')

    shown = cli("--registry", str(path), "providers", "show", "reservanto", "--json")
    text = cli("--registry", str(path), "providers", "show", "reservanto")
    google = cli("providers", "show", "google")
    slack = cli("providers", "show", "slack")

    assert shown.code == 0, shown.stderr
    provider = shown.json()["provider"]
    assert provider["grants"] == ["reservanto_long_time_token", "authorization_code"]
    assert provider["variant"] == "reservanto_long_time_token"  # the default, for older scripts
    assert "Grants:            reservanto_long_time_token, authorization_code (the first is the default)\n" in text.stdout
    assert "Grants:            authorization_code, device_code (the first is the default)\n" in google.stdout
    assert "Grants:" not in slack.stdout  # the usual one alone goes without saying


def test_an_overlay_may_not_allow_a_grant_without_pkce_for_a_bundled_provider_that_uses_pkce(cli, tmp_path):
    path = overlay(tmp_path, '[providers.google]\ngrants = ["authorization_code", "reservanto_long_time_token"]\n')

    result = cli("--registry", str(path), "providers")

    line = assert_error_line(result, ExitCode.REGISTRY, str(path), "provider 'google', field 'grants'", "PKCE off")
    assert "unexpected error" not in line


@pytest.mark.parametrize("grant", [["authorization_code"], 7, {"name": "x"}], ids=["list", "number", "table"])
def test_a_grant_in_the_index_that_is_not_a_string_is_a_corrupt_index_exit_4(cli, home, grant):
    import json

    home.mkdir(parents=True, exist_ok=True)
    entry = _authorization().to_json() | {"grant": grant}
    (home / "index.json").write_text(json.dumps({"schema_version": 1, "authorizations": [entry]}))

    for args in (["list"], ["token", "Name"]):
        result = cli(*args)
        line = assert_error_line(result, ExitCode.INDEX, "'grant' is not a string")
        assert "unexpected error" not in line


def test_a_public_grant_neither_needs_nor_sends_the_secret_the_code_exchange_needs(make_ctx):
    # GitHub: client_secret_post and client_secret_required for the web flow;
    # public_grants = ["device_code"]. A secret in the environment is used for
    # the web flow and not sent by the device flow.
    from integray_auth.usecases.clients import MissingClient, resolve_credentials, secret_required

    github = load_registry().get("github")
    assert github.public_grants == ("device_code",)
    assert secret_required(github, "authorization_code") and not secret_required(github, "device_code")
    bare = make_ctx(environ={"INTEGRAY_AUTH_GITHUB_CLIENT_ID": "Iv1.abc"})
    assert resolve_credentials(bare, github, grant="device_code").client_secret is None
    with pytest.raises(MissingClient):
        resolve_credentials(bare, github, grant="authorization_code")
    with_secret = make_ctx(environ={"INTEGRAY_AUTH_GITHUB_CLIENT_ID": "Iv1.abc", "INTEGRAY_AUTH_GITHUB_CLIENT_SECRET": "s3"})
    assert resolve_credentials(with_secret, github, grant="device_code").client_secret is None
    assert resolve_credentials(with_secret, github).client_secret == "s3"  # the default grant: the web flow
    # Zoom's device endpoint insists on HTTP Basic: its grant still asks for the secret.
    zoom = load_registry().get("zoom")
    assert grants.get("device_code").needs_secret(zoom)
