"""Issue 20's registry data: the four corrections, the confirmed refresh
behaviours, and the providers that bring the registry to forty and more.

Where the fact shows in what a user sees, it is checked through the installed
command: the authorization URL `add --no-browser` prints (nobody answers, so
it ends in a timeout, exit 10) and `providers show --json`."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from integray_auth.registry.loading import load_registry
from tests.support.cli import REPO

REGISTRY = load_registry()
FULL_URL = re.compile(r"https://[^\s)]+")
NEW = (
    "gitlab", "bitbucket", "docusign", "mailchimp", "monday", "clickup", "calendly", "miro", "zoho",
    "discord", "linkedin", "x", "webex", "typeform", "wrike", "pagerduty", "freshbooks",
    "okta", "okta-org", "auth0", "keycloak",
)  # fmt: skip


def authorization_url(result, host: str):
    """The provider's authorization URL from `add --no-browser`'s stderr, split."""
    assert result.code == 10, result.stderr  # nobody answered: timeout
    found = [url for url in FULL_URL.findall(result.stderr) if urlsplit(url).hostname == host]
    assert found, result.stderr
    return urlsplit(found[0])


def add(cli, name: str, provider: str, *args: str, env: dict | None = None):
    return cli("add", name, "-p", provider, *args, "--no-browser", "--timeout", "1", "--insecure-storage", env=env)


def shown(cli, provider: str) -> dict:
    result = cli("providers", "show", provider, "--json")
    assert result.code == 0, result.stderr
    return result.json()["provider"]


# --- forty providers ---------------------------------------------------------


def test_the_registry_has_at_least_forty_providers_with_the_new_ones(cli):
    result = cli("providers", "--json")

    assert result.code == 0, result.stderr
    ids = {p["id"] for p in result.json()["providers"]}
    assert len(ids) >= 40
    assert set(NEW) <= ids


@pytest.mark.parametrize("pid", NEW)
def test_each_new_provider_counts_its_cited_and_unconfirmed_facts(pid):
    text = (REPO / "providers.toml").read_text(encoding="utf-8")
    start = text.index(f"[providers.{pid}]\n")
    block = text[start : text.index('notes = """', start)]
    counted = re.search(r"Facts: (\d+) cited,\s+(?:#\s+)?(\d+) unconfirmed\.", block)
    assert counted, pid
    assert "shared/" + "reference" not in block
    if int(counted.group(2)):  # what could not be confirmed, the user reads too
        assert "Not yet confirmed" in REGISTRY.get(pid).notes, pid
    assert REGISTRY.get(pid).docs_url.startswith("https://")


# --- 1. Linear: no client secret with PKCE -----------------------------------


def test_linear_needs_no_client_secret_and_sends_pkce(cli):
    linear = shown(cli, "linear")
    assert (linear["client_secret_required"], linear["pkce"]) == (False, "supported")
    assert "No client secret is needed" in linear["notes"]

    # A secret given is still sent (in the body); here it stands in for the keyring the
    # isolated run does not have.
    url = authorization_url(add(cli, "Linear", "linear", "-c", "create-issue", "--client-id", "lin-app",
                                env={"INTEGRAY_AUTH_LINEAR_CLIENT_SECRET": "s3cret"}), "linear.app")

    query = parse_qs(url.query)
    assert query["client_id"] == ["lin-app"] and query["code_challenge_method"] == ["S256"]
    assert query["scope"] == ["read,issues:create"]


# --- 2. Asana: deleting needs the :delete scopes -----------------------------


def test_asana_write_scopes_do_not_delete_and_the_delete_scopes_exist():
    asana = REGISTRY.get("asana")
    assert "delete" not in asana.scopes["tasks:write"].replace("not delete", "")
    for resource in ("tasks", "projects", "attachments"):
        assert f"{resource}:delete" in asana.scopes
    assert "tasks:delete" in asana.notes


def test_asana_delete_task_asks_for_tasks_delete(cli):
    url = authorization_url(add(cli, "Asana", "asana", "-c", "delete-task", "--client-id", "as-app",
                                env={"INTEGRAY_AUTH_ASANA_CLIENT_SECRET": "s3cret"}), "app.asana.com")

    assert parse_qs(url.query)["scope"] == ["tasks:delete"]


# --- 3. Box: any loopback port ----------------------------------------------


def test_box_lets_the_loopback_redirect_use_any_port(cli):
    box = shown(cli, "box")
    assert box["redirect_ports"] == [] and box["redirect_uri"] == "http://127.0.0.1/callback (any port)"

    url = authorization_url(add(cli, "Box", "box", "-c", "list-folder", "--client-id", "box-app",
                                env={"INTEGRAY_AUTH_BOX_CLIENT_SECRET": "s3cret"}), "account.box.com")

    redirect = urlsplit(parse_qs(url.query)["redirect_uri"][0])
    assert (redirect.hostname, redirect.path) == ("127.0.0.1", "/callback") and redirect.port


# --- 4. Salesforce: the My Domain formats it documents, nothing more ---------


@pytest.mark.parametrize("domain", [
    "acme.my", "acme--uat.sandbox.my", "acme.develop.my", "acme--patch1.patch.my", "acme.scratch.my",
    "acme.demo.my", "acme.free.my", "acme.trailblaze.my",
])  # fmt: skip
def test_salesforce_accepts_each_documented_my_domain_format(cli, domain):
    url = authorization_url(add(cli, "SF", "salesforce", "-c", "query-records", "--client-id", "sf-app",
                                "--param", f"domain={domain}", env={"INTEGRAY_AUTH_SALESFORCE_CLIENT_SECRET": "s3cret"}),
                            f"{domain}.salesforce.com")

    assert url.path == "/services/oauth2/authorize"


@pytest.mark.parametrize("domain", ["acme.evil.my", "acme.develop", "acme.sandbox.develop.my", "acme.my.evil"])
def test_salesforce_refuses_what_it_does_not_document(cli, domain):
    result = cli("add", "SF", "-p", "salesforce", "-c", "query-records", "--param", f"domain={domain}", "--no-authorize")

    assert result.code == 2, result.stderr
    assert "is not a valid value" in result.stderr and "partitioned" in result.stderr


# --- 5-7. refresh behaviours now confirmed, with their sources --------------


def test_the_confirmed_refresh_behaviours():
    assert REGISTRY.get("shopify").refresh_tokens == "rotating"
    assert REGISTRY.get("zendesk").refresh_tokens == "rotating"
    assert REGISTRY.get("pipedrive").refresh_tokens == "reused"
    assert "expiring=1" in REGISTRY.get("shopify").notes
    assert "expires_in" in REGISTRY.get("zendesk").notes
    assert "SAME refresh" in REGISTRY.get("pipedrive").notes
    text = (REPO / "providers.toml").read_text(encoding="utf-8")
    for source in (
        "shopify.dev/docs/apps/build/authentication-authorization/access-tokens/offline-access-tokens",
        "support.zendesk.com/hc/en-us/articles/9182123625370",
        "pipedrive.readme.io/docs/marketplace-oauth-authorization",
        "linear.app/developers/oauth-2-0-authentication",
        "developers.asana.com/docs/oauth-scopes",
        "developer.box.com/guides/authentication/oauth2/oauth2-setup",
    ):
        assert source in text


def test_the_fact_table_shows_the_confirmed_refresh_behaviours():
    text = (REPO / "docs" / "providers.md").read_text(encoding="utf-8")
    for pid, behaviour in (("shopify", "rotating"), ("zendesk", "rotating"), ("pipedrive", "reused")):
        row = next(line for line in text.splitlines() if line.startswith("| ") and f"(`{pid}`)" in line)
        assert f"| {behaviour} |" in row


# --- templates of the new providers -----------------------------------------


def test_gitlab_is_gitlab_com_by_default_and_a_self_managed_host_by_parameter(cli):
    assert urlsplit(REGISTRY.get("gitlab").with_parameters({}).authorization_url).hostname == "gitlab.com"

    url = authorization_url(add(cli, "GitLab", "gitlab", "-c", "list-projects", "--client-id", "gl-app",
                                "--param", "host=gitlab.example.com", env={"INTEGRAY_AUTH_GITLAB_CLIENT_SECRET": "s3cret"}),
                            "gitlab.example.com")

    assert url.path == "/oauth/authorize"
    assert parse_qs(url.query)["scope"] == ["read_api"]


def test_docusign_demo_and_production_hosts():
    docusign = REGISTRY.get("docusign")
    hosts = {env: urlsplit(docusign.with_parameters({"environment": env}).token_url).hostname for env in ("account", "account-d")}
    assert hosts == {"account": "account.docusign.com", "account-d": "account-d.docusign.com"}
    assert docusign.parameters["environment"].problem("account-x")


def test_zoho_picks_the_data_centre():
    zoho = REGISTRY.get("zoho")
    hosts = {region: urlsplit(zoho.with_parameters({"region": region}).token_url).hostname
             for region in ("zoho.eu", "zohocloud.ca", "zoho.com.cn")}
    assert hosts == {"zoho.eu": "accounts.zoho.eu", "zohocloud.ca": "accounts.zohocloud.ca", "zoho.com.cn": "accounts.zoho.com.cn"}
    assert urlsplit(zoho.with_parameters({}).authorization_url).hostname == "accounts.zoho.com"
    for wrong in ("evil.com", "zoho.ca", "zoho.evil"):  # Canada is zohocloud.ca
        assert zoho.parameters["region"].problem(wrong), wrong


def test_the_identity_providers_by_template():
    okta = REGISTRY.get("okta").with_parameters({"domain": "acme.okta.com"})
    assert okta.issuer == "https://acme.okta.com/oauth2/default"
    assert okta.authorization_url == "https://acme.okta.com/oauth2/default/v1/authorize"
    own = REGISTRY.get("okta").with_parameters({"domain": "acme.okta.com", "server": "aus1a2b3c"})
    assert own.token_url == "https://acme.okta.com/oauth2/aus1a2b3c/v1/token"
    org = REGISTRY.get("okta-org").with_parameters({"domain": "acme.okta.com"})
    assert (org.issuer, org.token_url) == ("https://acme.okta.com", "https://acme.okta.com/oauth2/v1/token")
    auth0 = REGISTRY.get("auth0").with_parameters({"domain": "acme.eu.auth0.com"})
    assert (auth0.issuer, auth0.token_url) == ("https://acme.eu.auth0.com/", "https://acme.eu.auth0.com/oauth/token")
    keycloak = REGISTRY.get("keycloak").with_parameters({"host": "sso.example.com", "realm": "acme"})
    assert keycloak.issuer == "https://sso.example.com/realms/acme"
    assert keycloak.authorization_url == "https://sso.example.com/realms/acme/protocol/openid-connect/auth"
    for pid, name in (("okta", "domain"), ("auth0", "domain"), ("keycloak", "host"), ("keycloak", "realm")):
        assert REGISTRY.get(pid).parameters[name].default is None, (pid, name)  # a customer's own: --param needed


def test_x_is_a_public_client_with_pkce(cli):
    x = shown(cli, "x")
    assert (x["pkce"], x["client_auth"], x["client_secret_required"]) == ("required", "none", False)

    url = authorization_url(add(cli, "X", "x", "-c", "get-user", "--client-id", "x-app"), "x.com")

    query = parse_qs(url.query)
    assert query["code_challenge_method"] == ["S256"] and query["scope"] == ["users.read offline.access"]
