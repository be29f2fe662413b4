"""integray-auth: OAuth 2.0 authorizations for Integray connectors, from the terminal."""

__version__ = "0.1.0"
