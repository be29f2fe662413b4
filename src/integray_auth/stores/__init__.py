"""Where things are kept: the index, the secret backends, locks and careful writes.

BACKENDS is the one table of secret backends. A new backend is a SecretStore
subclass (stores/secrets.py) in its own module (as file_store.py and
vault_store.py are) and one line here; `--storage`, completion, `share --to`
and the marks `list` and `add` print come from this table. It stays plain data, importing only lean/record.py: completion reads it
on every Tab.
"""

from __future__ import annotations

from ..lean.record import Record


class Backend(Record):
    """A secret backend: where its class is, whether only this machine sees it, and
    what `list` (`mark`) and `add` (`kept`) say after an authorization kept there."""

    __slots__ = ("module", "store_class", "local", "mark", "kept")

    def __init__(self, module: str, store_class: str, local: bool = True, mark: str = "", kept: str = "") -> None:
        self.module, self.store_class, self.local, self.mark, self.kept = module, store_class, local, mark, kept


STORAGE_KEYRING = "keyring"
STORAGE_FILE = "file"  # the explicit --insecure-storage opt-in
STORAGE_VAULT = "vault"  # shared through HashiCorp Vault / OpenBao KV v2 (docs/team.md)

# name (as `--storage` takes it and the index records it) -> the backend; the keyring first: the default.
BACKENDS = {
    STORAGE_KEYRING: Backend("integray_auth.stores.secrets", "KeyringStore"),
    STORAGE_FILE: Backend("integray_auth.stores.file_store", "FileStore", mark=" (insecure storage)",
                          kept=" (tokens in an insecure file)"),
    STORAGE_VAULT: Backend("integray_auth.stores.vault_store", "VaultStore", local=False, mark=" (shared)",
                           kept=" (shared through Vault)"),
}
# The backends `share --to` and `unshare --to` may move an authorization to.
LOCAL_BACKENDS = tuple(name for name, backend in BACKENDS.items() if backend.local)
