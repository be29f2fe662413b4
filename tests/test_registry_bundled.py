"""The line the bundled registry must hold: https endpoints, described
scopes, consistent PKCE / redirect / template parameters, a docs URL for
every provider, and docs/providers.md generated from it and current."""

from __future__ import annotations

import re
import subprocess
import sys
from urllib.parse import urlsplit

import pytest

from integray_auth.registry.loading import load_registry
from integray_auth.registry.model import REDIRECT_HOSTS, TEMPLATED_FIELDS
from integray_auth.registry.names import PLACEHOLDER
from tests.support.cli import REPO

REGISTRY = load_registry()
PROVIDERS = sorted(REGISTRY.providers.values(), key=lambda p: p.id)
IDS = [p.id for p in PROVIDERS]
URL_FIELDS = (*TEMPLATED_FIELDS, "docs_url")


def sample_values(provider) -> dict[str, str]:
    """A valid value for every parameter: its default, or a plain name."""
    return {name: p.default if p.default is not None else "example" for name, p in provider.parameters.items()}


@pytest.mark.parametrize("provider", PROVIDERS, ids=IDS)
def test_every_url_is_https_before_and_after_templating(provider):
    rendered = provider.with_parameters(sample_values(provider))
    for field in URL_FIELDS:
        for url in (getattr(provider, field), getattr(rendered, field)):
            if url is None:
                continue
            assert url.startswith("https://"), f"{provider.id}.{field}: {url}"
            assert urlsplit(PLACEHOLDER.sub("x", url)).hostname, f"{provider.id}.{field}: {url}"
        if getattr(rendered, field):
            assert "{" not in getattr(rendered, field), f"{provider.id}.{field} still has a placeholder"


@pytest.mark.parametrize("provider", PROVIDERS, ids=IDS)
def test_every_provider_has_a_docs_url_notes_and_two_to_four_or_more_connectors(provider):
    assert provider.docs_url and provider.docs_url.startswith("https://"), provider.id
    assert provider.notes and provider.notes.strip(), provider.id
    assert len(provider.connectors) >= 2, provider.id


@pytest.mark.parametrize("provider", PROVIDERS, ids=IDS)
def test_every_scope_a_connector_uses_is_described(provider):
    for connector in provider.connectors.values():
        assert connector.description.strip(), f"{provider.id}/{connector.id}"
        for scope in connector.scopes:
            description = provider.scopes.get(scope)
            assert description and description.strip(), f"{provider.id}/{connector.id}: {scope}"
    for scope, description in provider.scopes.items():
        assert description.strip(), f"{provider.id}: {scope}"


@pytest.mark.parametrize("provider", PROVIDERS, ids=IDS)
def test_pkce_client_auth_and_redirect_rules_are_consistent(provider):
    assert provider.redirect_host in REDIRECT_HOSTS
    assert provider.redirect_path.startswith("/")
    assert provider.pkce in ("required", "supported", "unsupported")
    if provider.client_auth == "none" and not provider.client_secret_required and "authorization_code" in provider.grants:
        # A public client's only proof of possession is PKCE (RFC 9700 §2.1.1).
        assert provider.pkce != "unsupported", provider.id
    if provider.client_auth != "none":
        # A provider that authenticates the client must get a secret from somewhere.
        assert provider.client_secret_required or provider.client_auth == "client_secret_post", provider.id
    if provider.revocation_auth:
        assert provider.revocation_url and provider.revocation_needs_secret
    if provider.device_auth:
        assert provider.device_authorization_url
    assert len(set(provider.redirect_ports)) == len(provider.redirect_ports)


@pytest.mark.parametrize("provider", PROVIDERS, ids=IDS)
def test_template_parameters_are_declared_used_and_their_defaults_valid(provider):
    used = {name for field in TEMPLATED_FIELDS for name in PLACEHOLDER.findall(getattr(provider, field) or "")}
    assert used == set(provider.parameters), provider.id
    for parameter in provider.parameters.values():
        assert parameter.description.strip()
        assert parameter.pattern, f"{provider.id}.{parameter.name}: a pattern narrows what a user can type"
        if parameter.default is not None:
            assert parameter.problem(parameter.default) is None
        for hostile in ("a/b", "a?b", "a#b", "a@b", "a b", "a\nb", "..", "a%2Fb", "a:1"):
            assert parameter.problem(hostile), f"{provider.id}.{parameter.name} accepts {hostile!r}"


def test_the_customer_specific_hosts_are_templates():
    expected = {"microsoft": "tenant", "salesforce": "domain", "shopify": "shop", "zendesk": "subdomain", "intercom": "region"}
    for pid, name in expected.items():
        assert name in REGISTRY.get(pid).parameters, pid
    assert REGISTRY.get("microsoft").parameters["tenant"].default == "common"
    assert REGISTRY.get("salesforce").parameters["domain"].default == "login"
    assert REGISTRY.get("shopify").parameters["shop"].default is None
    assert REGISTRY.get("zendesk").parameters["subdomain"].default is None


def test_salesforce_domain_covers_production_sandbox_and_my_domain():
    salesforce = REGISTRY.get("salesforce")
    hosts = {
        value: urlsplit(salesforce.with_parameters({"domain": value}).token_url).hostname
        for value in ("login", "test", "acme.my", "acme--uat.sandbox.my")
    }
    assert hosts == {
        "login": "login.salesforce.com",
        "test": "test.salesforce.com",
        "acme.my": "acme.my.salesforce.com",
        "acme--uat.sandbox.my": "acme--uat.sandbox.my.salesforce.com",
    }
    assert salesforce.parameters["domain"].problem("evil.com.attacker")


def test_the_issues_corrections_hold():
    assert REGISTRY.get("slack").pkce == "supported"
    assert "cannot be undone" in REGISTRY.get("slack").notes
    hubspot = REGISTRY.get("hubspot")
    assert hubspot.redirect_host == "localhost" and "REQUIRED" in hubspot.notes
    assert "replyUrlsWithType" in REGISTRY.get("microsoft").notes and "[::1]" in REGISTRY.get("microsoft").notes
    assert "Enable Device Flow" in REGISTRY.get("github").notes
    zoom = REGISTRY.get("zoom")
    assert (zoom.revocation_auth, zoom.device_auth) == ("client_secret_basic", "client_secret_basic")
    assert zoom.client_auth == "none" and zoom.revocation_needs_secret
    fakturoid = REGISTRY.get("fakturoid")
    assert fakturoid.account_field == "default_account" and fakturoid.userinfo_url.endswith("/user.json")
    assert REGISTRY.get("quickbooks").callback_parameters == ("realmId",)
    assert REGISTRY.get("linear").scope_separator == ","


def test_the_ten_new_providers_are_bundled():
    new = {"notion", "airtable", "quickbooks", "shopify", "zendesk", "intercom", "linear", "asana", "box", "pipedrive"}
    assert new <= set(REGISTRY.providers)
    for pid in new:
        provider = REGISTRY.get(pid)
        assert 2 <= len(provider.connectors) <= 4, pid
        # Each says what it could not confirm.
        assert re.search(r"[Uu]nconfirmed|[Nn]ot yet confirmed", provider.notes), pid


def test_docs_providers_md_is_generated_from_the_registry_and_current():
    script = REPO / "scripts" / "gen_providers_doc.py"
    result = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    text = (REPO / "docs" / "providers.md").read_text(encoding="utf-8")
    for provider in PROVIDERS:
        assert f"## {provider.name} (`{provider.id}`)" in text
        assert provider.docs_url in text


def test_the_doc_generator_notices_a_stale_file(tmp_path):
    script = REPO / "scripts" / "gen_providers_doc.py"
    code = (
        "import sys, runpy; from pathlib import Path; sys.argv = ['x', '--check'];"
        f"g = runpy.run_path({str(script)!r}, run_name='gen');"
        f"g['TARGET'] = Path({str(tmp_path / 'stale.md')!r});"
        "Path(g['TARGET']).write_text('old');"
        "sys.exit(g['main'].__globals__.update(TARGET=g['TARGET']) or g['main'](['--check']))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "out of date" in result.stderr
