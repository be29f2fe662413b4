"""The fast-path boundary.

`list`, `search`, `show`, `status`, `token`, `add --no-authorize`, `--help`
from the cache and every shell Tab run many times a minute from scripts, so
they may import only the modules declared here: this package (the stdlib-only
replacements for libraries they would otherwise pay for: JSON through `_json`
with a public fallback, path helpers, the XDG folders, the Secret Service
reader and its D-Bus wire format, `Record`, `scoped`, the command table), the cheap core of the
standard library, and the package's own modules listed in FAST_PATH.
tests/test_lean_boundary.py holds every FAST_PATH module to it: what it
imports at its top is in CHEAP_STDLIB or FAST_PATH. Anything else a
fast-path module needs on a slower branch it imports where it is used.
Modules outside FAST_PATH import normally at their top; only the optional
heavy dependencies in OPTIONAL_HEAVY are imported where they are used.
docs/architecture.md explains why; docs/performance.md has the figures.
"""

# Already imported by the interpreter's own start-up, or a few hundred microseconds at most.
CHEAP_STDLIB = frozenset({
    "__future__", "_json", "abc", "codecs", "errno", "fcntl", "marshal", "os", "resource", "signal",
    "stat", "sys", "time", "_thread", "msvcrt", "struct", "_imp",
})

# integray_auth's modules on the fast path (below the package name).
FAST_PATH = frozenset({
    "", "__main__", "main", "context", "errors", "hints", "models", "tokens", "scopes", "health",
    "lean", "lean.dbus_wire", "lean.filepath", "lean.grammar", "lean.jsonio", "lean.paths", "lean.printable", "lean.record", "lean.rows",
    "lean.scoped", "lean.secret_service", "lean.urlparts",
    "cli", "cli.run", "cli.output", "cli.json_output", "cli.fit", "cli.jsonfields", "cli.fast_add", "cli.adding",
    "cli.helpcache", "cli.completion", "cli.helptopics",
    "stores", "stores.index", "stores.entries", "stores.snapshot", "stores.files", "stores.locks", "stores.lookup", "stores.secrets", "stores.file_store",
    "registry", "registry.model", "registry.names", "registry.cache", "registry.checks", "registry.loading",
    "grants", "oauth", "oauth.redirect",
    "usecases", "usecases.access_token", "usecases.binding", "usecases.manage", "usecases.provider_lookup", "usecases.status",
})

# Imported only where they are used, by any module: dependencies that are optional (an extra,
# or needed by one command only) or that cost tens of milliseconds for one rarely taken branch.
# keyring (and its secretstorage and jeepney) is ~40 ms and is needed only on the keyring's own
# path; every other dependency is imported at the top of the modules outside FAST_PATH.
OPTIONAL_HEAVY = frozenset({"hvac", "jq", "prompt_toolkit", "cryptography", "keyring", "secretstorage",
                            "jeepney", "yaml", "mcp",
                            # the MCP SDK's own async stack, used by `mcp proxy` only
                            "anyio", "httpx"})
