"""OAuth pieces: PKCE, the loopback listener, its pages, the token endpoint."""
