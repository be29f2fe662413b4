"""Issue 19 items 3 and 4 through the installed command: the automatic switch to
the device flow only where the provider's device flow can grant the scopes with
the configured client, one consistent message off a terminal and with
--no-input; and the provider-specific setup guidance, `client list`,
`client show`, and the configured client id in `providers show` and `doctor`
(never the secret)."""

from __future__ import annotations


from integray_auth.registry.loading import load_registry
from integray_auth.usecases.authorize import device_flow_obstacle, offers_device_flow
from tests.support.cli import assert_error_line
from tests.support.terminal import Terminal

NO_DISPLAY = {"DISPLAY": None, "WAYLAND_DISPLAY": None, "BROWSER": None, "CI": None}
GOOGLE = {**NO_DISPLAY, "INTEGRAY_AUTH_GOOGLE_CLIENT_ID": "desktop.apps.googleusercontent.com",
          "INTEGRAY_AUTH_GOOGLE_CLIENT_SECRET": "google-secret"}
REGISTRY = load_registry()


# --- 3. the automatic device flow only where it can work ---------------------


def test_the_rule_asks_the_registry_which_scopes_the_device_flow_can_grant():
    google, github = REGISTRY.get("google"), REGISTRY.get("github")
    gmail = google.scopes_for(["gmail-send-message"])
    drive = google.scopes_for(["drive-upload-file"])

    assert google.device_flow_refuses(gmail) == ["https://www.googleapis.com/auth/gmail.send"]
    assert google.device_flow_refuses(drive) == []
    assert "cannot grant https://www.googleapis.com/auth/gmail.send" in device_flow_obstacle(google, gmail)
    # drive.file is grantable, but Google's device flow needs a "TVs and Limited Input devices" client.
    assert "needs an OAuth client of its own" in device_flow_obstacle(google, drive)
    for scopes in (gmail, drive):
        assert not offers_device_flow(google, "authorization_code", None, True, {}, "linux", scopes)
    # GitHub's device flow grants whatever its browser flow does, with the same OAuth App.
    assert device_flow_obstacle(github, github.scopes_for(["list-repositories"])) is None
    assert offers_device_flow(github, "authorization_code", None, True, {}, "linux", ["repo"])
    assert not offers_device_flow(github, "authorization_code", None, True, {"DISPLAY": ":0"}, "linux", ["repo"])


def test_no_display_and_no_terminal_says_why_not_the_device_flow_and_offers_no_browser(cli):
    result = cli("add", "Team Drive", "-p", "google", "-c", "gmail-send-message", "--insecure-storage", env=GOOGLE)

    line = assert_error_line(
        result, 2, "nobody can here", "no browser can be started",
        "the device flow is not used: Google's device flow cannot grant https://www.googleapis.com/auth/gmail.send",
        "nothing was started or saved", "--no-browser prints the URL to open on any machine",
    )
    assert "--device" not in line  # it would not work for gmail.send
    assert "using the device flow" not in result.stderr
    assert cli("list", "--all", "--json").json()["authorizations"] == []


def test_no_input_gives_the_same_message_with_the_device_form_only_where_it_would_work(cli):
    gmail = cli("add", "Team Drive", "-p", "google", "-c", "gmail-send-message", "--insecure-storage", "--no-input",
                env=GOOGLE)
    drive = cli("add", "Team Drive", "-p", "google", "-c", "drive-upload-file", "--insecure-storage", "--no-input",
                env=GOOGLE)
    hub = cli("add", "Hub", "-p", "github", "-c", "list-repositories", "--client-id", "gh-app", "--insecure-storage",
              "--no-input", env=NO_DISPLAY)

    refused = assert_error_line(gmail, 2, "--no-input was given", "the device flow is not used",
                                "cannot grant https://www.googleapis.com/auth/gmail.send", "--no-browser")
    assert "--device" not in refused
    own_client = assert_error_line(drive, 2, "--no-input was given", "the device flow is not used",
                                   'needs an OAuth client of its own (create a second OAuth client, of type "TVs and Limited Input devices")')
    assert own_client.endswith("integray-auth add 'Team Drive' -p google -c drive-upload-file --device)")
    works = assert_error_line(hub, 2, "--no-input was given")
    assert "the device flow is not used" not in works
    assert works.endswith("integray-auth add Hub -p github -c list-repositories --device)")


def test_device_asked_for_scopes_its_device_flow_cannot_grant_is_refused_first(cli):
    result = cli("add", "Team Drive", "-p", "google", "-c", "gmail-send-message", "--device", "--insecure-storage",
                 env=GOOGLE)

    assert_error_line(result, 2, "Google's device flow cannot grant https://www.googleapis.com/auth/gmail.send",
                      "nothing was started or saved", "Leave out --device")


def test_on_a_terminal_without_a_display_the_reason_comes_before_the_url_to_paste(home):
    with Terminal(["add", "Team Drive", "-p", "google", "-c", "gmail-send-message", "--insecure-storage",
                   "--timeout", "5"], env=GOOGLE) as t:
        before = t.expect("https://accounts.google.com/o/oauth2/v2/auth?")
        t.close()
    assert "and the device flow is not used: Google's device flow cannot grant" in before.replace("\n", " ")
    assert "paste the address it redirects to" in before.replace("\n", " ")
    assert "using the device flow" not in before


def test_github_still_switches_to_its_device_flow_and_says_what_to_enable(home, tmp_path):
    # Its device endpoint pointed at a closed loopback port: nothing leaves this machine.
    overlay = tmp_path / "github.toml"
    overlay.write_text('schema_version = 1\n[providers.github]\ndevice_authorization_url = "http://127.0.0.1:9/device"\n')
    with Terminal(["--registry", str(overlay), "add", "Hub", "-p", "github", "-c", "list-repositories", "--client-id", "gh-app",
                   "--insecure-storage", "--timeout", "5"],
                  env={**NO_DISPLAY, "INTEGRAY_AUTH_HTTP_TIMEOUT": "2"}) as t:
        shown = t.expect("using the device flow (--device)")
        t.expect("Enable Device Flow")
        t.close()
    assert "No browser here" in shown and "OAuth App's settings" in t.text


# --- 4. setup guidance and the configured client ------------------------------


def test_reservanto_guidance_says_reservanto_assigns_the_client_id(cli):
    shown = cli("client", "show", "reservanto")

    assert shown.code == 0, shown.stderr
    assert "Reservanto assigns the client id itself: ask Reservanto for a client id" in shown.stdout
    assert "desktop (native)" not in shown.stdout and "Register " not in shown.stdout
    assert "Secret:    not needed" in shown.stdout


def test_setup_names_what_to_register_where_the_redirect_uri_and_the_device_flow_setting(cli):
    github = cli("providers", "show", "github", "--json").json()["provider"]["setup"]
    quickbooks = cli("client", "show", "quickbooks", "--json").json()["client"]["setup"]

    assert (
        "Register an OAuth App (Settings > Developer settings > OAuth Apps > New OAuth App): "
        "https://github.com/settings/applications/new"
    ) in github
    assert "  Redirect URI (callback URL) to enter: http://127.0.0.1/callback (any port)" in github
    assert any('"Enable Device Flow"' in line for line in github)
    assert "  Redirect URI (callback URL) to enter: http://localhost:{53682}/callback" in quickbooks


def test_client_list_show_providers_show_and_doctor_give_the_client_id_never_the_secret(cli, tmp_path, home):
    saved = cli("client", "set", "github", "--client-id", "Iv1.github-app")
    assert saved.code == 0, saved.stderr
    env = {"INTEGRAY_AUTH_NOTION_CLIENT_ID": "notion-app", "INTEGRAY_AUTH_NOTION_CLIENT_SECRET": "notion-secret"}

    listed = cli("client", "list", "--json", env=env).json()["clients"]
    shown = cli("client", "show", "notion", env=env)
    provider = cli("providers", "show", "github")
    provider_json = cli("providers", "show", "notion", "--json", env=env).json()["provider"]["client"]
    doctor = cli("doctor", env=env)
    table = cli("client", "list", env=env)

    assert [(c["provider"], c["client_id"]) for c in listed] == [("github", "Iv1.github-app"), ("notion", "notion-app")]
    assert listed[0]["source"].endswith("config.toml") and listed[1]["source"] == "INTEGRAY_AUTH_NOTION_CLIENT_ID"
    assert listed[1]["secret"] == "from INTEGRAY_AUTH_NOTION_CLIENT_SECRET"
    assert "Client id: notion-app" in shown.stdout and "From:      INTEGRAY_AUTH_NOTION_CLIENT_ID" in shown.stdout
    assert "Client id:         Iv1.github-app (from " in provider.stdout
    assert provider_json["client_id"] == "notion-app"
    assert "client github\tclient id Iv1.github-app (from " in doctor.stdout
    assert "client notion\tclient id notion-app (from INTEGRAY_AUTH_NOTION_CLIENT_ID)" in doctor.stdout
    assert table.stdout.splitlines()[0].split("\t")[:2] == ["github", "Iv1.github-app"]
    for result in (shown, provider, doctor, table):
        assert "notion-secret" not in result.stdout + result.stderr
    assert "notion-secret" not in str(listed) + str(provider_json)


def test_client_show_of_an_unknown_provider_is_not_found_and_an_empty_list_says_how_to_set_one(cli):
    assert_error_line(cli("client", "show", "githbu"), 5, "github")
    empty = cli("client", "list")
    assert empty.code == 0 and empty.stdout == ""
    assert cli("client", "list", "--json").json()["clients"] == []
