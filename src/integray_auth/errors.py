"""The one error tree of integray-auth, and the exit code each error maps to.

Only the entry point (`main.py`) turns an `IntegrayAuthError` into a line on
stderr and an exit code; nothing below the command layer prints or exits.
"""

from __future__ import annotations


class _Code(int):
    """One exit code: an int (it is what the process exits with) that knows its name."""

    name: str

    @property
    def value(self) -> int:
        return int(self)

    def __repr__(self) -> str:
        return f"<ExitCode.{self.name}: {int(self)}>"

    __str__ = int.__repr__  # as IntEnum's: "2", in messages and f-strings


class _Codes(type):
    """Iteration and lookup by value over the class's codes, as an enum gives them."""

    def __iter__(cls):
        return iter(cls._members)

    def __len__(cls) -> int:
        return len(cls._members)

    def __call__(cls, value: int) -> _Code:
        for code in cls._members:
            if code == value:
                return code
        raise ValueError(f"{value!r} is not a valid ExitCode")


def _named(cls: _Codes) -> _Codes:
    members = []
    for name, value in list(vars(cls).items()):
        if name.isupper() and type(value) is int:
            code = _Code(value)
            code.name = name
            setattr(cls, name, code)
            members.append(code)
    cls._members = tuple(members)
    return cls


# Not enum.IntEnum: `enum` costs about half of `python -c pass` to import, on
# every command, `token` included; these ints with names do what the code and
# the help topics used of it (.name, iteration in definition order, ==, int()).
@_named
class ExitCode(metaclass=_Codes):
    """Documented exit codes (docs/commands.md, "Exit codes"). Never renumber one."""

    OK = 0
    ERROR = 1  # unexpected failure; the message says what happened
    USAGE = 2  # bad or missing arguments (same code Click/Typer use)
    REGISTRY = 3  # providers.toml (bundled or overlay) is invalid
    INDEX = 4  # the authorization index is corrupt, unreadable or locked
    NOT_FOUND = 5  # unknown authorization, provider or connector
    CONFLICT = 6  # duplicate name, or the change does not apply in this state
    NO_MATCH = 7  # `search` found nothing
    STORAGE = 8  # the keyring (or the opted-in file store) cannot be used
    AUTHORIZATION = 9  # the provider refused: access_denied (a declined consent or device code), invalid_grant, ...
    TIMEOUT = 10  # the authorization was not completed in time (--timeout; a device code expired)
    NETWORK = 11  # the provider could not be reached, TLS failed, bad answer
    NOT_AUTHORIZED = 12  # a token was asked for an authorization without one; it needs the user
    INACTIVE = 13  # the authorization is deactivated: its tokens are not used until `activate`
    CANNOT_RUN = 126  # `exec`: the command was found but could not be run (shell convention)
    COMMAND_NOT_FOUND = 127  # `exec`: no such command (shell convention)
    INTERRUPTED = 130  # Ctrl-C


# What each code means, for `integray-auth help exit-codes`, the `--help` epilog
# and docs/commands.md's "Exit codes" table (a test keeps that page equal to it); a
# row may stand for several codes (exec's 126 and 127).
EXIT_CODE_MEANINGS: tuple[tuple[tuple[ExitCode, ...], str], ...] = (
    ((ExitCode.OK,), 'success'),
    ((ExitCode.ERROR,), 'unexpected error (a one-line message; `INTEGRAY_AUTH_DEBUG=1` shows details), or the output cannot be written (a full disk behind `> file`)'),
    ((ExitCode.USAGE,), 'usage: bad or missing arguments, a value that must be asked for off a terminal, no client id, a grant the provider does not allow, a missing or unusable private key (see "Machine authorizations"); `add`/`authorize` where nobody can consent (see "Nobody to answer"); `token --min-valid` longer than the provider\'s tokens live'),
    ((ExitCode.REGISTRY,), 'the registry (bundled or overlay providers.toml, or config.toml) is invalid or unreadable, or the config folder is not yours alone (see "Where files live"), or the registry no longer names the endpoints an authorization is bound to (see "Endpoints an authorization is bound to") or no longer allows the grant it names'),
    ((ExitCode.INDEX,), 'the index is corrupt, unreadable, locked by another process, from a newer version, or over the size limit (see "Where files live"), or the data folder is not yours alone'),
    ((ExitCode.NOT_FOUND,), 'unknown authorization, provider or connector (close matches are suggested)'),
    ((ExitCode.CONFLICT,), 'conflict: duplicate name (also one a shared authorization in the configured Vault has), already active/inactive, a provider or connector already in your overlay (or bundled), a change to a shared authorization this machine knows only from Vault (see "Shared authorizations")'),
    ((ExitCode.NO_MATCH,), '`search` found nothing'),
    ((ExitCode.STORAGE,), "the keyring, the insecure token file or Vault cannot be used: no credentials, permission denied, sealed, no KV version 2 engine at the mount (or a version 1 one), a check-and-set conflict that keeps recurring, a refresh lease another machine holds for longer than the wait, an authorization recorded at another Vault address than `VAULT_ADDR`, a plain `http://` `VAULT_ADDR` to another host, an authorization's token lock cannot be had, or its stored tokens are not printable ASCII (RFC 6749)"),
    ((ExitCode.AUTHORIZATION,), 'the provider refused: `access_denied` (also a denied device-flow code), `invalid_grant`, `invalid_client`, ...; or the one-time local URL was opened twice (see "What other local users can see")'),
    ((ExitCode.TIMEOUT,), 'the authorization was not completed in time: `--timeout`, or the device-flow code expired (`expires_in`, `expired_token`)'),
    ((ExitCode.NETWORK,), 'network: the provider or Vault is unreachable, TLS failed, too slow (`INTEGRAY_AUTH_HTTP_TIMEOUT`), a bad, oversized or non-Bearer answer (a token that is not printable ASCII, RFC 6749; for `token --format header`, one with a space), or no callback port'),
    ((ExitCode.NOT_AUTHORIZED,), 'needs you: `token`/`exec` for an authorization that is not (or no longer) authorized; `refresh` or `status` when any authorization needs you (any health but `authorized`)'),
    ((ExitCode.INACTIVE,), 'the authorization is deactivated: `token`, `exec`, `refresh NAME`, `status NAME` refuse it until `integray-auth activate NAME`'),
    ((ExitCode.CANNOT_RUN, ExitCode.COMMAND_NOT_FOUND,), "`exec`: the command cannot be run / is not found (as in a shell); otherwise `exec` exits with the command's own code"),
    ((ExitCode.INTERRUPTED,), 'interrupted (Ctrl-C)'),
)


class IntegrayAuthError(Exception):
    """Base of every error the user can act on: a message and a hint.

    A subclass names its exit code in its class statement
    (`class UsageError(IntegrayAuthError, exit_code=ExitCode.USAGE)`), so each
    error and its code stand on one line and this class builds the rest once.
    """

    exit_code: ExitCode = ExitCode.ERROR

    def __init_subclass__(cls, exit_code: ExitCode | None = None, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if exit_code is not None:
            cls.exit_code = exit_code

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(IntegrayAuthError, exit_code=ExitCode.USAGE):
    """Bad or missing arguments, or a value that must be asked for where nobody can answer."""


class RegistryError(IntegrayAuthError, exit_code=ExitCode.REGISTRY):
    """The registry (providers.toml, an overlay, config.toml) is invalid or unreadable."""


class IndexError_(IntegrayAuthError, exit_code=ExitCode.INDEX):
    """The index file cannot be used (named so as not to shadow IndexError)."""


class NotFoundError(IntegrayAuthError, exit_code=ExitCode.NOT_FOUND):
    """Unknown authorization, provider or connector."""


class ConflictError(IntegrayAuthError, exit_code=ExitCode.CONFLICT):
    """A duplicate name, or a change that does not apply in this state."""


class NoMatchError(IntegrayAuthError, exit_code=ExitCode.NO_MATCH):
    """`search` found nothing."""


class StorageError(IntegrayAuthError, exit_code=ExitCode.STORAGE):
    """The keyring, the opted-in token file or Vault cannot be used."""


class AuthorizationTimeout(IntegrayAuthError, exit_code=ExitCode.TIMEOUT):
    """The authorization was not completed in time (--timeout; an expired device code)."""


class NetworkError(IntegrayAuthError, exit_code=ExitCode.NETWORK):
    """The provider or Vault could not be reached, TLS failed, or the answer was bad."""


class NotAuthorizedError(IntegrayAuthError, exit_code=ExitCode.NOT_AUTHORIZED):
    """A token was asked for an authorization without one: it needs the user."""


class InactiveError(IntegrayAuthError, exit_code=ExitCode.INACTIVE):
    """The authorization is deactivated: its tokens are not used until `activate`."""


class CommandNotFound(IntegrayAuthError, exit_code=ExitCode.COMMAND_NOT_FOUND):
    """`exec`: no such command (shell convention)."""


class CannotRun(IntegrayAuthError, exit_code=ExitCode.CANNOT_RUN):
    """`exec`: the command was found but could not be run (shell convention)."""


class AuthorizationFailed(IntegrayAuthError, exit_code=ExitCode.AUTHORIZATION):
    """The provider (or the user on its consent screen) refused.

    `error` is the OAuth error code when there is one (RFC 6749 §5.2): only
    `invalid_grant` means the grant itself is gone.
    """

    def __init__(self, message: str, hint: str | None = None, error: str | None = None) -> None:
        super().__init__(message, hint)
        self.error = error
