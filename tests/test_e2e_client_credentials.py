"""Machine authorizations (client credentials, RFC 6749 §4.4) end to end,
through the installed command and a real GNOME Keyring: with a client secret
against django-oauth-toolkit, with private_key_jwt (RFC 7523) against panva's
oidc-provider; and the bad input around them.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest

from tests.support.cli import assert_error_line, assert_no_crash
from tests.support.e2e import introspect, keyring_get, stored_tokens
from tests.support.overlays import provider, write_overlay
from tests.support.stand_in import StandIn

pytestmark = pytest.mark.e2e

# Every provider here: two scopes, one connector that runs without a person.
SCOPES = {"read": "Read your data", "write": "Change your data"}
EXPORTER = ("exporter", "Exporter", "Exports data every night.", ("read",))


def machine_overlay(server, path: Path, token_url: str | None = None) -> Path:
    common = f'authorization_url = "{server["authorization_endpoint"]}"\n' \
             f'token_url = "{token_url or server["token_endpoint"]}"\nclient_id = "{server["machine_client_id"]}"\n'
    machine = dict(scopes=SCOPES, connectors=(EXPORTER,), pkce="")
    return write_overlay(
        path,
        provider("machine", "Machine Server", **machine,
                 fields=common + 'client_auth = "client_secret_basic"\ngrants = ["client_credentials"]'),
        provider("machinepost", "Machine Server (post)", **machine,
                 fields=common + 'client_auth = "client_secret_post"\ngrants = ["client_credentials"]'),
        provider("browseronly", "Browser Only", scopes=SCOPES, connectors=(EXPORTER,), fields=common),
    )


def jwt_overlay(oidc, path: Path) -> Path:
    return write_overlay(path, provider(
        "oidcjwt", "OIDC Provider", scopes=SCOPES, connectors=(EXPORTER,), pkce="",
        fields=f'authorization_url = "{oidc.issuer}/auth"\ntoken_url = "{oidc.token_endpoint}"\n'
               f'client_id = "{oidc.jwt_client_id}"\nclient_auth = "private_key_jwt"\ngrants = ["client_credentials"]'))


def run(cli, overlay: Path, *args, env=None, **kwargs):
    return cli("--registry", str(overlay), *args, env=env, **kwargs)


def listed(cli, overlay) -> list:
    return run(cli, overlay, "list", "--all", "--json").json()["authorizations"]


# --- client secret, django-oauth-toolkit -------------------------------------------------------


@pytest.mark.parametrize("provider", ["machine", "machinepost"])
def test_machine_authorization_with_a_secret_mints_and_re_mints(
    cli, auth_server_factory, keyring_env, tmp_path, home, provider
):
    server = auth_server_factory(access_token_expire_seconds=2)
    overlay = machine_overlay(server, tmp_path / "providers.toml")
    secret = server["machine_client_secret"]
    stored = run(cli, overlay, "client", "set", provider, "--secret-stdin", env=keyring_env, input=secret + "\n")
    assert stored.code == 0, stored.stderr

    added = run(cli, overlay, "add", "Nightly", "-p", provider, "-c", "exporter", "--client-credentials", env=keyring_env)
    assert added.code == 0, added.stderr
    assert_no_crash(added.stderr)
    assert "Authorized 'Nightly'" in added.stderr
    assert "http" not in added.stderr  # no URL, no browser
    assert server.counts()["token"] == {"client_credentials": 1}
    shown = run(cli, overlay, "show", "Nightly", "--json", env=keyring_env).json()["authorization"]
    assert shown["status"] == "authorized"
    entry = next(a for a in json.loads((home / "index.json").read_text())["authorizations"] if a["id"] == shown["id"])
    assert entry["grant"] == "client_credentials"
    assert shown["granted_scopes"] == ["read"]

    first = run(cli, overlay, "token", "Nightly", env=keyring_env)
    assert first.code == 0, first.stderr
    token = first.stdout.strip()
    assert introspect(server, token, "machine")["active"] is True
    # A 2-second token is inside the refresh margin: `token` minted a new one.
    assert server.counts()["token"] == {"client_credentials": 2}
    time.sleep(2.5)
    second = run(cli, overlay, "token", "Nightly", env=keyring_env)
    assert second.code == 0, second.stderr
    assert second.stdout.strip() != token
    assert introspect(server, second.stdout.strip(), "machine")["active"] is True
    assert introspect(server, token, "machine")["active"] is False
    assert server.counts()["token"] == {"client_credentials": 3}
    assert stored_tokens(keyring_env, shown["id"]).get("refresh_token") is None  # none kept: re-minted instead

    text = (home / "index.json").read_text()
    for output in (added.stderr, first.stderr, second.stderr, text):
        assert secret not in output
    assert run(cli, overlay, "remove", "Nightly", "--yes", env=keyring_env).code == 0
    run(cli, overlay, "client", "remove", provider, env=keyring_env)


def test_wrong_client_secret_exits_9_without_echoing_it_and_saves_nothing(cli, auth_server, keyring_env, tmp_path):
    overlay = machine_overlay(auth_server, tmp_path / "providers.toml")
    env = {**keyring_env, "INTEGRAY_AUTH_MACHINE_CLIENT_SECRET": "not-the-secret-4711"}
    result = run(cli, overlay, "add", "Wrong", "-p", "machine", "-c", "exporter", "--client-credentials", env=env)
    line = assert_error_line(result, 9, "invalid_client")
    assert "not-the-secret-4711" not in line
    assert listed(cli, overlay) == []


def test_a_provider_that_does_not_allow_client_credentials_is_exit_2(cli, auth_server, keyring_env, tmp_path):
    overlay = machine_overlay(auth_server, tmp_path / "providers.toml")
    result = run(cli, overlay, "add", "Nope", "-p", "browseronly", "-c", "exporter", "--client-credentials", env=keyring_env)
    assert_error_line(result, 2, "does not allow the client_credentials grant")
    assert listed(cli, overlay) == []


def test_a_token_endpoint_answering_html_is_exit_11_and_saves_nothing(cli, auth_server, keyring_env, tmp_path):
    # The login page answers a POST with an HTML 403, as a wrong token URL would.
    overlay = machine_overlay(auth_server, tmp_path / "providers.toml", token_url=f"{auth_server['issuer']}/accounts/login/")
    env = {**keyring_env, "INTEGRAY_AUTH_MACHINE_CLIENT_SECRET": auth_server["machine_client_secret"]}
    result = run(cli, overlay, "add", "Html", "-p", "machine", "-c", "exporter", "--client-credentials", env=env)
    assert_error_line(result, 11, "HTTP 403", "text/html")
    assert listed(cli, overlay) == []


def test_client_credentials_needs_a_confidential_client_in_the_registry(cli, tmp_path):
    overlay = tmp_path / "providers.toml"
    overlay.write_text('''schema_version = 1
[providers.public]
name = "Public"
authorization_url = "https://auth.example.com/authorize"
token_url = "https://auth.example.com/token"
grants = ["client_credentials"]
''')
    result = run(cli, overlay, "providers")
    assert_error_line(result, 3, "provider 'public'", "field 'grants'", "confidential client")


# --- private_key_jwt, oidc-provider ----------------------------------------------------------------


def _claims(assertion: str) -> dict:
    payload = assertion.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _key_file(path: Path, pem: str, mode: int = 0o600) -> Path:
    path.write_text(pem)
    path.chmod(mode)
    return path


def test_private_key_jwt_from_a_0600_file_mints_and_re_mints(cli, oidc_provider_factory, keyring_env, tmp_path, home):
    oidc = oidc_provider_factory(access_token_ttl=2)
    overlay = jwt_overlay(oidc, tmp_path / "providers.toml")
    key = _key_file(tmp_path / "client.pem", oidc.private_key_pem)
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(f'[clients.oidcjwt]\nprivate_key_file = "{key}"\nprivate_key_id = "integray-test"\n')

    added = run(cli, overlay, "add", "Jwt", "-p", "oidcjwt", "-c", "exporter", "--client-credentials", env=keyring_env)
    assert added.code == 0, added.stderr
    assert oidc.counts()["token"] == {"client_credentials": 1}
    first = run(cli, overlay, "token", "Jwt", env=keyring_env)
    assert first.code == 0, first.stderr
    assert oidc.introspect(first.stdout.strip())["active"] is True
    assert oidc.counts()["token"] == {"client_credentials": 2}  # re-minted: inside the margin
    time.sleep(2.5)
    assert oidc.introspect(first.stdout.strip())["active"] is False
    second = run(cli, overlay, "token", "Jwt", env=keyring_env)
    assert second.code == 0, second.stderr
    assert oidc.introspect(second.stdout.strip())["active"] is True
    assert oidc.counts()["token"] == {"client_credentials": 3}
    index = (home / "index.json").read_text()
    assert "PRIVATE KEY" not in index and "PRIVATE KEY" not in added.stderr + first.stderr
    assert run(cli, overlay, "remove", "Jwt", "--yes", env=keyring_env).code == 0


def test_private_key_jwt_from_the_keyring(cli, oidc_provider, keyring_env, tmp_path, home):
    overlay = jwt_overlay(oidc_provider, tmp_path / "providers.toml")
    key = _key_file(tmp_path / "client.pem", oidc_provider.private_key_pem)
    stored = run(cli, overlay, "client", "set", "oidcjwt", "--private-key-file", str(key), env=keyring_env)
    assert stored.code == 0, stored.stderr
    assert "PRIVATE KEY" in (keyring_get(keyring_env, "client-private-key:oidcjwt") or "")
    key.unlink()  # the keyring has it now

    before = oidc_provider.counts()["token"].get("client_credentials", 0)
    added = run(cli, overlay, "add", "JwtKeyring", "-p", "oidcjwt", "-c", "exporter", "--client-credentials", env=keyring_env)
    assert added.code == 0, added.stderr
    token = run(cli, overlay, "token", "JwtKeyring", env=keyring_env)
    assert token.code == 0, token.stderr
    assert oidc_provider.introspect(token.stdout.strip())["active"] is True
    assert oidc_provider.counts()["token"]["client_credentials"] == before + 1  # an hour-long token: not re-minted
    assert "PRIVATE KEY" not in (home / "index.json").read_text()

    assert run(cli, overlay, "remove", "JwtKeyring", "--yes", env=keyring_env).code == 0
    assert run(cli, overlay, "client", "remove", "oidcjwt", env=keyring_env).code == 0
    assert keyring_get(keyring_env, "client-private-key:oidcjwt") is None
    missing = run(cli, overlay, "add", "NoKey", "-p", "oidcjwt", "-c", "exporter", "--client-credentials", env=keyring_env)
    assert_error_line(missing, 2, "private key", "none is set")
    assert listed(cli, overlay) == []


def test_the_assertion_follows_rfc_7523(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from integray_auth.oauth.client_assertion import client_assertion

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    now = time.time()
    first = client_assertion(pem, "client-1", "https://as.example/token", "k1", now=now)
    second = client_assertion(pem, "client-1", "https://as.example/token", None, now=now)
    header = json.loads(base64.urlsafe_b64decode(first.split(".")[0] + "=="))
    assert header == {"alg": "ES256", "typ": "JWT", "kid": "k1"}
    claims = _claims(first)
    assert claims["iss"] == claims["sub"] == "client-1" and claims["aud"] == "https://as.example/token"
    assert 0 < claims["exp"] - claims["iat"] <= 300 and claims["iat"] == int(now)
    assert claims["jti"] != _claims(second)["jti"]
    assert len(base64.urlsafe_b64decode(first.split(".")[2] + "==")) == 64  # JWS r||s, not DER


@pytest.mark.parametrize(
    "content, mode, code, fragment",
    [
        ("this is not a key\n", 0o600, 2, "is not a PEM private key"),
        ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", 0o600, 2, "is not a PEM private key"),
        (None, 0o644, 2, "can be read by others (mode 0644)"),
        (None, 0o640, 2, "can be read by others (mode 0640)"),
        ("missing", 0o600, 2, "does not exist"),
    ],
)
def test_a_bad_key_file_is_one_line_exit_2_and_nothing_saved(
    cli, oidc_provider, keyring_env, tmp_path, home, content, mode, code, fragment
):
    overlay = jwt_overlay(oidc_provider, tmp_path / "providers.toml")
    key = tmp_path / "client.pem"
    if content != "missing":
        _key_file(key, oidc_provider.private_key_pem if content is None else content, mode)
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(f'[clients.oidcjwt]\nprivate_key_file = "{key}"\n')
    before = oidc_provider.counts()["token"].get("client_credentials", 0)
    result = run(cli, overlay, "add", "Bad", "-p", "oidcjwt", "-c", "exporter", "--client-credentials", env=keyring_env)
    line = assert_error_line(result, code, fragment, str(key))
    assert "PRIVATE KEY" not in line and "MII" not in line
    assert listed(cli, overlay) == []
    assert oidc_provider.counts()["token"].get("client_credentials", 0) == before  # nothing was sent
    # `client set` refuses the same file the same way.
    if content != "missing":
        refused = run(cli, overlay, "client", "set", "oidcjwt", "--private-key-file", str(key), env=keyring_env)
        assert_error_line(refused, code, fragment)
        assert keyring_get(keyring_env, "client-private-key:oidcjwt") is None


# --- the assertion's audience: the issuer (RFC 7523bis) -------------------------------------------


def _rsa_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


class RecordingTokenEndpoint(StandIn):
    """A token endpoint that keeps every form it receives and mints a token."""

    def __init__(self) -> None:
        from urllib.parse import parse_qs

        from tests.support.stand_in import QuietHandler, serve

        self.forms: list[dict] = []
        forms = self.forms

        class Handler(QuietHandler):
            def do_POST(self):  # noqa: N802
                forms.append({k: v[0] for k, v in parse_qs(self.read_body().decode()).items()})
                self.send_json(200, {"access_token": f"minted-{len(forms)}", "token_type": "Bearer", "expires_in": 1})

        self.server, self.url = serve(Handler)


@pytest.mark.parametrize("issuer", ["https://as.example", None], ids=["issuer", "no-issuer"])
def test_the_assertion_audience_is_the_issuer_as_one_string_with_a_fresh_jti_and_a_short_life(cli, tmp_path, home, issuer):
    endpoint = RecordingTokenEndpoint()
    try:
        token_url = endpoint.url + "/oauth/token"
        issued_by = f'issuer = "{issuer}"\n' if issuer else ""
        overlay = write_overlay(tmp_path / "providers.toml", provider(
            "jwtstub", "JWT Stub", scopes=SCOPES, connectors=(EXPORTER,), pkce="",
            fields=f'authorization_url = "https://as.example/authorize"\ntoken_url = "{token_url}"\n{issued_by}'
                   'client_id = "stub-machine"\nclient_auth = "private_key_jwt"\ngrants = ["client_credentials"]'))
        key = _key_file(tmp_path / "client.pem", _rsa_pem())
        home.mkdir(parents=True, exist_ok=True)
        (home / "config.toml").write_text(f'[clients.jwtstub]\nprivate_key_file = "{key}"\n')
        started = time.time()

        added = run(cli, overlay, "add", "Stub", "-p", "jwtstub", "-c", "exporter", "--client-credentials", "--insecure-storage")
        assert added.code == 0, added.stderr
        again = run(cli, overlay, "token", "Stub")  # re-minted: the token lives 1 s, inside the margin
        assert again.code == 0, again.stderr
    finally:
        endpoint.close()

    assert len(endpoint.forms) == 2
    claims = [_claims(form["client_assertion"]) for form in endpoint.forms]
    for form, claim in zip(endpoint.forms, claims):
        assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        assert claim["iss"] == claim["sub"] == "stub-machine"
        assert claim["aud"] == (issuer or token_url)  # one string, not a list
        assert claim["exp"] - claim["iat"] <= 60 and claim["iat"] >= int(started) - 1
    assert claims[0]["jti"] != claims[1]["jti"] and len(claims[0]["jti"]) >= 16


def test_oidc_provider_accepts_its_issuer_as_the_assertion_audience(cli, oidc_provider, keyring_env, tmp_path, home):
    overlay = jwt_overlay(oidc_provider, tmp_path / "providers.toml")
    overlay.write_text(overlay.read_text().replace('client_auth =', f'issuer = "{oidc_provider.issuer}"\nclient_auth ='))
    key = _key_file(tmp_path / "client.pem", oidc_provider.private_key_pem)
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(f'[clients.oidcjwt]\nprivate_key_file = "{key}"\nprivate_key_id = "integray-test"\n')

    added = run(cli, overlay, "add", "JwtIssuer", "-p", "oidcjwt", "-c", "exporter", "--client-credentials", env=keyring_env)
    assert added.code == 0, added.stderr
    token = run(cli, overlay, "token", "JwtIssuer", env=keyring_env)
    assert token.code == 0, token.stderr
    assert oidc_provider.introspect(token.stdout.strip())["active"] is True
    assert run(cli, overlay, "remove", "JwtIssuer", "--yes", env=keyring_env).code == 0
