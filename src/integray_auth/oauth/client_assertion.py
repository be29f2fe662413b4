"""Client authentication with a signed JWT: `private_key_jwt` (RFC 7523 §2.2,
OpenID Connect Core §9).

The client proves itself with a short-lived JWT signed by its private key
instead of sending a secret: nothing the server stores can be replayed as the
client. `cryptography` (a dependency, imported only here and only when a
client uses this method) does the signing; RS256 for RSA keys, ES256 for
P-256 keys, the two algorithms every server that supports the method accepts.
"""

from __future__ import annotations

import base64
import json
import secrets
import time

from ..errors import UsageError

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# RFC 7523 §3 leaves the lifetime to the server; short, so a captured
# assertion is soon worthless (and the jti makes it single-use where checked).
# One minute: the assertion is signed just before the one request it is for.
LIFETIME = 60
MIN_RSA_BITS = 2048
MAX_KEY_BYTES = 64 * 1024


def load_private_key(pem: str | bytes, where: str):
    """The RSA (2048 bits or more) or P-256 private key in `pem`; a UsageError
    naming `where` (never its content) when it is anything else."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    data = pem.encode() if isinstance(pem, str) else pem
    if len(data) > MAX_KEY_BYTES:
        raise UsageError(f"{where} is not a private key (larger than {MAX_KEY_BYTES // 1024} KB)", hint=_HINT)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:  # encrypted: no prompt here, `token` runs unattended
        raise UsageError(f"{where} is an encrypted private key; integray-auth needs it unencrypted", hint=_HINT) from None
    except (ValueError, UnicodeError) as exc:
        del exc  # its text may quote the file
        raise UsageError(f"{where} is not a PEM private key", hint=_HINT) from None
    except Exception:  # cryptography's UnsupportedAlgorithm and kin: not a key we can use
        raise UsageError(f"{where} is not a PEM private key", hint=_HINT) from None
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise UsageError(f"{where} is an RSA key of {key.key_size} bits; use one of at least {MIN_RSA_BITS}", hint=_HINT)
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    raise UsageError(f"{where} is neither an RSA nor a P-256 (EC) private key", hint=_HINT)


_HINT = "Use the PEM private key of the client registered with the provider (RS256: RSA, ES256: EC P-256)."


def audience(provider) -> str:
    """The `aud` of a client assertion for `provider`: its authorization server's
    issuer identifier where the registry knows it (discovered providers, and any with
    an `issuer`), else its token endpoint URL; a single string, never a list.

    The update of RFC 7523 (draft-ietf-oauth-rfc7523bis, section 4) requires the
    issuer and a single value: an assertion whose audience is an endpoint URL can be
    replayed by whoever is given that URL as "their" endpoint (the 2025 audience
    injection attack on private_key_jwt,
    https://datatracker.ietf.org/doc/draft-ietf-oauth-rfc7523bis/)."""
    return provider.issuer or provider.token_url


def client_assertion(pem: str, client_id: str, audience: str, key_id: str | None = None, now: float | None = None) -> str:
    """A signed JWT that authenticates `client_id` to the authorization server
    `audience` (RFC 7523 §3: iss = sub = client id; aud as `audience` above), with a
    fresh random jti and a lifetime of LIFETIME seconds."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    key = load_private_key(pem, "the client's private key")
    issued = int(time.time() if now is None else now)
    algorithm = "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"
    header = {"alg": algorithm, "typ": "JWT"}
    if key_id:
        header["kid"] = key_id
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "jti": secrets.token_urlsafe(24),
        "iat": issued,
        "exp": issued + LIFETIME,
    }
    signing_input = f"{_b64(json.dumps(header, separators=(',', ':')).encode())}.{_b64(json.dumps(claims, separators=(',', ':')).encode())}"
    if algorithm == "RS256":
        signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    else:
        # JWS (RFC 7518 §3.4) wants r || s, 32 bytes each, not cryptography's DER.
        r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return f"{signing_input}.{_b64(signature)}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
