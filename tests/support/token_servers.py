"""HTTPS servers on loopback that accept a request only with a token the test
authorization server says is active (RFC 7662 introspection, asked as the
confidential machine client): a smart-HTTP git server (`git http-backend`
run as a CGI program, git-http-backend(1)) and a stand-in Kubernetes API
server answering /version and /api. Their certificate comes from a private
CA made here with `cryptography`, so the real git and kubectl verify TLS.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import ssl
import subprocess
import threading
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.support.stand_in import StandIn


def private_ca(directory: Path) -> tuple[Path, Path]:
    """(the CA certificate, the server's certificate + key) for 127.0.0.1, PEM files in `directory`."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "integray-auth test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                    x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, server_file = directory / "ca.pem", directory / "server.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    server_file.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_file, server_file


class Introspector:
    """Asks the authorization server whether a token is active; records what it was asked."""

    def __init__(self, endpoint: str, client_id: str, client_secret: str) -> None:
        self.endpoint = endpoint
        self.credentials = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        self.seen: list[tuple[str, bool]] = []  # (token, active), in order
        self.lock = threading.Lock()

    def active(self, token: str) -> bool:
        request = urllib.request.Request(
            self.endpoint, data=urllib.parse.urlencode({"token": token}).encode(),
            headers={"Authorization": f"Basic {self.credentials}"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback
            active = json.loads(answer.read()).get("active") is True
        with self.lock:
            self.seen.append((token, active))
        return active


class _Quiet(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def bearer_or_basic_password(self) -> str | None:
        """The token a client sent: a Bearer credential, or Basic's password (git's user:token)."""
        header = self.headers.get("Authorization") or ""
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            return value.strip() or None
        if scheme.lower() == "basic":
            try:
                return base64.b64decode(value.strip(), validate=True).decode().partition(":")[2] or None
            except (ValueError, UnicodeDecodeError):
                return None
        return None

    def body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def send(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class TlsServer(StandIn):
    """A ThreadingHTTPServer with TLS on 127.0.0.1 in a daemon thread; close() stops it."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], server_pem: Path) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(server_pem)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"https://{self.host}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()


def git_server(project_root: Path, introspector: Introspector, server_pem: Path) -> TlsServer:
    """Smart HTTP for the bare repositories under `project_root`, fetch and push,
    for a token the authorization server says is active; 401 (Basic challenge) otherwise."""

    class GitHandler(_Quiet):
        def do_GET(self):  # noqa: N802
            self.serve()

        def do_POST(self):  # noqa: N802
            self.serve()

        def serve(self) -> None:
            token = self.bearer_or_basic_password()
            data = self.body() if self.command == "POST" else b""
            if token is None or not introspector.active(token):
                self.send(401, b"token required\n", "text/plain", {"WWW-Authenticate": 'Basic realm="git"'})
                return
            path, _, query = self.path.partition("?")
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "GIT_PROJECT_ROOT": str(project_root),
                "GIT_HTTP_EXPORT_ALL": "1",
                "REQUEST_METHOD": self.command,
                "PATH_INFO": urllib.parse.unquote(path),
                "QUERY_STRING": query,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "CONTENT_LENGTH": str(len(data)),
                "REMOTE_USER": "alice",  # receive-pack (push) is on for an authenticated user
                "REMOTE_ADDR": "127.0.0.1",
                "GIT_CONFIG_NOSYSTEM": "1",
                "HOME": str(project_root),
            }
            if self.headers.get("Content-Encoding"):
                env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
            if self.headers.get("Git-Protocol"):
                env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
            done = subprocess.run(["git", "http-backend"], input=data, capture_output=True, env=env, timeout=60)
            head, _, body = done.stdout.partition(b"\r\n\r\n")
            if not _:
                head, _, body = done.stdout.partition(b"\n\n")
            status, headers = 200, {}
            for line in head.decode("latin-1").splitlines():
                name, _, value = line.partition(":")
                if name.lower() == "status":
                    status = int(value.split()[0])
                elif name.lower() != "content-length":
                    headers[name.strip()] = value.strip()
            content_type = headers.pop("Content-Type", "application/octet-stream")
            self.send(status, body, content_type, headers)

    return TlsServer(GitHandler, server_pem)


def kube_api(introspector: Introspector, server_pem: Path) -> TlsServer:
    """The Kubernetes API server's /version and /api, for an active bearer token; 401 Status otherwise."""

    class KubeHandler(_Quiet):
        def do_GET(self):  # noqa: N802
            header = self.headers.get("Authorization") or ""
            token = header[7:].strip() if header[:7].lower() == "bearer " else None
            if token is None or not introspector.active(token):
                status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                          "message": "Unauthorized", "reason": "Unauthorized", "code": 401}
                self.send(401, json.dumps(status).encode(), "application/json")
                return
            path = self.path.partition("?")[0]
            if path == "/version":
                body = {"major": "1", "minor": "32", "gitVersion": "v1.32.0", "platform": "linux/amd64"}
            elif path == "/api":
                body = {"kind": "APIVersions", "versions": ["v1"],
                        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}
            else:
                self.send(404, b'{"kind":"Status","code":404}', "application/json")
                return
            self.send(200, json.dumps(body).encode(), "application/json")

    return TlsServer(KubeHandler, server_pem)
