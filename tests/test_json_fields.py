"""`--json [FIELDS]` and `--jq EXPR` through the installed command: the field
tables are the documents' keys, fields narrow each object of the same
versioned document, and --jq filters that document."""

from __future__ import annotations

import pytest

from integray_auth.cli import jsonfields, output, provider_output
from integray_auth.errors import ExitCode
from integray_auth.stores import lookup
from integray_auth.usecases import manage
from tests.support.cli import assert_error_line


@pytest.fixture
def saved(make_ctx):
    ctx = make_ctx()
    manage.save_new(ctx, manage.new_authorization(ctx, "Reservanto Prague", "reservanto", ["list-locations"]))
    manage.save_new(ctx, manage.new_authorization(ctx, "Gmail", "google", ["gmail-send-message"]))
    manage.set_active(ctx, "Gmail", active=False)
    return ctx


def test_the_field_tables_are_the_keys_of_the_documents(saved):
    ctx = saved
    authorization = lookup.find(ctx, "Gmail")
    output.print_details(ctx, manage.describe(ctx, "Gmail"), jsonfields.JsonOutput())
    import json

    details = json.loads(ctx.stdout.getvalue())["authorization"]

    assert tuple(output.authorization_json(ctx, authorization)) == jsonfields.AUTHORIZATION
    assert tuple(details) == jsonfields.AUTHORIZATION_DETAILS
    assert tuple(provider_output.provider_json(ctx.registry.get("google"))) == jsonfields.PROVIDER


def test_plain_json_keeps_the_whole_versioned_document(cli, saved):
    document = cli("list", "--json").json()

    assert list(document) == ["schema_version", "view", "authorizations"]
    assert tuple(document["authorizations"][0]) == jsonfields.AUTHORIZATION


def test_fields_narrow_each_object_in_the_order_asked(cli, saved):
    result = cli("list", "--all", "--json", "status,name")

    assert result.code == 0, result.stderr
    assert result.json() == {
        "schema_version": 1,
        "view": "all",
        "authorizations": [
            {"status": "not_authorized", "name": "Gmail"},
            {"status": "not_authorized", "name": "Reservanto Prague"},
        ],
    }
    assert list(result.json()["authorizations"][0]) == ["status", "name"]


def test_a_word_after_json_that_is_no_field_is_still_the_query(cli, saved):
    assert cli("search", "--json", "prague").json()["authorizations"][0]["name"] == "Reservanto Prague"
    assert cli("search", "--json", "name", "prague").json()["authorizations"] == [{"name": "Reservanto Prague"}]
    assert cli("search", "prague", "--json", "name").json()["authorizations"] == [{"name": "Reservanto Prague"}]


def test_show_and_providers_take_fields_too(cli, saved):
    shown = cli("show", "gmail", "--json", "name,active,scopes").json()
    assert list(shown) == ["schema_version", "authorization"]
    assert list(shown["authorization"]) == ["name", "active", "scopes"]
    assert shown["authorization"]["active"] is False

    providers = cli("providers", "--json", "id,name").json()["providers"]
    assert {"id": "reservanto", "name": "Reservanto"} in providers
    assert all(list(p) == ["id", "name"] for p in providers)

    provider = cli("providers", "show", "google", "--json", "token_url").json()
    assert provider == {"schema_version": 1, "provider": {"token_url": "https://oauth2.googleapis.com/token"}}


def test_an_unknown_field_lists_the_available_ones(cli, saved):
    line = assert_error_line(cli("show", "Gmail", "--json", "name,scope"), ExitCode.USAGE, "unknown JSON field 'scope' for 'show'")

    assert "Available fields: id, name," in line and "scopes, extra_granted_scopes." in line
    assert_error_line(cli("providers", "--json", "nmae"), ExitCode.USAGE, "unknown JSON field 'nmae' for 'providers'", "token_url")


def test_jq_prints_strings_raw_and_other_values_as_json(cli, saved):
    names = cli("list", "--all", "--jq", ".authorizations[].name")
    assert (names.code, names.stdout) == (0, "Gmail\nReservanto Prague\n")

    counted = cli("list", "--all", "--json", "name", "--jq", "{count: (.authorizations | length), first: .authorizations[0]}")
    assert (counted.code, counted.stdout) == (0, '{"count": 2, "first": {"name": "Gmail"}}\n')

    connectors = cli("providers", "show", "reservanto", "--jq", ".provider.connectors[].id")
    assert "list-locations\n" in connectors.stdout


def test_jq_errors_are_one_line_usage_errors(cli, saved):
    assert_error_line(cli("show", "Gmail", "--jq", ".authorization | foo("), ExitCode.USAGE, "is not a valid jq expression")
    assert_error_line(cli("providers", "--jq", ".providers[0].id[]"), ExitCode.USAGE, "failed: Cannot iterate over string")


def test_help_shows_the_optional_field_list(cli):
    text = cli("list", "--help").stdout

    assert "--json [FIELDS]" in text and "--jq EXPR" in text
    assert "integray-auth list --json name,status" in text
