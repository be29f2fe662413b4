"""The RFC 9207 `iss` check on an authorization response (mix-up defence)."""

from __future__ import annotations

import hmac


def iss_problem(iss: str | None, issuer: str | None, required: bool) -> str | None:
    """Why a callback's `iss` is not acceptable, or None.

    `issuer` is the provider's (None: it has none, nothing to compare);
    `required` says the provider declared it sends `iss` (metadata
    `authorization_response_iss_parameter_supported`), and then RFC 9207
    §2.4 makes a missing one a failure. A wrong one is refused even when not
    declared: whoever sent it is not the provider this flow started with.
    """
    if issuer is None:
        return None
    if iss is None:
        return "the redirect has no iss parameter, which this provider always sends" if required else None
    if not hmac.compare_digest(iss.encode(), issuer.encode()):
        return "the redirect's iss does not name the expected provider"
    return None


def issuer_check(provider) -> dict:
    """The listener's `expected_issuer` and `issuer_required` for a provider.

    A provider that declares `iss_parameter` is held to its issuer on every
    callback. One that does not is still held to it when an `iss` arrives,
    unless its URLs take parameters: there the registry's issuer is a
    discovery base (Microsoft's `{tenant}`, `common` answering with the
    tenant's own issuer), not a value to compare literally.
    """
    if provider.iss_parameter:
        return {"expected_issuer": provider.issuer, "issuer_required": True}
    literal = provider.issuer if not getattr(provider, "parameters", None) else None
    return {"expected_issuer": literal, "issuer_required": False}
