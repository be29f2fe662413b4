"""A person at a real terminal (issue 11): guided client setup, prompts that
filter and ask again, Ctrl-C / Ctrl-D, pasting the redirect over SSH, the
account label. Every test runs the installed command on a pseudo-terminal
(tests/support/terminal.py) and reads the screen a VT100 emulator draws.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.cli import assert_error_line, assert_no_crash
from tests.support.terminal import CTRL_C, CTRL_D, ENTER, TAB, Terminal
from tests.support.overlays import provider, write_overlay

pytestmark = pytest.mark.skipif(os.name != "posix", reason="needs a POSIX pseudo-terminal")

FULL_URL_RE = re.compile(r"http://127\.0\.0\.1:\d+/authorize/\?\S+")


def overlay_for(server, path: Path, client_id: str | None = None, extra: str = "") -> Path:
    """Providers at the real test server: `selfserve` without a client id (the
    user brings one), `selfconf` a confidential client that also needs its secret."""
    common = 'console_url = "https://console.example.test/apps"\n' + extra
    reader = (("reader", "Demo Reader", "Reads data.", ("openid", "read")),)
    endpoints = ("authorization_url", "token_url", "userinfo_url")
    return write_overlay(
        path,
        provider("selfserve", "Self Service", server, connectors=reader, endpoints=endpoints,
                 fields=(f'client_id = "{client_id}"\n' if client_id else "") + common),
        provider("selfconf", "Self Confidential", server, connectors=reader, endpoints=endpoints,
                 fields='client_auth = "client_secret_basic"\nclient_secret_required = true\n' + common),
    )


@pytest.fixture
def overlay(auth_server, tmp_path) -> Path:
    return overlay_for(auth_server, tmp_path / "providers.toml")


def terminal(overlay: Path, *args: str, env: dict | None = None, **options) -> Terminal:
    return Terminal(["--registry", str(overlay), *args], env=env, **options)


def listed(cli, overlay=None) -> list[dict]:
    extra = ["--registry", str(overlay)] if overlay else []
    result = cli(*extra, "list", "--all", "--json")
    assert result.code == 0, result.stderr
    return result.json()["authorizations"]


# --- guided client setup -------------------------------------------------------------------


@pytest.mark.e2e
def test_add_without_a_client_id_explains_asks_saves_and_finishes_authorized(cli, overlay, auth_server, http_browser, home):
    env = {**http_browser.env(), "INTEGRAY_AUTH_SELFSERVE_CLIENT_ID": None}
    with terminal(overlay, "add", "Mine", "-p", "selfserve", "-c", "reader", "--insecure-storage", env=env) as t:
        explained = t.expect("Client id for Self Service: ")
        # What to register and where, before the question.
        assert "Self Service needs an OAuth client" in explained
        assert "Register one at https://console.example.test/apps" in explained
        assert "redirect URI http://127.0.0.1/callback (any port)" in explained
        t.type(auth_server["client_id"] + ENTER, pause=0)
        t.expect("Save the client id in config.toml for next time? [Y/n]")
        t.type(ENTER)
        t.expect("Authorized 'Mine' with Self Service", timeout=60)
        assert t.wait() == 0, t.text
    assert http_browser.result()["ok"]
    assert_no_crash(t.text)

    config = home / "config.toml"
    assert f'[clients.selfserve]\nclient_id = "{auth_server["client_id"]}"' in config.read_text()
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    [entry] = listed(cli, overlay)
    assert entry["status"] == "authorized"

    # Saved: the next add needs no terminal and no --client-id.
    again = cli("--registry", str(overlay), "add", "Again", "-p", "selfserve", "-c", "reader", "--insecure-storage",
                env=http_browser.env())
    assert again.code == 0, again.stderr
    http_browser.result()


def test_off_a_terminal_a_missing_client_id_is_a_usage_error_naming_client_set(cli, tmp_path):
    overlay = overlay_for({k: "https://auth.example.test/x" for k in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint")},
                          tmp_path / "p.toml")
    result = cli("--registry", str(overlay), "add", "Mine", "-p", "selfserve", "-c", "reader", "--insecure-storage")

    assert_error_line(result, 2, "no OAuth client id for Self Service", "integray-auth client set selfserve")
    assert listed(cli, overlay) == []


def test_the_name_is_checked_before_the_first_prompt(cli, tmp_path):
    assert cli("add", "Taken", "-p", "reservanto", "-c", "list-locations", "--no-authorize").code == 0
    with Terminal(["add", "taken"]) as t:
        code = t.wait()
    assert code == 6, t.text
    assert "an authorization named 'Taken' already exists" in t.text
    assert "Provider" not in t.text  # no question was asked


def test_the_storage_is_checked_before_the_first_prompt(tmp_path):
    # The tests' keyring is keyring's fail backend: tokens could not be kept.
    with Terminal(["add", "Mine"]) as t:
        code = t.wait()
    assert code == 8, t.text
    assert "no usable OS keyring" in t.text and "Provider" not in t.text


@pytest.mark.e2e
@pytest.mark.real_keyring
def test_client_set_on_a_terminal_asks_for_id_and_hidden_secret(cli, overlay, auth_server, http_browser, secret_service, home):
    keyring_env = {**secret_service.env, **{name: None for name in secret_service.unset}, "PYTHON_KEYRING_BACKEND": None}
    secret = auth_server["confidential_client_secret"]
    with terminal(overlay, "client", "set", "selfconf", env=keyring_env) as t:
        t.expect("Client id for Self Confidential: ")
        t.type("has space" + ENTER, pause=0)  # a wrong answer asks again
        t.expect("Try again")
        t.expect("Client id for Self Confidential: ")
        t.type(auth_server["confidential_client_id"] + ENTER, pause=0)
        t.expect("Client secret for Self Confidential (hidden): ")
        t.type(secret + ENTER, pause=0)
        t.expect("Stored the client secret")
        assert t.wait() == 0, t.text
    assert secret not in t.text  # never echoed
    assert f'client_id = "{auth_server["confidential_client_id"]}"' in (home / "config.toml").read_text()

    added = cli("--registry", str(overlay), "add", "Conf", "-p", "selfconf", "-c", "reader",
                env={**http_browser.env(), **keyring_env})
    assert added.code == 0, added.stderr
    assert http_browser.result()["ok"]
    assert cli("--registry", str(overlay), "client", "remove", "selfconf", env=keyring_env).code == 0


def test_client_set_off_a_terminal_writes_config_toml_keeping_what_was_there(cli, home):
    home.mkdir(parents=True, exist_ok=True)
    config = home / "config.toml"
    config.write_text('# my settings\n[clients.google]\nclient_id = "old.apps.googleusercontent.com"  # work\n\n[clients.github]\nclient_id = "gh"\n')

    result = cli("client", "set", "google", "--client-id", "new.apps.googleusercontent.com")

    assert result.code == 0, result.stderr
    assert "Saved the client id for Google" in result.stderr
    assert "also needs the client secret" in result.stderr  # Google wants one even from desktop apps
    assert config.read_text() == (
        '# my settings\n[clients.google]\nclient_id = "new.apps.googleusercontent.com"\n\n[clients.github]\nclient_id = "gh"\n'
    )
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert cli("client", "set", "reservanto", "--client-id", "r-1").code == 0
    assert config.read_text().endswith('\n[clients.reservanto]\nclient_id = "r-1"\n')
    # Used by add: past the client id, the (fail) keyring stops it.
    assert "no OAuth client id" not in cli("add", "P", "-p", "reservanto", "-c", "list-locations",
                                           env={"INTEGRAY_AUTH_RESERVANTO_CLIENT_ID": None}).stderr


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["client", "set", "reservanto"], 2, "integray-auth client set reservanto --client-id ID"),
        (["client", "set", "reservanto", "--client-id", "a b"], 2, "printable characters without spaces"),
        (["client", "set", "nope", "--client-id", "x"], 5, "unknown provider"),
    ],
)
def test_client_set_refuses_what_it_cannot_save(cli, home, args, code, fragment):
    assert_error_line(cli(*args), code, fragment)
    assert not (home / "config.toml").exists()


def test_client_set_leaves_a_layout_it_cannot_edit_alone(cli, home):
    home.mkdir(parents=True, exist_ok=True)
    config = home / "config.toml"
    before = 'clients = { reservanto = { client_id = "inline" } }\n'
    config.write_text(before)

    assert_error_line(cli("client", "set", "reservanto", "--client-id", "new"), 3, "cannot add the client id",
                      "[clients.reservanto] client_id")
    assert config.read_text() == before


# --- prompts: filter, ask again, Ctrl-C / Ctrl-D ---------------------------------------------


def test_choices_narrow_as_you_type_and_tab_picks(cli):
    with Terminal(["add", "Chat", "--no-authorize"], rows=40) as t:
        t.expect("Provider (type to filter, Tab to pick): ")
        t.settle()
        # choices at first: the menu's first 16 rows, by name (with 43 providers, Airtable to Google)
        assert "Airtable (airtable)" in t.screen_text() and "Google (google)" in t.screen_text()
        t.type("sla")
        t.settle()
        screen = t.screen_text()
        assert "Slack (slack)" in screen
        assert "Airtable (airtable)" not in screen and "Reservanto (reservanto)" not in screen
        t.type(TAB + ENTER)
        t.expect("Connectors of Slack")
        t.settle()
        t.type(CTRL_C)
        assert t.wait() == 130


def test_a_wrong_answer_asks_again(cli):
    with Terminal(["add", "Prague", "--no-authorize"]) as t:
        t.expect("Provider (type to filter, Tab to pick): ")
        t.type("goo" + ENTER)
        t.expect("'goo' is not one of the providers. Did you mean 'google'? Try again")
        t.expect("Provider (type to filter, Tab to pick): ")
        t.type("reservanto" + ENTER)
        t.expect("Connectors of Reservanto")
        t.type("list-locatoins" + ENTER)
        t.expect("'list-locatoins' is not one of the connectors")
        t.expect("Connectors of Reservanto")
        t.type("List Locations" + ENTER)  # the display name works too
        t.expect("Added 'Prague' (Not authorized)")
        assert t.wait() == 0, t.text
    [entry] = listed(cli)
    assert [c["id"] for c in entry["connectors"]] == ["list-locations"]


def test_a_wrong_parameter_value_asks_again(cli):
    with Terminal(["add", "Shop", "-p", "shopify", "-c", "list-products", "--no-authorize"]) as t:
        t.expect("shop: ")
        t.type("not/a/shop" + ENTER)
        t.expect("Try again")
        t.expect("shop: ")
        t.type("acme-store" + ENTER)
        t.expect("Added 'Shop'")
        assert t.wait() == 0, t.text
    [entry] = listed(cli)
    assert entry["parameters"] == {"shop": "acme-store"}


def _at_each_prompt():
    """(arguments, the prompt's text, a keyring needed) for every question the tool asks."""
    return [
        pytest.param(["add", "X", "--no-authorize"], "Provider (type to filter", id="provider"),
        pytest.param(["add", "X", "-p", "reservanto", "--no-authorize"], "Connectors of Reservanto", id="connectors"),
        pytest.param(["add", "X", "-p", "shopify", "-c", "list-products", "--no-authorize"], "shop: ", id="parameter"),
        pytest.param(["add", "X", "-p", "selfserve", "-c", "reader", "--insecure-storage"], "Client id for", id="client-id"),
        pytest.param(["remove", "Old"], "Remove 'Old' and its tokens? [y/N]", id="confirm"),
    ]


@pytest.mark.parametrize("key", [CTRL_C, CTRL_D], ids=["ctrl-c", "ctrl-d"])
@pytest.mark.parametrize(("args", "prompt"), _at_each_prompt())
def test_ctrl_c_and_ctrl_d_end_cleanly_at_every_prompt(cli, tmp_path, args, prompt, key):
    assert cli("add", "Old", "-p", "reservanto", "-c", "list-locations", "--no-authorize").code == 0
    overlay = overlay_for({k: "https://auth.example.test/x" for k in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint")},
                          tmp_path / "p.toml")
    with terminal(overlay, *args, env={"INTEGRAY_AUTH_SELFSERVE_CLIENT_ID": None}) as t:
        t.expect(prompt)
        t.settle()
        t.type(key)
        code = t.wait()
    lines = [line for line in t.screen() if line]
    assert_no_crash(t.text)
    if key == CTRL_C:
        assert code == 130, t.text
        assert lines[-1] == "integray-auth: interrupted"  # on a line of its own
    else:
        assert code == 2, t.text
        assert lines[-1].startswith("integray-auth: no answer given (end of input).")
    assert prompt.split(" [")[0].rstrip() in lines[-2]  # the question stays above, untouched
    assert "Aborted" not in t.text and "^C" not in t.text
    assert [a["name"] for a in listed(cli)] == ["Old"]  # nothing added, nothing removed


def test_connector_option_takes_the_display_name_too(cli):
    result = cli("add", "Prague", "-p", "reservanto", "-c", "list locations", "-c", "Create Class Booking", "--no-authorize")

    assert result.code == 0, result.stderr
    [entry] = listed(cli)
    assert [c["id"] for c in entry["connectors"]] == ["list-locations", "create-class-booking"]


# --- pasting the redirect over SSH -----------------------------------------------------------


@pytest.mark.e2e
def test_pasted_redirect_over_ssh_stays_visible_and_the_full_url_comes_first(cli, auth_server, http_browser, tmp_path):
    overlay = overlay_for(auth_server, tmp_path / "p.toml", client_id=auth_server["client_id"])
    with terminal(overlay, "add", "Pasted", "-p", "selfserve", "-c", "reader", "--no-browser", "--insecure-storage") as t:
        shown = t.expect("Redirect URL (paste it here, then Enter):")
        lines = shown.splitlines()
        lead = lines.index("Open this URL in a browser to authorize (on this or any other machine):")
        # The first URL shown is the full one: the short loopback link only works on this machine.
        full_url = lines[lead + 1].strip()
        assert FULL_URL_RE.fullmatch(full_url) and "code_challenge_method=S256" in full_url, shown
        assert lines[lead + 2] == "On this machine, this short one-time link works too:"
        assert re.fullmatch(r"  http://127\.0\.0\.1:\d+/[A-Za-z0-9_-]{40,}", lines[lead + 3]), lines[lead + 3]
        assert "Waiting up to 5 minutes" in shown

        # The browser runs "elsewhere": it ends on the redirect, which never reaches us.
        subprocess.run([str(http_browser.shim), full_url], env={**os.environ, **http_browser.env(no_callback=True)},
                       check=True, timeout=60)
        callback = http_browser.result()["callback_url"]
        half = len(callback) // 2
        t.type(callback[:half], pause=0.005)
        t.settle()
        before = len(t.raw)
        time.sleep(2.5)  # a spinner would have redrawn the line a dozen times by now
        t.settle()
        assert len(t.raw) == before, "something was drawn over the input line"
        assert t.cursor_line() == "Redirect URL (paste it here, then Enter): " + callback[:half]
        t.type(callback[half:] + ENTER, pause=0)
        t.expect("Authorized 'Pasted' with Self Service", timeout=30)
        assert t.wait() == 0, t.text
    assert any(line.startswith("Authorized 'Pasted'") for line in t.screen())
    assert [a["status"] for a in listed(cli, overlay)] == ["authorized"]


@pytest.mark.parametrize("no_browser", [True, False], ids=["no-browser", "browser"])
def test_the_timeout_hint_does_not_recommend_the_flag_already_given(cli, no_browser):
    args = ["add", "Slow", "-p", "reservanto", "-c", "list-locations", "--insecure-storage", "--timeout", "1"]
    result = cli(*args, *(["--no-browser"] if no_browser else []),
                 env={"INTEGRAY_AUTH_RESERVANTO_CLIENT_ID": "c-1", "BROWSER": "/bin/true"})

    assert result.code == 10, result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.startswith("integray-auth: no answer from the browser") and "--timeout" in last
    assert ("--no-browser" in last) is not no_browser


# --- the account label ---------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.parametrize(("claims", "label"), [({"email": "alice@example.test"}, "alice@example.test"),
                                               ({"preferred_username": True}, "alice"), ({}, None)],
                         ids=["email", "username", "subject-only"])
def test_show_names_the_account_by_email_or_username_never_by_bare_subject(
    cli, auth_server_factory, http_browser, tmp_path, claims, label
):
    server = auth_server_factory(**claims)
    overlay = overlay_for(server, tmp_path / "p.toml", client_id=server["client_id"])
    added = cli("--registry", str(overlay), "add", "Who", "-p", "selfserve", "-c", "reader", "--insecure-storage",
                env=http_browser.env())
    assert added.code == 0, added.stderr
    http_browser.result()

    shown = cli("--registry", str(overlay), "show", "Who")
    as_json = cli("--registry", str(overlay), "show", "Who", "--json").json()["authorization"]
    assert as_json["account"] == label
    if label:
        assert re.search(rf"^Account: +{re.escape(label)}$", shown.stdout, re.M), shown.stdout
    else:  # the server said only sub=1: nothing rather than "Account: 1"
        assert "Account:" not in shown.stdout


def test_console_url_must_be_https(cli, tmp_path):
    overlay = tmp_path / "p.toml"
    overlay.write_text('schema_version = 1\n[providers.reservanto]\nconsole_url = "http://apps.example.test/"\n')

    assert_error_line(cli("--registry", str(overlay), "providers"), 3, "console_url", "must be an https:// URL")

