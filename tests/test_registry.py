"""The provider registry: the bundled providers.toml, the three overlays (the
user's providers.toml, --registry, INTEGRAY_AUTH_REGISTRY), and one clear
line naming file, provider or connector and field for every way a registry
file can be wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from integray_auth.errors import RegistryError
from integray_auth.registry.loading import bundled_registry_path, load_registry
from tests.support import overlays
from tests.support.registry_files import assert_registry_error_line, write  # noqa: F401

BUNDLED_PROVIDERS = {
    "reservanto", "google", "microsoft", "github", "slack", "salesforce",
    "hubspot", "dropbox", "xero", "zoom", "atlassian", "fakturoid",
    "notion", "airtable", "quickbooks", "shopify", "zendesk", "intercom", "linear", "asana", "box", "pipedrive",
    "gitlab", "bitbucket", "docusign", "mailchimp", "monday", "clickup", "calendly", "miro", "zoho",
    "discord", "linkedin", "x", "webex", "typeform", "wrike", "pagerduty", "freshbooks",
    "okta", "okta-org", "auth0", "keycloak",
}  # fmt: skip

# Integray's own names for its Reservanto connectors.
RESERVANTO_CONNECTORS = {
    "get-merchant-info": "Get Merchant Info",
    "list-locations": "List Locations",
    "list-segments": "List Segments",
    "list-events-by-customer": "List Events By Customer",
    "move-one-to-one-booking": "Move One To One Booking",
    "get-available-class-appointments": "Get Available Class Appointments",
    "create-class-booking": "Create Class Booking",
    "booking-cancel": "Booking Cancel",
    "booking-set-no-show-state": "Booking Set No Show State",
}

ACME = "\n" + overlays.provider(
    "acme", "Acme", pkce="", scopes={"read": "Read things", "write": "Change things"},
    connectors=(("read-things", "Read Things", "Reads things.", ("read",)),),
    fields='authorization_url = "https://acme.example/authorize"\ntoken_url = "https://acme.example/token"')


# --- the bundled registry -------------------------------------------------


def test_every_bundled_provider_loads_from_the_bundled_file():
    registry = load_registry()

    assert set(registry.providers) == BUNDLED_PROVIDERS
    assert registry.sources == (str(bundled_registry_path()),)
    for provider in registry.providers.values():
        assert provider.source == str(bundled_registry_path())
        assert provider.name
        assert provider.authorization_url.startswith("https://")
        assert provider.token_url.startswith("https://")
        assert provider.connectors, provider.id
        assert provider.scopes, provider.id


def test_reservanto_has_its_rights_as_scopes_and_integrays_connector_names():
    reservanto = load_registry().get("reservanto")

    assert reservanto.name == "Reservanto"
    assert reservanto.grants == ("reservanto_long_time_token",)
    assert {cid: c.name for cid, c in reservanto.connectors.items()} == RESERVANTO_CONNECTORS
    for right in ("Location_r", "Segment_r", "Event_r", "Booking_w", "FreeSpace_r", "Settings_r", "Customer_r"):
        assert right in reservanto.scopes
    assert reservanto.connector("list-locations").scopes == ("Location_r",)
    assert reservanto.connector("create-class-booking").scopes == ("Booking_w", "Event_r")


def test_every_connector_scope_is_in_its_providers_scopes_table():
    for provider in load_registry().providers.values():
        for connector in provider.connectors.values():
            assert connector.scopes, f"{provider.id}/{connector.id}"
            for scope in connector.scopes:
                assert scope in provider.scopes, f"{provider.id}/{connector.id}: {scope}"


def test_scopes_for_several_connectors_is_their_union_in_first_seen_order():
    reservanto = load_registry().get("reservanto")

    scopes = reservanto.scopes_for(["list-locations", "create-class-booking", "booking-cancel"])

    assert scopes == ["Location_r", "Booking_w", "Event_r"]


# --- overlays, in-process ------------------------------------------------------


def test_an_overlay_adds_a_provider(tmp_path):
    overlay = write(tmp_path / "extra.toml", ACME)

    registry = load_registry([overlay])

    acme = registry.get("acme")
    assert acme.name == "Acme"
    assert acme.source == str(overlay)
    assert acme.connector("read-things").scopes == ("read",)
    assert registry.sources[-1] == str(overlay)
    assert set(registry.providers) == BUNDLED_PROVIDERS | {"acme"}


def test_an_overlay_overrides_one_field_and_keeps_the_rest(tmp_path):
    bundled = load_registry().get("google")
    overlay = write(
        tmp_path / "extra.toml",
        """
        [providers.google]
        token_url = "https://tenant.example/token"
        """,
    )

    google = load_registry([overlay]).get("google")

    assert google.token_url == "https://tenant.example/token"
    assert google.authorization_url == bundled.authorization_url
    assert google.scopes == bundled.scopes
    assert google.connectors == bundled.connectors
    assert google.authorization_params == bundled.authorization_params
    assert google.source == str(overlay)


def test_an_overlay_renames_a_connector_and_keeps_its_scopes(tmp_path):
    overlay = write(
        tmp_path / "extra.toml",
        """
        [providers.reservanto.connectors.list-locations]
        name = "Locations (Prague)"
        """,
    )

    connector = load_registry([overlay]).get("reservanto").connector("list-locations")

    assert connector.name == "Locations (Prague)"
    assert connector.scopes == ("Location_r",)
    assert connector.description.startswith("Lists the merchant's locations")


def test_an_overlay_adds_a_scope_and_a_connector_to_a_bundled_provider(tmp_path):
    overlay = write(
        tmp_path / "extra.toml",
        """
        [providers.reservanto.scopes]
        Voucher_r = "Read vouchers"

        [providers.reservanto.connectors.list-vouchers]
        name = "List Vouchers"
        description = "Lists vouchers."
        scopes = ["Voucher_r", "Customer_r"]
        """,
    )

    reservanto = load_registry([overlay]).get("reservanto")

    assert reservanto.scopes["Voucher_r"] == "Read vouchers"
    assert reservanto.scopes["Location_r"] == "Read locations (provozovny)"
    assert reservanto.connector("list-vouchers").scopes == ("Voucher_r", "Customer_r")
    assert set(RESERVANTO_CONNECTORS) < set(reservanto.connectors)


def test_authorization_params_merge_key_by_key(tmp_path):
    overlay = write(
        tmp_path / "extra.toml",
        """
        [providers.google.authorization_params]
        hd = "example.com"
        """,
    )

    google = load_registry([overlay]).get("google")

    assert google.authorization_params == {"access_type": "offline", "prompt": "consent", "hd": "example.com"}


def test_later_overlays_win_over_earlier_ones(tmp_path):
    first = write(tmp_path / "first.toml", '[providers.google]\ntoken_url = "https://first.example/token"\n')
    second = write(tmp_path / "second.toml", '[providers.google]\ntoken_url = "https://second.example/token"\n')

    google = load_registry([first, second]).get("google")

    assert google.token_url == "https://second.example/token"
    assert google.source == str(second)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
def test_http_urls_are_allowed_for_a_loopback_host(tmp_path, host):
    overlay = write(
        tmp_path / "extra.toml",
        f"""
        [providers.google]
        authorization_url = "http://{host}:8000/authorize"
        token_url = "http://{host}/token"
        """,
    )

    google = load_registry([overlay]).get("google")

    assert google.authorization_url == f"http://{host}:8000/authorize"


# --- overlays, through the installed command ----------------------------------


def test_a_providers_toml_in_the_config_folder_is_read(cli, home):
    write(home / "providers.toml", ACME)

    result = cli("providers", "show", "acme", "--json")

    assert result.code == 0, result.stderr
    provider = result.json()["provider"]
    assert provider["name"] == "Acme"
    assert provider["source"] == str(home / "providers.toml")
    assert [c["id"] for c in provider["connectors"]] == ["read-things"]


def test_registry_option_overrides_a_bundled_field(cli, tmp_path):
    overlay = write(tmp_path / "tenant.toml", '[providers.google]\ntoken_url = "https://tenant.example/token"\n')

    result = cli("--registry", str(overlay), "providers", "show", "google", "--json")

    assert result.code == 0, result.stderr
    assert result.json()["provider"]["token_url"] == "https://tenant.example/token"


def test_registry_environment_variable_adds_a_connector_that_add_accepts(cli, tmp_path):
    overlay = write(
        tmp_path / "extra.toml",
        """
        [providers.reservanto.connectors.list-customers]
        name = "List Customers"
        description = "Lists customers."
        scopes = ["Customer_r"]
        """,
    )
    env = {"INTEGRAY_AUTH_REGISTRY": str(overlay)}

    added = cli("add", "Customers", "-p", "reservanto", "-c", "list-customers", "--no-authorize", env=env)
    listed = cli("list", "--json", env=env)

    assert added.code == 0, added.stderr
    [entry] = listed.json()["authorizations"]
    assert entry["connectors"] == [{"id": "list-customers", "name": "List Customers"}]
    assert entry["requested_scopes"] == ["Customer_r"]


def test_registry_option_applies_after_the_user_file_and_instead_of_the_environment(cli, home, tmp_path):
    write(home / "providers.toml", '[providers.google]\nname = "Google (user file)"\ntoken_url = "https://user.example/token"\n')
    option = write(tmp_path / "option.toml", '[providers.google]\ntoken_url = "https://option.example/token"\n')
    environment = write(tmp_path / "env.toml", '[providers.google]\nname = "Google (environment)"\n')

    result = cli(
        "--registry", str(option), "providers", "show", "google", "--json",
        env={"INTEGRAY_AUTH_REGISTRY": str(environment)},
    )  # fmt: skip

    google = result.json()["provider"]
    assert google["token_url"] == "https://option.example/token"
    assert google["name"] == "Google (user file)"


def test_an_overlay_on_loopback_http_is_accepted_by_the_command(cli, tmp_path):
    overlay = write(
        tmp_path / "local.toml",
        ACME.replace("https://acme.example/authorize", "http://127.0.0.1:9000/authorize").replace(
            "https://acme.example/token", "http://localhost:9000/token"
        ),
    )

    result = cli("--registry", str(overlay), "providers", "show", "acme", "--json")

    assert result.code == 0, result.stderr
    assert result.json()["provider"]["token_url"] == "http://localhost:9000/token"


# --- every validation error ---------------------------------------------------------
#
# Each case is an overlay file and the fragments its one error line must carry
# (besides the file's path). Every case runs in-process against load_registry
# and once through the installed command.

WITHOUT = {key: "\n".join(line for line in ACME.splitlines() if not line.startswith(f"{key} =")) for key in ("authorization_url", "token_url")}
WITHOUT["name"] = ACME.replace('name = "Acme"\n', "")

CASES = {
    "toml-syntax": ('[providers.acme]\nname = "Acme\n', ["invalid TOML", "at line 2, column 13"]),
    "duplicate-provider-table": (
        '[providers.acme]\nname = "A"\n[providers.acme]\nname = "B"\n',
        ["invalid TOML", "Cannot declare ('providers', 'acme') twice", "line 3"],
    ),
    "duplicate-key": ('[providers.google]\nname = "A"\nname = "B"\n', ["invalid TOML", "line 3"]),
    "not-utf8": (b"[providers.google]\nname = \"G\xe9\"\n", ["invalid TOML", "not UTF-8"]),
    "unknown-top-level-key": ('colour = "red"\n', ["top level", "unknown key 'colour'"]),
    "unsupported-schema-version": ("schema_version = 2\n", ["schema_version", "unsupported value 2"]),
    "providers-not-a-table": ("providers = 3\n", [": providers: ", "must be a table of [providers.<id>] tables"]),
    "provider-not-a-table": ('[providers]\nacme = "x"\n', ["provider 'acme'", "must be a table"]),
    "unknown-provider-key": (
        '[providers.google]\ntokenurl = "https://x.example/token"\n',
        ["provider 'google', field 'tokenurl'", "unknown key"],
    ),
    "unknown-connector-key": (
        '[providers.google.connectors.gmail-send-message]\nscope = ["email"]\n',
        ["provider 'google', connector 'gmail-send-message', field 'scope'", "unknown key"],
    ),
    "missing-authorization-url": (WITHOUT["authorization_url"], ["provider 'acme'", "missing required field 'authorization_url'"]),
    "missing-token-url": (WITHOUT["token_url"], ["provider 'acme'", "missing required field 'token_url'"]),
    "missing-name": (WITHOUT["name"], ["provider 'acme'", "missing required field 'name'"]),
    "missing-connector-description": (
        '[providers.google.connectors.new-one]\nname = "New"\nscopes = ["email"]\n',
        ["provider 'google', connector 'new-one'", "missing required field 'description'"],
    ),
    "connector-without-scopes": (
        '[providers.google.connectors.new-one]\nname = "New"\ndescription = "d"\nscopes = []\n',
        ["provider 'google', connector 'new-one', field 'scopes'", "must list at least one scope"],
    ),
    "non-https-url": (
        '[providers.google]\ntoken_url = "http://oauth2.googleapis.com/token"\n',
        ["provider 'google', field 'token_url'", "'http://oauth2.googleapis.com/token' must be an https:// URL"],
    ),
    "scope-not-a-string": (
        '[providers.google.connectors.gmail-send-message]\nscopes = ["email", 7]\n',
        ["provider 'google', connector 'gmail-send-message', field 'scopes'", "7 is not a scope string"],
    ),
    "scope-description-not-a-string": (
        "[providers.google.scopes]\nemail = 1\n",
        ["provider 'google', scope 'email'", "the description must be a string"],
    ),
    "connector-scope-not-in-provider-scopes": (
        '[providers.google.connectors.gmail-send-message]\nscopes = ["https://www.googleapis.com/auth/nope"]\n',
        [
            "provider 'google', connector 'gmail-send-message', field 'scopes'",
            "scope 'https://www.googleapis.com/auth/nope' is not in the provider's [providers.google.scopes] table",
        ],
    ),
    "duplicate-connector-name": (
        '[providers.google.connectors.gmail-send-message]\nname = "gmail - list messages"\n',
        ["provider 'google', connector", "duplicate name"],
    ),
    "bad-pkce": (
        '[providers.google]\npkce = "maybe"\n',
        ["provider 'google', field 'pkce'", "'maybe' is not one of 'required', 'supported', 'unsupported'"],
    ),
    "bad-client-auth": (
        # private_key_jwt is supported now (machine authorizations); mTLS (RFC 8705) is not.
        '[providers.google]\nclient_auth = "tls_client_auth"\n',
        ["provider 'google', field 'client_auth'", "'tls_client_auth' is not one of 'none', 'client_secret_post'"],
    ),
    "bad-variant": (
        '[providers.google]\nvariant = "implicit"\n',
        ["provider 'google', field 'variant'", "'implicit' is not one of 'authorization_code'"],
    ),
    "bad-redirect-host": (
        '[providers.google]\nredirect_host = "0.0.0.0"\n',
        ["provider 'google', field 'redirect_host'", "'0.0.0.0' is not one of '127.0.0.1', 'localhost'"],
    ),
    "bad-scope-separator": (
        '[providers.google]\nscope_separator = ";"\n',
        ["provider 'google', field 'scope_separator'", "';' is not one of ' ', ','"],
    ),
    "bad-scope-parameter": (
        '[providers.google]\nscope_parameter = "scopes"\n',
        ["provider 'google', field 'scope_parameter'", "'scopes' is not one of 'scope', 'user_scope', 'none'"],
    ),
    "port-too-low": (
        "[providers.google]\nredirect_ports = [80]\n",
        ["provider 'google', field 'redirect_ports'", "80 is not a port from 1024 to 65535"],
    ),
    "bad-provider-id": ('[providers.Acme]\nname = "Acme"\n', ["provider 'Acme'", "id must be lowercase letters, digits and '-'"]),
    "bad-connector-id": (
        '[providers.google.connectors.Send_Mail]\nname = "S"\n',
        ["provider 'google', connector 'Send_Mail'", "id must be lowercase letters, digits and '-'"],
    ),
    "name-not-a-string": ("[providers.google]\nname = 5\n", ["provider 'google', field 'name'", "must be a string"]),
    "bool-not-a-boolean": (
        '[providers.google]\nclient_secret_required = "yes"\n',
        ["provider 'google', field 'client_secret_required'", "must be a boolean (true/false)"],
    ),
    "connector-scopes-not-a-list": (
        '[providers.google.connectors.gmail-send-message]\nscopes = "email"\n',
        ["provider 'google', connector 'gmail-send-message', field 'scopes'", "must be a list"],
    ),
    "bad-redirect-path": (
        '[providers.google]\nredirect_path = "callback"\n',
        ["provider 'google', field 'redirect_path'", "must start with '/'"],
    ),
    # Names and descriptions are shown on terminals and in completion menus: no control characters.
    "control-character-in-a-provider-name": (
        '[providers.evil]\nname = "Evil\\u001b]0;T\\u0007X"\nauthorization_url = "https://e.example/a"\ntoken_url = "https://e.example/t"\n',
        ["provider 'evil', field 'name'", "holds the control character '\\x1b'"],
    ),
    "bidi-override-in-a-connector-name": (
        '[providers.google.connectors.gmail-send-message]\nname = "Send\\u202e"\n',
        ["connector 'gmail-send-message', field 'name'", "'\\u202e'"],
    ),
    "csi-in-a-connector-description": (
        '[providers.google.connectors.gmail-send-message]\ndescription = "Sends\\u009b2J"\n',
        ["connector 'gmail-send-message', field 'description'", "'\\x9b'"],
    ),
    "line-break-in-a-scope-description": (
        '[providers.google.scopes]\nemail = "Your e-mail\\r\\nsecond line"\n',
        ["provider 'google', scope 'email', its description", "'\\r'"],
    ),
    "escape-in-notes": ('[providers.google]\nnotes = """one line\nthen \\u001b[2J"""\n', ["field 'notes'", "'\\x1b'"]),
    "escape-in-a-parameter-description": (
        '[providers.microsoft.parameters.tenant]\ndescription = "Tenant\\u0007"\n',
        ["parameter 'tenant', field 'description'", "'\\x07'"],
    ),
}

# More ways to hit the same rules; checked in-process only.
MORE_CASES = {
    "non-https-authorization-url": (
        '[providers.google]\nauthorization_url = "http://accounts.google.com/auth"\n',
        ["field 'authorization_url'", "must be an https:// URL"],
    ),
    "ftp-revocation-url": ('[providers.google]\nrevocation_url = "ftp://x.example/r"\n', ["field 'revocation_url'", "https://"]),
    "http-device-url": ('[providers.google]\ndevice_authorization_url = "http://x.example/d"\n', ["field 'device_authorization_url'"]),
    "http-issuer": ('[providers.google]\nissuer = "http://x.example"\n', ["field 'issuer'"]),
    "http-userinfo-url": ('[providers.google]\nuserinfo_url = "http://x.example/u"\n', ["field 'userinfo_url'"]),
    "http-docs-url": ('[providers.google]\ndocs_url = "http://x.example/docs"\n', ["field 'docs_url'"]),
    "url-without-host": ('[providers.google]\ntoken_url = "https:///token"\n', ["field 'token_url'", "https://"]),
    "http-lookalike-loopback": ('[providers.google]\ntoken_url = "http://127.0.0.1.example/t"\n', ["field 'token_url'"]),
    "not-a-url": ('[providers.google]\ntoken_url = "http://[::1"\n', ["field 'token_url'", "is not a URL"]),
    "empty-name": ('[providers.google]\nname = ""\n', ["provider 'google'", "missing required field 'name'"]),
    "missing-connector-name": (
        '[providers.google.connectors.new-one]\ndescription = "d"\nscopes = ["email"]\n',
        ["connector 'new-one'", "missing required field 'name'"],
    ),
    "missing-connector-scopes": (
        '[providers.google.connectors.new-one]\nname = "New"\ndescription = "d"\n',
        ["connector 'new-one'", "missing required field 'scopes'"],
    ),
    "empty-scope-string": ('[providers.google.connectors.gmail-send-message]\nscopes = [""]\n', ["field 'scopes'", "'' is not a scope string"]),
    "port-too-high": ("[providers.google]\nredirect_ports = [70000]\n", ["field 'redirect_ports'", "70000 is not a port"]),
    "port-as-string": ('[providers.google]\nredirect_ports = ["8080"]\n', ["field 'redirect_ports'", "'8080' is not a port"]),
    "port-as-boolean": ("[providers.google]\nredirect_ports = [true]\n", ["field 'redirect_ports'", "True is not a port"]),
    "ports-not-a-list": ("[providers.google]\nredirect_ports = 8080\n", ["field 'redirect_ports'", "must be a list"]),
    "redirect-path-with-query": ('[providers.google]\nredirect_path = "/cb?x=1"\n', ["field 'redirect_path'", "no query"]),
    "provider-id-with-underscore": ('[providers.acme_co]\nname = "A"\n', ["provider 'acme_co'", "id must be"]),
    "provider-id-starting-with-dash": ('[providers."-acme"]\nname = "A"\n', ["provider '-acme'", "id must be"]),
    "provider-id-ending-in-newline": ('[providers."acme\\n"]\nname = "A"\n', ["provider 'acme\\n'", "id must be"]),
    "connector-id-ending-in-newline": (
        '[providers.google.connectors."send\\n"]\nname = "S"\n',
        ["connector 'send\\n'", "id must be"],
    ),
    "unknown-key-with-a-newline": ('[providers.google]\n"a\\nb" = 1\n', ["field 'a\\nb'", "unknown key"]),
    "boolean-for-a-string": ("[providers.google]\nnotes = true\n", ["field 'notes'", "must be a string"]),
    "string-for-a-boolean": ('[providers.google]\niss_parameter = "no"\n', ["field 'iss_parameter'", "must be a boolean"]),
    "number-for-a-boolean": ("[providers.google]\niss_parameter = 1\n", ["field 'iss_parameter'", "must be a boolean"]),
    "scopes-not-a-table": ('[providers.google]\nscopes = ["email"]\n', ["field 'scopes'", "must be a table"]),
    "connectors-not-a-table": ('[providers.google]\nconnectors = "all"\n', ["field 'connectors'", "must be a table"]),
    "connector-not-a-table": ('[providers.google.connectors]\nsend = "x"\n', ["connector 'send'", "must be a table"]),
    "connector-name-not-a-string": (
        "[providers.google.connectors.gmail-send-message]\nname = 1\n",
        ["connector 'gmail-send-message', field 'name'", "must be a string"],
    ),
    "authorization-param-not-a-string": (
        "[providers.google.authorization_params]\nprompt = 1\n",
        ["field 'authorization_params.prompt'", "must be a string"],
    ),
    "duplicate-connector-name-in-another-case": (
        ACME + '\n[providers.acme.connectors.read-more]\nname = "READ THINGS"\ndescription = "d"\nscopes = ["read"]\n',
        ["provider 'acme', connector 'read-more'", "duplicate name 'READ THINGS' (also 'read-things')"],
    ),
    # RFC 9207: with no issuer to compare with, the iss check would be silently skipped.
    "iss-parameter-without-issuer": (
        "[providers.github]\niss_parameter = true\n",
        ["provider 'github', field 'iss_parameter'", "needs 'issuer'"],
    ),
    # An overlay must not be able to replace the flow's own state or PKCE parameters.
    "reserved-authorization-param": (
        "[providers.google.authorization_params]\nstate = \"fixed\"\n",
        ["provider 'google', field 'authorization_params.state'", "set by integray-auth itself"],
    ),
}


def overlay_file(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "overlay" / "providers.toml"
    path.parent.mkdir(exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("text", "fragments"), [*CASES.values(), *MORE_CASES.values()], ids=[*CASES, *MORE_CASES])
def test_load_registry_names_file_where_and_field(tmp_path, text, fragments):
    path = overlay_file(tmp_path, text)

    with pytest.raises(RegistryError) as caught:
        load_registry([path])

    message = caught.value.message
    assert message.startswith(f"{path}: ")
    for fragment in fragments:
        assert fragment in message
    assert "\n" not in message
    assert caught.value.hint


@pytest.mark.parametrize(("text", "fragments"), CASES.values(), ids=CASES)
def test_the_command_reports_a_bad_registry_on_one_line_with_exit_3(cli, tmp_path, text, fragments):
    path = overlay_file(tmp_path, text)

    result = cli("--registry", str(path), "providers")

    assert_registry_error_line(result, f"integray-auth: {path}: ", *fragments)


def test_a_bad_user_providers_toml_is_reported_by_every_command_that_needs_the_registry(cli, home):
    write(home / "providers.toml", '[providers.google]\npkce = "maybe"\n')

    result = cli("add", "Mail", "-p", "google", "-c", "gmail-send-message", "--no-authorize")

    assert_registry_error_line(result, str(home / "providers.toml"), "provider 'google', field 'pkce'")


def test_a_bad_file_named_by_the_environment_variable_is_reported(cli, tmp_path):
    path = overlay_file(tmp_path, "[providers.google]\nredirect_ports = [80]\n")

    result = cli("providers", "show", "google", env={"INTEGRAY_AUTH_REGISTRY": str(path)})

    assert_registry_error_line(result, str(path), "field 'redirect_ports'", "80 is not a port")


def test_a_missing_overlay_named_by_registry_option_is_an_error(cli, tmp_path):
    missing = tmp_path / "nowhere" / "providers.toml"

    result = cli("--registry", str(missing), "providers")

    line = assert_registry_error_line(result, str(missing), "registry file not found")
    assert "--registry" in line


def test_a_missing_overlay_named_by_the_environment_is_an_error(cli, tmp_path):
    missing = tmp_path / "nowhere.toml"

    result = cli("providers", env={"INTEGRAY_AUTH_REGISTRY": str(missing)})

    assert_registry_error_line(result, str(missing), "registry file not found", "INTEGRAY_AUTH_REGISTRY")


def test_a_folder_given_as_registry_is_an_error_not_a_traceback(cli, tmp_path):
    result = cli("--registry", str(tmp_path), "providers")

    assert_registry_error_line(result, str(tmp_path), "cannot read registry file")


def test_required_fields_are_checked_after_merging_so_an_overlay_may_be_partial(tmp_path):
    first = write(tmp_path / "first.toml", '[providers.acme]\nname = "Acme"\nauthorization_url = "https://a.example/auth"\n')
    second = write(tmp_path / "second.toml", '[providers.acme]\ntoken_url = "https://a.example/token"\n')

    with pytest.raises(RegistryError, match="missing required field 'token_url'"):
        load_registry([first])
    acme = load_registry([first, second]).get("acme")

    assert (acme.name, acme.token_url) == ("Acme", "https://a.example/token")


# --- the checked-registry cache ----------------------------------------------------------


def test_registry_cache_is_used_and_follows_every_change_to_an_overlay(tmp_path, monkeypatch):
    from integray_auth.registry import loading as registry_module

    cache = tmp_path / "cache"
    overlay = tmp_path / "overlay.toml"
    overlay.write_text('[providers.google]\nname = "Google (cached)"\n')
    first = registry_module.load_registry([overlay], cache_dir=cache)
    assert first.get("google").name == "Google (cached)"
    assert (cache / "registry.json").exists()

    def no_toml(path, **_):
        raise AssertionError(f"{path} was parsed although the cache is fresh")

    monkeypatch.setattr(registry_module, "read_toml", no_toml)
    assert registry_module.load_registry([overlay], cache_dir=cache).get("google").name == "Google (cached)"
    monkeypatch.undo()

    overlay.write_text('[providers.google]\nname = "Google (edited)"\ntoken_url = "nope"\n')
    with pytest.raises(RegistryError, match="token_url"):
        registry_module.load_registry([overlay], cache_dir=cache)
    overlay.write_text('[providers.google]\nname = "Google (edited again)"\n')
    assert registry_module.load_registry([overlay], cache_dir=cache).get("google").name == "Google (edited again)"


def test_a_broken_cache_file_is_ignored(tmp_path):
    from integray_auth.registry import loading as registry_module

    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "registry.json").write_text("{not json")
    assert registry_module.load_registry([], cache_dir=cache).get("reservanto") is not None
