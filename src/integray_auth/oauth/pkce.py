"""PKCE (RFC 7636) and the one-time state."""

from __future__ import annotations

import base64
import hashlib
import secrets


def make_verifier() -> str:
    """43-128 unreserved characters (§4.1); 64 random bytes give 86."""
    return secrets.token_urlsafe(64)


def s256_challenge(verifier: str) -> str:
    """BASE64URL(SHA256(ASCII(verifier))) without padding (§4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def make_state() -> str:
    """256 random bits (RFC 9700 asks for at least 128)."""
    return secrets.token_urlsafe(32)
