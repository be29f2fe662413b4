"""The redirect URI a user registers with a provider for our loopback listener
(RFC 8252 §7.3): the host and path are fixed, the port is the OS's choice
unless the provider pins ports."""

from __future__ import annotations


def redirect_uri_template(provider) -> str:
    """The redirect URI a user registers with the provider."""
    if provider.redirect_ports:
        ports = "|".join(str(p) for p in provider.redirect_ports)
        return f"http://{provider.redirect_host}:{{{ports}}}{provider.redirect_path}"
    return f"http://{provider.redirect_host}{provider.redirect_path} (any port)"
