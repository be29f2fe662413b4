"""A real OAuth 2.0 / OIDC authorization server for the test suite (django-oauth-toolkit 3.4.1).

    python tests/support/authserver.py [--port 0] [--username alice --password alice-pw]
                                       [--allow-localhost-loopback] [--access-token-expire-seconds N]

Binds 127.0.0.1 (port 0: the OS picks one), seeds a user and two clients, prints ONE JSON line
on stdout describing the endpoints and credentials, then serves until SIGTERM or SIGINT.
Logs go to stderr. Settings follow django-oauth-toolkit's documentation (https://django-oauth-toolkit.readthedocs.io).

Seeded clients (authorization-code ones: PKCE S256 required, consent always shown):
  integray-cli           public, authorization code
  integray-confidential  confidential, authorization code, secret "integray-secret"
  integray-cli-device    public, device authorization grant (RFC 8628)
  integray-machine       confidential, client credentials, secret "integray-machine-secret"
(DOT allows one grant type per application, hence one client per grant.)

Test-only endpoint: GET /_test/counts answers {"token": {grant_type: n, ...}, "revoke": n,
"device_authorization": n, "encodings": [[path, content type], ...]}: what the server has been
asked, so tests can count refreshes. --json-token-requests: the token and revocation endpoints
take only JSON object bodies (turned into DOT's form), a form body gets 400 invalid_request.
Their redirect URIs are registered without a port; DOT accepts any port for 127.0.0.1 and
[::1] (RFC 8252 section 7.3), and for localhost only with --allow-localhost-loopback.
"""

from __future__ import annotations

import argparse
import json
import logging
import secrets
import signal
import socketserver
import sys
import threading
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

PUBLIC_CLIENT_ID = "integray-cli"
CONFIDENTIAL_CLIENT_ID = "integray-confidential"
CONFIDENTIAL_CLIENT_SECRET = "integray-secret"
DEVICE_CLIENT_ID = "integray-cli-device"
MACHINE_CLIENT_ID = "integray-machine"
MACHINE_CLIENT_SECRET = "integray-machine-secret"
REDIRECT_URIS = "http://127.0.0.1/callback http://[::1]/callback http://localhost/callback"

# Django ships no registration/login.html. The ids are what the Chromium driver clicks.
LOGIN_TEMPLATE = """<!doctype html>
<html><head><title>Sign in</title></head><body>
<h1>Sign in</h1>
{% if form.errors %}<p id="login-error">Your username and password didn't match.</p>{% endif %}
<form method="post" action="{{ request.get_full_path }}">{% csrf_token %}
  <label for="id_username">Username</label>
  <input type="text" name="username" id="id_username" autofocus>
  <label for="id_password">Password</label>
  <input type="password" name="password" id="id_password">
  <input type="hidden" name="next" value="{{ next }}">
  <input type="submit" id="login-submit" value="Sign in">
</form>
</body></html>
"""

urlpatterns: list = []  # filled by main() once Django is configured (ROOT_URLCONF = this module)


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    # Threads, not a single loop: Chromium pre-connects idle sockets, which would stall a
    # one-request-at-a-time server. Django itself is serialised by serialized() below.
    daemon_threads = True

    def server_bind(self):
        # HTTPServer.server_bind() resolves the host name with getfqdn(), a reverse DNS
        # lookup that can hang on a machine without DNS; the name is never used here.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]
        self.setup_environ()


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        pass


def serialized(app):
    """Run one request at a time: shared-cache in-memory SQLite raises "database table is
    locked" under concurrent writers (39 of 40 concurrent flows failed without this)."""
    lock = threading.Lock()

    def wsgi(environ, start_response):
        with lock:
            result = app(environ, start_response)
            try:
                return [b"".join(result)]
            finally:
                # Django's response close() fires request_finished (closes DB connections).
                if hasattr(result, "close"):
                    result.close()

    return wsgi


def counted(app, json_bodies: bool = False):
    """Count what clients ask of the token, revocation and device endpoints (GET /_test/counts).

    With `json_bodies` (--json-token-requests) the token and revocation endpoints take
    only a JSON object body, as Notion documents its own: it is turned into the form
    django-oauth-toolkit reads, and a form body is refused with 400 invalid_request.
    counts["encodings"] lists each such request's path and Content-Type either way."""
    import io
    import urllib.parse

    counts: dict = {"token": {}, "revoke": 0, "device_authorization": 0, "encodings": []}
    lock = threading.Lock()

    def wsgi(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/_test/counts":
            with lock:
                body = json.dumps(counts).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        if environ.get("REQUEST_METHOD") == "POST" and path in ("/token/", "/revoke_token/", "/device-authorization/"):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            raw = environ["wsgi.input"].read(length) if length else b""
            content_type = environ.get("CONTENT_TYPE", "")
            if path != "/device-authorization/":
                with lock:
                    counts["encodings"].append([path, content_type])
            if json_bodies and path != "/device-authorization/":
                try:
                    fields = json.loads(raw) if content_type.split(";")[0].strip() == "application/json" else None
                except ValueError:
                    fields = None
                if not isinstance(fields, dict) or not all(isinstance(v, str) for v in fields.values()):
                    body = json.dumps({"error": "invalid_request", "error_description": "this endpoint takes a JSON object body"})
                    start_response("400 Bad Request", [("Content-Type", "application/json")])
                    return [body.encode()]
                raw = urllib.parse.urlencode(fields).encode()
                environ["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
                environ["CONTENT_LENGTH"] = str(len(raw))
            environ["wsgi.input"] = io.BytesIO(raw)
            with lock:
                if path == "/token/":
                    grant = urllib.parse.parse_qs(raw.decode("latin-1")).get("grant_type", ["?"])[0]
                    counts["token"][grant] = counts["token"].get(grant, 0) + 1
                elif path == "/revoke_token/":
                    counts["revoke"] += 1
                else:
                    counts["device_authorization"] += 1
        return app(environ, start_response)

    return wsgi


def patch_device_flow(expires_in: int) -> None:
    """Make DOT 3.4.1's device flow work on oauthlib 4 and expire when the tests want.

    oauthlib 4 echoes `scope` in the device authorization answer, which DOT's
    DeviceCodeResponse dataclass refuses, and asks the validator a new question
    (validate_device_code) that DOT does not answer (a known gap of the
    installed versions). DOT also never looks at a device grant's expiry while the device
    polls, so an expired code would stay "authorization_pending" forever.
    """
    import dataclasses

    from oauth2_provider import models
    from oauth2_provider.oauth2_validators import OAuth2Validator
    from oauth2_provider.views import base, device
    from oauthlib.oauth2.rfc8628.endpoints.device_authorization import DeviceAuthorizationEndpoint

    known = {f.name for f in dataclasses.fields(models.DeviceCodeResponse)}
    original_response = models.DeviceCodeResponse
    device.DeviceCodeResponse = lambda **fields: original_response(**{k: v for k, v in fields.items() if k in known})
    DeviceAuthorizationEndpoint.expires_in = property(lambda self: expires_in)

    if "validate_device_code" not in OAuth2Validator.__dict__:

        def validate_device_code(self, client_id, code, request, *args, **kwargs):
            grant_model = models.get_device_grant_model()
            grant = grant_model.objects.filter(device_code=code, client_id=client_id).first()
            if grant is None:
                return None
            if grant.is_expired():
                return "expired_token"
            if grant.status == grant.AUTHORIZED:
                request.user = grant.user
                request.scopes = grant.scope.split()
                return "authorized"
            if grant.status == grant.DENIED:
                return "access_denied"
            return "authorization_pending"

        OAuth2Validator.validate_device_code = validate_device_code

    original_poll = base.TokenView.device_flow_token_response

    def device_flow_token_response(self, request, device_code, *args, **kwargs):
        grant = models.get_device_grant_model().objects.filter(device_code=device_code).first()
        if grant is not None:
            grant.is_expired()  # sets the status to "expired" once the deadline has passed
        return original_poll(self, request, device_code, *args, **kwargs)

    base.TokenView.device_flow_token_response = device_flow_token_response


def rsa_private_key_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def configure_django(base: str, args: argparse.Namespace) -> None:
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY=secrets.token_hex(32),
        ROOT_URLCONF=__name__,
        ALLOWED_HOSTS=["127.0.0.1", "localhost", "[::1]"],
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "oauth2_provider",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
        ],
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                # Not ":memory:": that gives each server thread its own empty database.
                # The name is unique so two servers in one process tree never share one.
                "NAME": f"file:authserver-{secrets.token_hex(8)}?mode=memory&cache=shared",
            }
        },
        # Create tables straight from the models: applying the migrations triples start-up.
        MIGRATION_MODULES={a: None for a in ("auth", "contenttypes", "sessions", "oauth2_provider")},
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": False,
                "OPTIONS": {
                    "loaders": [
                        (
                            "django.template.loaders.locmem.Loader",
                            {"registration/login.html": LOGIN_TEMPLATE},
                        ),
                        "django.template.loaders.app_directories.Loader",
                    ],
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                    ],
                },
            }
        ],
        STATIC_URL="/static/",
        LOGIN_URL="/accounts/login/",
        USE_TZ=True,
        # Test-only: PBKDF2 costs ~0.35 s per hash on the 2-core CI machine.
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        LOGGING_CONFIG=None,
        OAUTH2_PROVIDER={
            "PKCE_REQUIRED": True,
            "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,  # S256 only, "plain" is refused
            "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https"],  # loopback redirects are http
            "ALLOW_LOCALHOST_LOOPBACK": args.allow_localhost_loopback,
            "ACCESS_TOKEN_EXPIRE_SECONDS": args.access_token_expire_seconds,
            "ROTATE_REFRESH_TOKEN": True,
            "REQUEST_APPROVAL_PROMPT": "force",  # every flow shows the consent page
            "SCOPES": {
                "openid": "OpenID Connect",
                "profile": "Your profile",
                "read": "Read access",
                "write": "Write access",
                "offline_access": "Stay signed in",
            },
            "DEFAULT_SCOPES": ["read"],
            "OIDC_ENABLED": True,
            "OIDC_RSA_PRIVATE_KEY": rsa_private_key_pem(),
            "OIDC_ISS_ENDPOINT": base,
            "OAUTH_DEVICE_VERIFICATION_URI": base + "/device/",
            "OAUTH_DEVICE_VERIFICATION_URI_COMPLETE": base + "/device/?user_code={user_code}",
            "DEVICE_FLOW_INTERVAL": args.device_interval,
            # RFC 9207: iss on every authorization response, announced in both discovery documents.
            "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": args.authorization_response_iss,
            **({"OAUTH2_VALIDATOR_CLASS": f"{__name__}.ClaimsValidator"} if args.email or args.preferred_username else {}),
        },
    )


def define_claims_validator(args: argparse.Namespace) -> None:
    """DOT's validator with the extra id_token / userinfo claims asked for on the command line
    (defined after django.setup(): importing DOT's validator needs the settings)."""
    from oauth2_provider.oauth2_validators import OAuth2Validator

    class ClaimsValidator(OAuth2Validator):
        oidc_claim_scope = None  # every claim, whatever scopes were granted

        def get_additional_claims(self, request):
            claims = {}
            if args.email:
                claims["email"] = args.email
            if args.preferred_username:
                claims["preferred_username"] = request.user.get_username()
            return claims

    globals()["ClaimsValidator"] = ClaimsValidator


def seed(username: str, password: str) -> None:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from oauth2_provider.models import Application

    call_command("migrate", run_syncdb=True, verbosity=0)
    user = get_user_model().objects.create_user(username=username, password=password)
    def application(name: str, client_id: str, secret: str = "", **fields) -> None:
        """A client; confidential when it has a secret."""
        kind = Application.CLIENT_CONFIDENTIAL if secret else Application.CLIENT_PUBLIC
        Application.objects.create(name=name, client_id=client_id, client_type=kind, client_secret=secret, **fields)

    common = {
        "authorization_grant_type": Application.GRANT_AUTHORIZATION_CODE,
        "redirect_uris": REDIRECT_URIS,
        "algorithm": Application.RS256_ALGORITHM,
        "skip_authorization": False,
        "user": user,
    }
    application("integray CLI", PUBLIC_CLIENT_ID, **common)
    # Given in clear at creation: DOT hashes it on save (hash_client_secret) and checks
    # what clients send against the hash. A generated secret could never be known here.
    application("integray confidential", CONFIDENTIAL_CLIENT_ID, CONFIDENTIAL_CLIENT_SECRET, **common)
    application("integray device", DEVICE_CLIENT_ID, authorization_grant_type=Application.GRANT_DEVICE_CODE,
                redirect_uris="", algorithm=Application.RS256_ALGORITHM, user=user)
    application("integray machine", MACHINE_CLIENT_ID, MACHINE_CLIENT_SECRET,
                authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS, redirect_uris="", user=user)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0 (default): the OS picks a free port")
    parser.add_argument("--username", default="alice")
    parser.add_argument("--password", default="alice-pw")
    parser.add_argument(
        "--allow-localhost-loopback",
        action="store_true",
        help="also accept http://localhost:<any port>/callback (RFC 8252 advises against it)",
    )
    # By default the server knows only the user's `sub` (DOT's default claims), like
    # a provider that gives no e-mail; these add the claims a person recognises.
    parser.add_argument("--email", default="", help="the user's e-mail, given as the `email` claim")
    parser.add_argument("--preferred-username", action="store_true", help="give the `preferred_username` claim")
    parser.add_argument("--access-token-expire-seconds", type=int, default=3600)
    parser.add_argument("--device-interval", type=int, default=1, help="the polling interval it tells devices")
    parser.add_argument("--device-expires-in", type=int, default=600, help="lifetime of a device/user code")
    parser.add_argument(
        "--authorization-response-iss", action="store_true", help="send RFC 9207 iss on authorization responses"
    )
    parser.add_argument(
        "--json-token-requests", action="store_true",
        help="token and revocation endpoints take only JSON object bodies (as Notion documents its own)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    global urlpatterns
    args = parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr, level=logging.WARNING, format="authserver %(levelname)s %(name)s: %(message)s"
    )
    # Every 4xx would log "Bad Request: /token/"; keep only 5xx tracebacks.
    logging.getLogger("django.request").setLevel(logging.ERROR)

    # Bind first: the issuer URL must carry the real port.
    server = ThreadingWSGIServer(("127.0.0.1", args.port), QuietHandler)
    port = server.server_address[1]
    base = f"http://127.0.0.1:{port}"

    configure_django(base, args)
    import django

    django.setup()
    patch_device_flow(args.device_expires_in)
    define_claims_validator(args)
    from django.contrib.auth import views as auth_views
    from django.core.wsgi import get_wsgi_application
    from django.urls import include, path

    urlpatterns = [
        path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
        # At the root so /.well-known/openid-configuration and oauth-authorization-server work.
        path("", include("oauth2_provider.urls", namespace="oauth2_provider")),
    ]
    seed(args.username, args.password)
    server.set_app(counted(serialized(get_wsgi_application()), json_bodies=args.json_token_requests))

    info = {
        "issuer": base,
        "port": port,
        "authorization_endpoint": f"{base}/authorize/",
        "token_endpoint": f"{base}/token/",
        "revocation_endpoint": f"{base}/revoke_token/",
        "userinfo_endpoint": f"{base}/userinfo/",
        "introspection_endpoint": f"{base}/introspect/",
        "device_authorization_endpoint": f"{base}/device-authorization/",
        "device_verification_uri": f"{base}/device/",
        "counts_url": f"{base}/_test/counts",
        "login_url": f"{base}/accounts/login/",
        "client_id": PUBLIC_CLIENT_ID,
        "confidential_client_id": CONFIDENTIAL_CLIENT_ID,
        "confidential_client_secret": CONFIDENTIAL_CLIENT_SECRET,
        "device_client_id": DEVICE_CLIENT_ID,
        "machine_client_id": MACHINE_CLIENT_ID,
        "machine_client_secret": MACHINE_CLIENT_SECRET,
        "username": args.username,
        "password": args.password,
    }
    sys.stdout.write(json.dumps(info) + "\n")
    sys.stdout.flush()

    # SIGTERM unwinds serve_forever() like Ctrl-C does, so both exit 0 through finally.
    # SIGINT is set too: a shell starts background jobs with SIGINT ignored.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, signal.default_int_handler)
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
