"""Every management command through the installed `integray-auth`, as a user
or a script runs it: success paths, error paths, exit codes, stdout as data
and exactly one line on stderr for each error."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import integray_auth
from integray_auth.cli import run
from integray_auth.errors import ExitCode
from integray_auth.stores.index import Index
from integray_auth.usecases import manage
from tests.support.cli import assert_error_line, assert_no_crash
from tests.support.terminal import run_in_terminal  # noqa: F401

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
AUTHORIZATION_KEYS = {
    "id", "name", "provider", "provider_name", "connectors", "status", "authorized", "active",
    "requested_scopes", "granted_scopes", "account", "parameters", "storage", "shared", "created_at", "updated_at",
    "authorized_at", "expires_at", "deactivated_at", "health", "usable", "refreshed_at", "renewable",
}  # fmt: skip


@pytest.fixture
def given(make_ctx):
    """Save an authorization in-process, as `add --no-authorize` would (faster than a subprocess)."""
    ctx = make_ctx()

    def save(name: str, provider: str = "reservanto", *connectors: str) -> None:
        manage.save_new(ctx, manage.new_authorization(ctx, name, provider, list(connectors or ["list-locations"])))

    return save


def listed(cli, *args: str) -> list[dict]:
    result = cli("list", "--json", *args)
    assert result.code == 0, result.stderr
    return result.json()["authorizations"]


def names(cli, *args: str) -> list[str]:
    return [a["name"] for a in listed(cli, *args)]


def mark_authorized(home: Path, name: str, granted: list[str]) -> None:
    """What a finished authorization leaves in the index (tokens aside)."""
    with Index(home / "index.json", home / "index.lock").transaction() as authorizations:
        [entry] = [a for a in authorizations if a.name == name]
        entry.status = "authorized"
        entry.granted_scopes = granted
        entry.authorized_at = entry.expires_at = "2026-01-01T00:00:00Z"
        entry.storage = "keyring"


# --- version ------------------------------------------------------------------------


def test_version(cli):
    result = cli("--version")

    assert (result.code, result.stdout, result.stderr) == (0, f"integray-auth {integray_auth.__version__}\n", "")


def test_version_through_python_dash_m(home):
    proc = subprocess.run([sys.executable, "-m", "integray_auth", "--version"], capture_output=True, text=True, timeout=30)

    assert (proc.returncode, proc.stdout) == (0, f"integray-auth {integray_auth.__version__}\n")


def test_no_arguments_prints_the_help_and_succeeds(cli):
    result = cli()

    assert (result.code, result.stderr) == (0, "")
    assert result.stdout.startswith("Usage: integray-auth [OPTIONS] COMMAND [ARGS]...")
    assert "Exit codes: 0 ok, 1 error, 2 usage" in result.stdout


# --- providers ------------------------------------------------------------------------


def test_providers_piped_prints_id_name_and_connector_names_as_tsv(cli):
    result = cli("providers")

    assert result.code == 0, result.stderr
    rows = {line.split("\t")[0]: line.split("\t") for line in result.stdout.splitlines()}
    assert rows["reservanto"][1] == "Reservanto"
    assert "List Locations" in rows["reservanto"][2].split(", ")
    assert len(rows) == 43
    assert all(len(row) == 3 for row in rows.values())


def test_providers_json(cli):
    result = cli("providers", "--json")

    assert result.code == 0, result.stderr
    document = result.json()
    assert document["schema_version"] == 1
    by_id = {p["id"]: p for p in document["providers"]}
    assert len(by_id) == 43
    reservanto = by_id["reservanto"]
    assert reservanto["name"] == "Reservanto"
    assert {"scope": "Location_r", "description": "Read locations (provozovny)"} in reservanto["scopes"]
    assert {"id": "list-locations", "name": "List Locations", "scopes": ["Location_r"]}.items() <= next(
        c for c in reservanto["connectors"] if c["id"] == "list-locations"
    ).items()
    assert by_id["xero"]["redirect_uri"] == "http://localhost:{53682|53683|53684}/callback"


def test_providers_show_lists_connectors_and_scopes(cli):
    result = cli("providers", "show", "reservanto")

    assert result.code == 0, result.stderr
    out = result.stdout
    assert out.startswith("Reservanto (reservanto)\n")
    assert "Token URL:         https://api.reservanto.cz/v1/Authorize/GetShortTimeToken" in out
    assert "  list-locations  List Locations: " in out
    assert "      scopes: Booking_w, Event_r" in out
    scopes = out.split("\nScopes\n", 1)[1]
    assert re.search(r"^  Location_r +Read locations \(provozovny\)$", scopes, re.MULTILINE)


def test_providers_show_json(cli):
    result = cli("providers", "show", "reservanto", "--json")

    assert result.code == 0, result.stderr
    provider = result.json()["provider"]
    assert provider["id"] == "reservanto"
    assert provider["variant"] == "reservanto_long_time_token"
    assert [c["id"] for c in provider["connectors"]][:2] == ["get-merchant-info", "list-locations"]
    assert provider["source"].endswith("providers.toml")


def test_providers_show_unknown_suggests_a_close_id(cli):
    result = cli("providers", "show", "reservant")

    assert_error_line(result, ExitCode.NOT_FOUND, "unknown provider 'reservant'", "did you mean 'reservanto'? Run 'integray-auth providers'")


# --- add --------------------------------------------------------------------------------


def test_add_without_authorizing_saves_a_not_authorized_entry(cli):
    result = cli(
        "add", "Reservanto Prague", "-p", "reservanto",
        "-c", "list-locations", "-c", "create-class-booking", "-c", "list-locations", "--no-authorize",
    )  # fmt: skip

    assert result.code == 0, result.stderr
    assert result.stdout == ""
    assert "Added 'Reservanto Prague' (Not authorized)" in result.stderr
    assert "integray-auth authorize 'Reservanto Prague'" in result.stderr
    [entry] = listed(cli)
    assert entry["name"] == "Reservanto Prague"
    assert [c["id"] for c in entry["connectors"]] == ["list-locations", "create-class-booking"]
    assert entry["requested_scopes"] == ["Location_r", "Booking_w", "Event_r"]
    assert (entry["status"], entry["authorized"], entry["active"]) == ("not_authorized", False, True)
    assert re.fullmatch(r"[0-9a-f]{12}", entry["id"])


def test_add_a_duplicate_name_in_any_case_is_a_conflict(cli, given):
    given("Reservanto Prague")

    result = cli("add", "RESERVANTO prague", "-p", "reservanto", "-c", "list-segments", "--no-authorize")

    assert_error_line(result, ExitCode.CONFLICT, "an authorization named 'Reservanto Prague' already exists")
    assert names(cli) == ["Reservanto Prague"]


def test_add_a_name_taken_by_an_inactive_authorization_says_so(cli, given):
    given("Old")
    cli("deactivate", "Old")

    result = cli("add", "old", "-p", "reservanto", "-c", "list-locations", "--no-authorize")

    assert_error_line(result, ExitCode.CONFLICT, "'Old' already exists (inactive)")


def test_add_unknown_provider_suggests_one(cli):
    result = cli("add", "X", "-p", "gogle", "-c", "gmail-send-message", "--no-authorize")

    assert_error_line(result, ExitCode.NOT_FOUND, "unknown provider 'gogle'", "did you mean 'google'? Run ")


def test_add_unknown_connector_names_the_provider_and_suggests_one(cli):
    result = cli("add", "X", "-p", "reservanto", "-c", "list-location", "--no-authorize")

    assert_error_line(
        result, ExitCode.NOT_FOUND,
        "provider 'reservanto' has no connector 'list-location'", "did you mean 'list-locations'? Run ",
        "integray-auth providers show reservanto",
    )  # fmt: skip
    assert listed(cli) == []


def test_add_without_provider_off_a_terminal_is_a_usage_error(cli):
    result = cli("add", "X", "-c", "list-locations", "--no-authorize")

    assert_error_line(result, ExitCode.USAGE, "missing --provider", "integray-auth providers")


def test_add_without_connector_off_a_terminal_is_a_usage_error(cli):
    result = cli("add", "X", "-p", "reservanto", "--no-authorize")

    assert_error_line(result, ExitCode.USAGE, "missing --connector", "integray-auth providers show reservanto")


@pytest.mark.parametrize(
    ("name", "fragment"),
    [("   ", "the name is empty"), ("tab\there", "control, zero-width or bidi characters"), ("x" * 101, "longer than 100 characters")],
    ids=["blank", "control-character", "too-long"],
)
def test_add_rejects_a_bad_name(cli, name, fragment):
    result = cli("add", name, "-p", "reservanto", "-c", "list-locations", "--no-authorize")

    assert_error_line(result, ExitCode.USAGE, fragment)


def test_add_trims_the_name(cli):
    assert cli("add", "  Prague  ", "-p", "reservanto", "-c", "list-locations", "--no-authorize").code == 0

    assert names(cli) == ["Prague"]


def test_add_and_authorize_without_a_client_id_names_the_redirect_uri_to_register(cli):
    # --insecure-storage: the (fail) keyring would stop it first, before the client id.
    result = cli("add", "Prague", "-p", "reservanto", "-c", "list-locations", "--insecure-storage",
                 env={"INTEGRAY_AUTH_RESERVANTO_CLIENT_ID": None})

    assert_error_line(
        result, ExitCode.USAGE,
        "no OAuth client id for Reservanto", "http://127.0.0.1/callback (any port)",
        "integray-auth client set reservanto", "--client-id", "INTEGRAY_AUTH_RESERVANTO_CLIENT_ID",
    )  # fmt: skip
    assert listed(cli) == []


def test_add_and_authorize_with_no_usable_keyring_stops_before_anything_happens(cli, home, tmp_path):
    opened = tmp_path / "browser-was-opened"
    browser = tmp_path / "browser.sh"
    browser.write_text(f"#!/bin/sh\necho \"$1\" > '{opened}'\n")
    browser.chmod(0o755)

    result = cli(
        "add", "Prague", "-p", "reservanto", "-c", "list-locations", "--timeout", "5",
        env={"INTEGRAY_AUTH_RESERVANTO_CLIENT_ID": "client-1", "BROWSER": str(browser)},
    )  # fmt: skip

    assert_error_line(result, ExitCode.STORAGE, "no usable OS keyring", "--insecure-storage")
    assert not (home / "index.json").exists()
    assert not opened.exists()


# --- list ------------------------------------------------------------------------------------


def test_list_piped_prints_header_less_tsv_rows_sorted_by_name(cli, home, given):
    given("zlin", "reservanto", "list-locations", "list-segments")
    given("Brno", "google", "gmail-send-message")
    mark_authorized(home, "Brno", ["https://www.googleapis.com/auth/gmail.send"])

    result = cli("list")

    assert result.code == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.splitlines() == [
        "Google\tBrno\tAuthorized\tGmail - Send Message",
        "Reservanto\tzlin\tNot authorized\tList Locations, List Segments",
    ]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_list_on_a_terminal_prints_an_aligned_table(make_ctx, given):
    given("Prague", "reservanto", "list-locations", "list-segments")
    given("Mail", "google", "gmail-send-message")
    ctx = make_ctx(stdout=Terminal(), environ={"NO_COLOR": "1"})

    run.run_list(ctx, "active", as_json=None)

    assert ctx.stdout.getvalue().splitlines() == [
        "PROVIDER    NAME    STATUS          CONNECTORS",
        "Google      Mail    Not authorized  Gmail - Send Message",
        "Reservanto  Prague  Not authorized  List Locations, List Segments",
    ]


def test_an_empty_list_on_a_terminal_says_how_to_add_one_on_stderr(make_ctx):
    ctx = make_ctx(stdout=Terminal())

    run.run_list(ctx, "active", as_json=None)

    assert ctx.stdout.getvalue() == ""
    assert "integray-auth add NAME --provider P --connector C" in ctx.stderr.getvalue()


def test_list_with_nothing_piped_prints_nothing(cli):
    result = cli("list")

    assert (result.code, result.stdout, result.stderr) == (0, "", "")


def test_list_views_move_with_deactivate_and_activate(cli, given):
    given("Prague")
    given("Brno")

    deactivated = cli("deactivate", "prague")

    assert deactivated.code == 0, deactivated.stderr
    assert "Deactivated 'Prague'" in deactivated.stderr and "integray-auth list --inactive" in deactivated.stderr
    assert names(cli) == ["Brno"]
    assert names(cli, "--inactive") == ["Prague"]
    assert names(cli, "--all") == ["Brno", "Prague"]
    [prague] = listed(cli, "--inactive")
    assert prague["active"] is False
    assert ISO_UTC.match(prague["deactivated_at"])
    assert prague["updated_at"] == prague["deactivated_at"]

    activated = cli("activate", "Prague")

    assert activated.code == 0, activated.stderr
    assert names(cli) == ["Brno", "Prague"]
    assert names(cli, "--inactive") == []
    [prague] = [a for a in listed(cli) if a["name"] == "Prague"]
    assert (prague["active"], prague["deactivated_at"]) == (True, None)


def test_list_inactive_and_all_piped_add_a_deactivated_column(cli, given):
    given("Prague")
    given("Brno")
    cli("deactivate", "Prague")
    [deactivated_at] = [a["deactivated_at"] for a in listed(cli, "--inactive")]

    inactive = cli("list", "--inactive")
    everything = cli("list", "--all")

    assert inactive.stdout.splitlines() == [f"Reservanto\tPrague\tNot authorized\tList Locations\t{deactivated_at}"]
    assert everything.stdout.splitlines() == [
        "Reservanto\tBrno\tNot authorized\tList Locations\t",
        f"Reservanto\tPrague\tNot authorized\tList Locations\t{deactivated_at}",
    ]


def test_list_json_has_the_documented_shape(cli, home, given):
    given("Prague", "reservanto", "list-locations", "create-class-booking")
    given("Mail", "google", "gmail-send-message")
    mark_authorized(home, "Mail", ["https://www.googleapis.com/auth/gmail.send"])

    document = cli("list", "--json").json()

    assert set(document) == {"schema_version", "view", "authorizations"}
    assert (document["schema_version"], document["view"]) == (1, "active")
    mail, prague = document["authorizations"]
    for entry in (mail, prague):
        assert set(entry) == AUTHORIZATION_KEYS
        assert entry["status"] in {"authorized", "not_authorized"}
        assert entry["authorized"] == (entry["status"] == "authorized")
        assert ISO_UTC.match(entry["created_at"]) and ISO_UTC.match(entry["updated_at"])
    assert prague["provider"] == "reservanto"
    assert prague["provider_name"] == "Reservanto"
    assert prague["connectors"] == [
        {"id": "list-locations", "name": "List Locations"},
        {"id": "create-class-booking", "name": "Create Class Booking"},
    ]
    assert prague["requested_scopes"] == ["Location_r", "Booking_w", "Event_r"]
    assert (prague["granted_scopes"], prague["authorized_at"], prague["storage"], prague["account"]) == (None, None, None, None)
    assert (mail["status"], mail["authorized"], mail["storage"]) == ("authorized", True, "keyring")
    assert mail["granted_scopes"] == ["https://www.googleapis.com/auth/gmail.send"]


@pytest.mark.parametrize("view", ["inactive", "all"])
def test_list_json_names_its_view(cli, view):
    assert cli("list", f"--{view}", "--json").json() == {"schema_version": 1, "view": view, "authorizations": []}


def test_list_inactive_and_all_together_is_a_usage_error(cli):
    result = cli("list", "--inactive", "--all")

    assert_error_line(result, ExitCode.USAGE, "--inactive and --all cannot be used together")


def test_list_shows_an_entry_whose_provider_left_the_registry_by_its_ids(cli, tmp_path):
    overlay = tmp_path / "acme.toml"
    overlay.write_text(
        '[providers.acme]\nname = "Acme"\nauthorization_url = "https://a.example/a"\ntoken_url = "https://a.example/t"\n'
        '[providers.acme.scopes]\nread = "Read"\n'
        '[providers.acme.connectors.read-things]\nname = "Read Things"\ndescription = "d"\nscopes = ["read"]\n'
    )
    add_result = cli("--registry", str(overlay), "add", "Acme One", "-p", "acme", "-c", "read-things", "--no-authorize")
    assert add_result.code == 0, add_result.stderr

    result = cli("list")
    shown = cli("show", "Acme One")

    assert result.stdout == "acme\tAcme One\tNot authorized\tread-things\n"
    assert shown.code == 0, shown.stderr
    assert "(not described in the registry)" in shown.stdout


# --- search ----------------------------------------------------------------------------------


@pytest.fixture
def three(given):
    """Three authorizations where alphabetical order is not rank order for
    'Locations', and one that never matches it."""
    given("Alpha", "reservanto", "list-locations")  # substring of a connector id and name
    given("LOCATIONS", "reservanto", "list-segments")  # exact name
    given("Locations Brno", "reservanto", "list-segments")  # prefix of the name
    given("Mail", "google", "gmail-send-message")


def test_search_ranks_exact_then_prefix_then_substring(cli, three):
    result = cli("search", "Locations")

    assert result.code == 0, result.stderr
    assert [line.split("\t")[1] for line in result.stdout.splitlines()] == ["LOCATIONS", "Locations Brno", "Alpha"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("mail", ["Mail"]),  # name
        ("GOOGLE", ["Mail"]),  # provider id and name, any case
        ("reservanto", ["Alpha", "LOCATIONS", "Locations Brno"]),  # provider id, exact for all three
        ("gmail-send-message", ["Mail"]),  # connector id
        ("gmail - send", ["Mail"]),  # connector name
        ("list segments", ["LOCATIONS", "Locations Brno"]),  # connector name
        ("segment_r", ["LOCATIONS", "Locations Brno"]),  # scope
        ("auth/gmail.send", ["Mail"]),  # scope URI
    ],
)
def test_search_looks_at_name_provider_connectors_and_scopes(cli, three, query, expected):
    result = cli("search", query, "--json")

    assert result.code == 0, result.stderr
    assert [a["name"] for a in result.json()["authorizations"]] == expected


def test_search_json_has_the_list_shape(cli, three):
    document = cli("search", "mail", "--json").json()

    assert (document["schema_version"], document["view"]) == (1, "active")
    [entry] = document["authorizations"]
    assert set(entry) == AUTHORIZATION_KEYS


def test_search_honours_inactive_and_all(cli, three):
    cli("deactivate", "Alpha")

    assert [a["name"] for a in cli("search", "locations", "--json").json()["authorizations"]] == ["LOCATIONS", "Locations Brno"]
    assert [a["name"] for a in cli("search", "locations", "--inactive", "--json").json()["authorizations"]] == ["Alpha"]
    assert [a["name"] for a in cli("search", "locations", "--all", "--json").json()["authorizations"]] == [
        "LOCATIONS", "Locations Brno", "Alpha",
    ]  # fmt: skip


def test_search_without_a_match_exits_7_with_nothing_on_stdout(cli, three):
    result = cli("search", "salesforce")

    assert_error_line(result, ExitCode.NO_MATCH, "no active authorizations match 'salesforce'", "--all")


def test_search_without_a_match_in_json_also_exits_7(cli, three):
    assert_error_line(cli("search", "zzz", "--json"), ExitCode.NO_MATCH, "'zzz'")


def test_search_inactive_without_a_match_says_which_view(cli, three):
    assert_error_line(cli("search", "mail", "--inactive"), ExitCode.NO_MATCH, "no inactive authorizations match 'mail'")


def test_search_for_blank_text_is_a_usage_error(cli, three):
    assert_error_line(cli("search", "  "), ExitCode.USAGE, "the search query is empty")


def test_search_inactive_and_all_together_is_a_usage_error(cli, three):
    assert_error_line(cli("search", "x", "--inactive", "--all"), ExitCode.USAGE, "cannot be used together")


# --- show -----------------------------------------------------------------------------------------


def test_show_lists_each_requested_scope_with_description_and_connectors(cli, given):
    given("Prague", "reservanto", "create-class-booking", "list-events-by-customer")

    result = cli("show", "prague")

    assert result.code == 0, result.stderr
    header, scopes = result.stdout.split("\nScopes\n")
    assert "Name:       Prague" in header
    assert "Provider:   Reservanto (reservanto)" in header
    assert "Status:     Not authorized" in header
    assert "Active:     yes" in header
    assert "Connectors: Create Class Booking, List Events By Customer" in header
    assert scopes.splitlines() == [
        "  Booking_w  [requested]",
        "      Create and cancel customer bookings (customer-level, same as the BookNow form)",
        "      needed by: Create Class Booking",
        "  Event_r  [requested]",
        "      Read events (booking information)",
        "      needed by: Create Class Booking, List Events By Customer",
    ]


def test_show_marks_granted_and_missing_scopes_once_authorized(cli, home, given):
    given("Prague", "reservanto", "create-class-booking")
    mark_authorized(home, "Prague", ["Event_r", "Customer_r"])

    result = cli("show", "Prague")

    assert "Status:     Missing scopes" in result.stdout  # health: the grant lacks Booking_w
    assert "  Booking_w  [NOT granted]" in result.stdout
    assert "  Event_r  [granted]" in result.stdout
    assert "  also granted, not requested: Customer_r" in result.stdout


def test_show_json_has_a_scopes_section(cli, home, given):
    given("Prague", "reservanto", "create-class-booking", "list-events-by-customer")
    mark_authorized(home, "Prague", ["Event_r", "Customer_r"])

    result = cli("show", "Prague", "--json")

    assert result.code == 0, result.stderr
    document = result.json()
    assert document["schema_version"] == 1
    authorization = document["authorization"]
    assert set(authorization) == AUTHORIZATION_KEYS | {"scopes", "extra_granted_scopes"}
    assert authorization["scopes"] == [
        {
            "scope": "Booking_w",
            "description": "Create and cancel customer bookings (customer-level, same as the BookNow form)",
            "connectors": ["Create Class Booking"],
            "granted": False,
        },
        {
            "scope": "Event_r",
            "description": "Read events (booking information)",
            "connectors": ["Create Class Booking", "List Events By Customer"],
            "granted": True,
        },
    ]
    assert authorization["extra_granted_scopes"] == ["Customer_r"]


def test_show_json_before_authorizing_has_granted_null(cli, given):
    given("Prague")

    [scope] = cli("show", "Prague", "--json").json()["authorization"]["scopes"]

    assert scope == {"scope": "Location_r", "description": "Read locations (provozovny)", "connectors": ["List Locations"], "granted": None}


def test_show_by_id(cli, given):
    given("Prague")
    [entry] = listed(cli)

    result = cli("show", entry["id"], "--json")

    assert result.json()["authorization"]["name"] == "Prague"


# --- deactivate / activate / remove -------------------------------------------------------


def test_deactivating_twice_is_a_conflict(cli, given):
    given("Prague")
    cli("deactivate", "Prague")

    result = cli("deactivate", "Prague")

    assert_error_line(result, ExitCode.CONFLICT, "authorization 'Prague' is already inactive")


def test_activating_an_active_authorization_is_a_conflict(cli, given):
    given("Prague")

    assert_error_line(cli("activate", "Prague"), ExitCode.CONFLICT, "authorization 'Prague' is already active")


def test_remove_off_a_terminal_without_yes_is_a_usage_error_and_keeps_it(cli, given):
    given("Prague")

    result = cli("remove", "Prague")

    assert_error_line(result, ExitCode.USAGE, "remove needs confirmation", "--yes")
    assert names(cli) == ["Prague"]


def test_remove_with_yes_deletes_it(cli, given):
    given("Prague")
    given("Brno")

    result = cli("remove", "prague", "--yes")

    assert result.code == 0, result.stderr
    assert "Removed 'Prague'." in result.stderr
    assert names(cli, "--all") == ["Brno"]


def test_remove_an_inactive_authorization(cli, given):
    given("Prague")
    cli("deactivate", "Prague")

    assert cli("remove", "Prague", "-y").code == 0
    assert names(cli, "--all") == []


@pytest.mark.parametrize("command", [["show"], ["deactivate"], ["activate"], ["remove", "--yes"], ["authorize"]], ids=lambda c: c[0])
def test_an_unknown_name_suggests_close_matches(cli, command, given):
    given("Reservanto Prague")
    given("Reservanto Brno")

    result = cli(command[0], "Reservanto Prag", *command[1:])

    assert_error_line(
        result, ExitCode.NOT_FOUND,
        "no authorization named 'Reservanto Prag'", "did you mean 'Reservanto Prague' or 'Reservanto Brno'? Run 'integray-auth list --all'",
    )  # fmt: skip


def test_an_unknown_name_with_nothing_close_suggests_nothing(cli, given):
    given("Prague")

    line = assert_error_line(cli("show", "Quetzalcoatl"), ExitCode.NOT_FOUND, "no authorization named 'Quetzalcoatl'")
    assert "did you mean" not in line


# --- interactive prompts under a pseudo-terminal ----------------------------------------


@pytest.mark.skipif(os.name != "posix", reason="needs a POSIX pseudo-terminal")
def test_add_on_a_terminal_asks_for_provider_and_connectors(cli):
    code, output = run_in_terminal(
        ["add", "Prague", "--no-authorize"],
        [("Provider (number or id)", "reservanto"), ("Connectors (numbers or ids", "list-locations, 3")],
    )

    assert code == 0, output
    assert "Reservanto (reservanto)" in output
    assert "List Segments (list-segments: Segment_r)" in output
    [entry] = listed(cli)
    assert [c["id"] for c in entry["connectors"]] == ["list-locations", "list-segments"]


@pytest.mark.skipif(os.name != "posix", reason="needs a POSIX pseudo-terminal")
@pytest.mark.parametrize(("answer", "remaining"), [("n", ["Prague"]), ("y", [])])
def test_remove_on_a_terminal_asks_first(cli, answer, remaining, given):
    given("Prague")

    code, output = run_in_terminal(["remove", "Prague"], [("Remove 'Prague' and its tokens?", answer)])

    assert code == 0, output
    assert names(cli, "--all") == remaining


@pytest.mark.skipif(os.name != "posix", reason="needs a POSIX pseudo-terminal")
def test_ctrl_d_at_a_prompt_is_a_one_line_usage_error(cli):
    code, output = run_in_terminal(["add", "Prague", "--no-authorize"], [("Provider (number or id)", "\x04")])

    assert code == ExitCode.USAGE, output
    assert "integray-auth: no answer given (end of input)" in output
    assert "Aborted" not in output
    assert_no_crash(output)
    assert listed(cli) == []


# --- exit codes ----------------------------------------------------------------------------


def test_the_exit_codes_are_the_documented_ones():
    assert {code.name: int(code) for code in ExitCode} == {
        "OK": 0, "ERROR": 1, "USAGE": 2, "REGISTRY": 3, "INDEX": 4, "NOT_FOUND": 5, "CONFLICT": 6,
        "NO_MATCH": 7, "STORAGE": 8, "AUTHORIZATION": 9, "TIMEOUT": 10, "NETWORK": 11,
        "NOT_AUTHORIZED": 12, "INACTIVE": 13, "CANNOT_RUN": 126, "COMMAND_NOT_FOUND": 127, "INTERRUPTED": 130,
    }  # fmt: skip


def test_an_unknown_command_is_a_usage_error_without_a_traceback(cli):
    result = cli("lsit")

    # Only the close command: 'client' is near enough for difflib's default cutoff, not for ours.
    line = assert_error_line(result, ExitCode.USAGE, "unknown command 'lsit'; did you mean 'list'? Run 'integray-auth --help'")
    assert "client" not in line and "unexpected error" not in line


def test_an_unknown_command_far_from_every_command_gets_no_suggestion(cli):
    line = assert_error_line(cli("quetzalcoatl"), ExitCode.USAGE, "unknown command 'quetzalcoatl'. Run 'integray-auth --help'")

    assert "did you mean" not in line


# --- config.toml ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b'clients = "reservanto"\n', "'clients' must be a table"),
        (b'[clients]\nreservanto = "client-1"\n', "'clients.reservanto' must be a table"),
        (b'[clients.reservanto]\nclient_id = 1\n', "client_id must be a string"),
        (b'[clients.reservanto]\nclient_id = "caf\xe9"\n', "not UTF-8"),  # Latin-1, as an old editor saves it
        (b"[clients.reservanto\n", "invalid TOML"),
    ],
    ids=["clients-not-a-table", "provider-not-a-table", "client-id-not-a-string", "not-utf-8", "bad-toml"],
)
def test_a_bad_config_toml_is_a_registry_error_not_a_crash(cli, home, content, fragment):
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_bytes(content)

    result = cli("add", "Prague", "-p", "reservanto", "-c", "list-locations", "--insecure-storage",
                 env={"INTEGRAY_AUTH_RESERVANTO_CLIENT_ID": None})

    assert_error_line(result, ExitCode.REGISTRY, str(home / "config.toml"), fragment)


def test_the_client_id_in_config_toml_is_used(cli, home):
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text('[clients.reservanto]\nclient_id = "from-config"\n')

    result = cli("add", "Prague", "-p", "reservanto", "-c", "list-locations", env={"INTEGRAY_AUTH_RESERVANTO_CLIENT_ID": None})

    # Past the client id, the flow stops at the (fail) keyring, before any browser.
    assert_error_line(result, ExitCode.STORAGE, "no usable OS keyring")


def test_remove_marks_it_not_authorized_before_its_tokens_go(make_ctx, given):
    """A crash right after the tokens are deleted must not leave an Authorized entry
    without tokens: `token` would fail, and `list` would still say Authorized."""
    from integray_auth.stores.secrets import ChunkedTokens
    from integray_auth.tokens import TokenSet

    class Crash(Exception):
        pass

    class CrashAfterDelete:
        kind = "keyring"

        def __init__(self) -> None:
            self.entries: dict[str, str] = {}

        def get(self, key):
            return self.entries.get(key)

        def set(self, key, value):
            self.entries[key] = value

        def remove(self, key):
            self.entries.pop(key, None)
            raise Crash  # the process dies here

        def describe(self):
            return "crashing store"

        def lock(self, authorization_id):  # the store's own refresh lock: none for a local store
            import contextlib

            return contextlib.nullcontext()

    store = CrashAfterDelete()
    ctx = make_ctx(secret_store_factory=lambda ctx, storage: store)
    given("Prague")
    with ctx.index.transaction() as authorizations:
        [entry] = authorizations
        entry.status, entry.storage = "authorized", "keyring"
    ChunkedTokens(store).save(entry.id, TokenSet(access_token="a", refresh_token="r"))

    with pytest.raises(Crash):
        manage.remove(ctx, "Prague")

    [left] = ctx.index.load()
    assert store.entries == {}
    assert left.status == "not_authorized"


def test_an_index_that_cannot_be_written_stops_add_before_the_browser(cli, tmp_path, home):
    """Index.check_writable, reached: the client id is given and the token file is
    usable, so only the index lock (a folder where the lock file must go) stops it."""
    marker = tmp_path / "browser-ran"
    browser = tmp_path / "browser"
    browser.write_text(f"#!/bin/sh\ntouch {marker}\n")
    browser.chmod(0o755)
    args = ("add", "-p", "reservanto", "-c", "list-locations", "--client-id", "x", "--insecure-storage")

    # The same run with a writable index starts this BROWSER: its absence below means something.
    control = cli(*args, "--timeout", "1", "Control", env={"BROWSER": str(browser)})
    assert control.code == ExitCode.TIMEOUT, control.stderr
    assert marker.exists()
    marker.unlink()

    (home / "index.lock").unlink(missing_ok=True)
    (home / "index.lock").mkdir()
    result = cli(*args, "Nowhere", env={"BROWSER": str(browser)})

    assert_error_line(result, ExitCode.INDEX, f"cannot write the index folder {home}", "INTEGRAY_AUTH_HOME")
    assert not marker.exists()


@pytest.mark.parametrize(
    "option", [["--storage", "vault"], ["--insecure-storage"], ["--device"], ["--client-id", "abc"]], ids=" ".join
)
def test_add_no_authorize_refuses_the_choices_authorize_makes_instead_of_dropping_them(cli, option, home):
    # `--storage vault` used to be taken and forgotten: `authorize` then put the
    # tokens in the keyring. Refused, nothing saved, the hint says where it goes.
    result = cli("add", "Later", "-p", "github", "-c", "list-repositories", "--no-authorize", *option)
    line = assert_error_line(result, 2, f"{option[0]} is chosen when authorizing")
    assert "integray-auth authorize NAME" in line
    assert cli("list", "--all", "--json").json()["authorizations"] == []
