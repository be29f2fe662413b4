"""The environment of the programs we start (a browser, `exec`'s command):
never our secrets. One function for both, so a secret added later is
scrubbed everywhere at once."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Mapping

OWN_PREFIX = "INTEGRAY_AUTH_"
# Words that mark a variable of ours as a secret (INTEGRAY_AUTH_GOOGLE_CLIENT_SECRET,
# and whatever token or password a later backend reads from the environment).
SECRET_WORDS = ("SECRET", "TOKEN", "PASSWORD", "KEY")
# Vault's own credentials (vault_store.py), which the tool reads by Vault's
# names: no business of a browser's, nor of exec's command. The AppRole's role
# id is half of its login (and often the only half a secret_id_file leaves in
# the environment), so it goes too.
OTHER_SECRETS = frozenset({"VAULT_TOKEN", "VAULT_ROLE_ID", "VAULT_SECRET_ID"})


def child_environment(environ: Mapping[str, str], keep_settings: bool = False) -> dict[str, str]:
    """`environ` without the tool's own variables and the Vault credentials it
    reads (case-insensitive, as on Windows).

    A browser needs none of them. With `keep_settings` (exec's command, which
    may well run integray-auth itself) only the secret ones go: INTEGRAY_AUTH_HOME
    and the like stay, every *_CLIENT_SECRET, token or password does not.
    """
    kept = {}
    for name, value in environ.items():
        upper = name.upper()
        if upper.startswith(OWN_PREFIX):
            if not keep_settings or any(word in upper[len(OWN_PREFIX):] for word in SECRET_WORDS):
                continue
        elif upper in OTHER_SECRETS:
            continue
        kept[name] = value
    return kept
