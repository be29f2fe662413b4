"""Granted scopes as the user asked for them.

Providers do not always echo scopes back the way they were requested:
Microsoft answers `https://graph.microsoft.com/Mail.Read` for `Mail.Read`
and leaves out `offline_access` although it issued a refresh token; an
id_token is the proof that `openid` was granted. Without this, `show` would
call such scopes "NOT granted" and `add` would warn about nothing.
"""

from __future__ import annotations


def granted_as_requested(
    requested: list[str], granted: list[str], has_refresh_token: bool, has_id_token: bool
) -> list[str]:
    result: dict[str, None] = {}
    for scope in granted:
        same = next((r for r in requested if scope == r or scope.endswith("/" + r)), scope)
        result.setdefault(same, None)
    if has_refresh_token and "offline_access" in requested:
        result.setdefault("offline_access", None)
    if has_id_token and "openid" in requested:
        result.setdefault("openid", None)
    return list(result)
