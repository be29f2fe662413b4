"""Shell completion through the installed command: the scripts load in the real
shells, bash completes an authorization name with a space in it (driven both
through its completion function and on a real pty), and the answers come from
the stdlib-only fast path."""

from __future__ import annotations

import os
import re
import select
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from integray_auth.cli import completion
from integray_auth.cli.app import app
from integray_auth.errors import ExitCode
from integray_auth.usecases import manage
from tests.support.cli import assert_error_line
from tests.support.imports import HEAVY, SLOW_STDLIB, probe
from tests.support.overlays import READ, provider, write_overlay
from tests.support.plugin import require

BIN = Path(sys.executable).parent


@pytest.fixture
def saved(make_ctx):
    """Names with a space, a quote and a colon, one of them inactive."""
    ctx = make_ctx()
    for name in ("Reservanto Prague", "Reservanto Brno", "Gmail", "Bob's: mail"):
        manage.save_new(ctx, manage.new_authorization(ctx, name, "reservanto", ["list-locations"]))
    manage.set_active(ctx, "Reservanto Brno", active=False)


def shell_env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "TERM": "dumb"}


def bash_complete(line: str) -> list[str]:
    """COMPREPLY after Tab at the end of `line`, from the script `completion bash`
    prints, loaded in a real (non-interactive) bash with COMP_* set as readline does."""
    require("bash", "bash is needed to load the bash completion script")
    driver = f"""
        eval "$(integray-auth completion bash)"
        complete -p integray-auth >&2
        COMP_LINE={shlex.quote(line)}
        COMP_POINT=${{#COMP_LINE}}
        # bash splits COMP_WORDS at spaces and at COMP_WORDBREAKS (=, :) outside quotes.
        read -r -a COMP_WORDS <<< {shlex.quote(_readline_words(line))}
        [[ $COMP_LINE == *' ' ]] && COMP_WORDS+=("")
        COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
        _integray_auth
        printf '%s\\n' "${{COMPREPLY[@]}}"
    """
    done = subprocess.run(["bash", "-c", driver], capture_output=True, text=True, env=shell_env(), timeout=30)
    assert done.returncode == 0, done.stderr
    assert "complete -F _integray_auth integray-auth" in done.stderr
    return [reply for reply in done.stdout.split("\n") if reply]


def _readline_words(line: str) -> str:
    """The words as bash splits them for COMP_WORDS: at spaces, and around '=' and ':'
    outside quotes; space-separated for `read -a` (the lines below have no space in quotes
    before the last word)."""
    out, quote, escaped = [], None, False
    for ch in line:
        if escaped:
            out.append(ch)
            escaped = False
        elif ch == "\\" and quote != "'":
            out.append(ch)
            escaped = True
        elif quote:
            out.append(ch)
            quote = None if ch == quote else quote
        elif ch in "'\"":
            out.append(ch)
            quote = ch
        elif ch in "=:":
            out.append(f" {ch} ")
        else:
            out.append(ch)
    return "".join(out)


def test_bash_completes_a_name_with_a_space_escaped(saved):
    assert bash_complete("integray-auth show Res") == ["Reservanto\\ Prague", "Reservanto\\ Brno"]
    assert bash_complete("integray-auth show gm") == ["Gmail"]  # names match case-insensitively


def test_bash_completes_inside_an_open_quote_without_escaping(saved):
    assert bash_complete("integray-auth show 'Reservanto P") == ["Reservanto Prague"]
    assert bash_complete('integray-auth token "Bob') == ["Bob's: mail"]


def test_bash_completes_a_name_with_a_colon_after_the_word_break(saved):
    # readline replaces only what follows ':' (a COMP_WORDBREAKS character).
    assert bash_complete("integray-auth show Bob\\'s:") == ["\\ mail"]


def test_activate_offers_the_inactive_and_deactivate_the_active(saved):
    assert bash_complete("integray-auth activate ") == ["Reservanto\\ Brno"]
    assert "Reservanto\\ Brno" not in bash_complete("integray-auth deactivate ")
    assert len(bash_complete("integray-auth remove ")) == 4


def test_bash_completes_commands_subcommands_and_options():
    assert bash_complete("integray-auth sh") == ["show", "share"]
    assert bash_complete("integray-auth providers ") == ["show", "add", "remove", "connector"]
    assert bash_complete("integray-auth client ") == ["set", "remove", "list", "show"]
    assert bash_complete("integray-auth list --") == ["--inactive", "--all", "--json", "--jq", "--help"]
    assert bash_complete("integray-auth completion ") == ["bash", "zsh", "fish", "powershell"]
    assert bash_complete("integray-auth help exit") == ["exit-codes"]
    assert "__complete" not in bash_complete("integray-auth ")


def test_options_already_given_are_not_offered_again_unless_repeatable():
    offered = bash_complete("integray-auth add X --no-browser -c list-locations --")

    assert "--no-browser" not in offered
    assert {"--connector", "--provider", "--param"} <= set(offered)


def test_bash_completes_provider_ids_and_the_chosen_providers_connectors():
    assert bash_complete("integray-auth add X -p reserv") == ["reservanto"]
    assert "google" in bash_complete("integray-auth providers show ")
    connectors = bash_complete("integray-auth add X -p reservanto -c list-")
    assert {"list-locations", "list-segments"} <= set(connectors)
    assert all(c.startswith("list-") for c in connectors)
    assert bash_complete("integray-auth add X -c ") == []  # no provider yet: nothing to guess
    assert bash_complete("integray-auth add X --provider=google -c gmail-s") == ["gmail-send-message"]


def test_connectors_add_offers_what_the_authorization_lacks_and_remove_what_it_has(saved):
    added = bash_complete("integray-auth connectors add 'Reservanto Prague' ")
    assert "list-locations" not in added and "list-segments" in added
    assert "list-segments" not in bash_complete("integray-auth connectors add Gmail list-segments list-")
    assert bash_complete("integray-auth connectors remove gmail ") == ["list-locations"]
    assert bash_complete("integray-auth rename Gma") == ["Gmail"]
    assert bash_complete("integray-auth rename Gmail ") == []  # the new name is the user's


def test_providers_connector_add_offers_that_providers_scopes():
    scopes = bash_complete("integray-auth providers connector add reservanto x --scope Booking")
    assert "Booking_w" in scopes and all(scope.startswith("Booking") for scope in scopes)
    assert bash_complete("integray-auth providers connector add ") == bash_complete("integray-auth providers show ")


def test_bash_completes_template_parameters_without_a_space_after():
    assert bash_complete("integray-auth add X -p microsoft --param ") == ["tenant="]


def test_bash_completes_json_fields_one_after_another():
    assert bash_complete("integray-auth list --json na") == ["name"]
    assert bash_complete("integray-auth list --json name,stat") == ["name,status"]
    # After '=' (a word break) readline replaces only the field list.
    assert bash_complete("integray-auth list --json=name,stat") == ["name,status"]
    assert "scopes" in bash_complete("integray-auth show X --json ")
    assert "token_url" in bash_complete("integray-auth providers --json tok")


def test_a_path_option_falls_back_to_the_shells_file_completion(tmp_path):
    assert bash_complete("integray-auth --registry ") == []
    assert subprocess.run(
        [str(BIN / "integray-auth"), "__complete", "bash", "integray-auth --registry ", ""], capture_output=True, text=True
    ).stdout == ":files\n"


def type_in_a_shell(argv: list[str], env: dict[str, str], steps: list[tuple[bytes, str]]) -> str:
    """Run an interactive shell on a pty; for each step, type the bytes and wait for the text."""
    import pty

    controller, terminal = pty.openpty()
    shell = subprocess.Popen(argv, stdin=terminal, stdout=terminal, stderr=terminal, env=env, close_fds=True, start_new_session=True)
    os.close(terminal)
    seen = ""
    try:
        for typed, expected in steps:
            os.write(controller, typed)
            deadline = time.monotonic() + 20
            while expected not in seen:
                ready, _, _ = select.select([controller], [], [], max(0.0, deadline - time.monotonic()))
                if not ready:
                    raise AssertionError(f"{expected!r} never appeared; so far:\n{seen}")
                seen += os.read(controller, 4096).decode("utf-8", "replace")
        os.write(controller, b"exit\n")
        shell.wait(timeout=20)
    finally:
        os.close(controller)
        if shell.poll() is None:
            shell.kill()
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", seen)


@pytest.mark.skipif(os.name != "posix", reason="needs a POSIX pseudo-terminal")
def test_tab_in_an_interactive_bash_completes_a_name_that_then_runs(saved):
    """A person's bash on a pty: Tab puts 'Reservanto\\ Prague' on the line, Enter runs it."""
    require("bash", "bash is needed to load the bash completion script")
    rc = Path(os.environ["INTEGRAY_AUTH_HOME"]).parent / "bashrc"
    rc.write_text('PS1="ready$ "\neval "$(integray-auth completion bash)"\n')

    seen = type_in_a_shell(
        ["bash", "--noprofile", "--rcfile", str(rc), "-i"],
        shell_env(),
        [(b"", "ready$ "), (b"integray-auth show Reservanto\\ P\t", "Prague"), (b"--json name\n", '"name": "Reservanto Prague"')],
    )

    assert "integray-auth show Reservanto\\ Prague " in seen


@pytest.mark.skipif(os.name != "posix", reason="needs a POSIX pseudo-terminal")
def test_tab_in_an_interactive_zsh_completes_a_quoted_name(saved):
    require("zsh", "zsh is needed to load the zsh completion script (apt: zsh)")
    zdotdir = Path(os.environ["INTEGRAY_AUTH_HOME"]).parent / "zdot"
    zdotdir.mkdir()
    (zdotdir / ".zshrc").write_text('PS1="ready%% "\nautoload -Uz compinit && compinit -u\neval "$(integray-auth completion zsh)"\n')

    # zsh closes the quote itself (and quotes the name's own "'"): the command gets the one name.
    type_in_a_shell(
        ["zsh", "-i"],
        {**shell_env(), "ZDOTDIR": str(zdotdir), "TERM": "xterm"},
        [(b"", "ready% "), (b"integray-auth show 'Bob\t", "mail'"), (b" --json name\n", '"name": "Bob\'s: mail"')],
    )


def test_zsh_loads_its_script_and_registers_the_function():
    require("zsh", "zsh is needed to load the zsh completion script (apt: zsh)")
    done = subprocess.run(
        ["zsh", "-f", "-c", 'eval "$(integray-auth completion zsh)" && print -r -- ${_comps[integray-auth]}'],
        capture_output=True, text=True, env={**shell_env(), "HOME": os.environ["INTEGRAY_AUTH_HOME"]}, timeout=30,
    )  # fmt: skip

    assert (done.returncode, done.stdout.strip()) == (0, "_integray_auth"), done.stderr


def test_fish_completes_names_connectors_and_commands(saved, tmp_path):
    require("fish", "fish is needed to load the fish completion script (apt: fish)")
    script = tmp_path / "complete.fish"
    script.write_text(
        "integray-auth completion fish | source\n"
        'complete -C "integray-auth show Res"; echo ---\n'
        "complete -C \"integray-auth show 'Bob\"; echo ---\n"
        'complete -C "integray-auth add x -p reservanto -c list-l"\n'
    )
    done = subprocess.run(["fish", "--no-config", str(script)], capture_output=True, text=True, env=shell_env(), timeout=30)

    assert done.returncode == 0, done.stderr
    names, quoted, connectors = done.stdout.split("---\n")
    assert sorted(names.splitlines()) == ["Reservanto Brno", "Reservanto Prague"]
    assert quoted.splitlines() == ["Bob's: mail"]
    assert connectors.splitlines() == ["list-locations\tList Locations"]


def test_the_powershell_script_registers_a_native_completer(cli):
    script = cli("completion", "powershell").stdout

    assert "Register-ArgumentCompleter -Native -CommandName 'integray-auth'" in script
    assert "integray-auth __complete powershell" in script
    done = subprocess.run(
        [str(BIN / "integray-auth"), "__complete", "powershell", "integray-auth show Res"], capture_output=True, text=True
    )
    assert done.stdout == ""  # nothing saved in this test: no names, no error


def test_powershell_answers_are_quoted_for_powershell(saved):
    done = subprocess.run(
        [str(BIN / "integray-auth"), "__complete", "powershell", "integray-auth show Bo"], capture_output=True, text=True
    )

    assert done.stdout == "'Bob''s: mail'\n"


def test_completion_scripts_exit_0_and_an_unknown_shell_is_a_usage_error(cli):
    for shell in completion.SHELLS:
        result = cli("completion", shell)
        assert (result.code, result.stderr) == (0, ""), shell
        assert "__complete " + shell in result.stdout

    assert_error_line(cli("completion", "bsh"), ExitCode.USAGE, "no completion for the shell 'bsh'; did you mean 'bash'?")


def test_a_broken_index_gives_no_names_and_no_noise(cli, home):
    home.mkdir(parents=True, exist_ok=True)
    (home / "index.json").write_text("{broken")

    result = cli("__complete", "bash", "integray-auth show ", "")

    assert (result.code, result.stdout, result.stderr) == (0, "", "")


def test_completion_requests_import_none_of_the_heavy_libraries(saved):
    warm = probe(["list"], ())  # the registry cache, as after any earlier command
    assert warm[0] == 0

    for line in ("integray-auth show Res", "integray-auth add X -p reservanto -c ", "integray-auth li"):
        code, imported, out = probe(["__complete", "bash", line, line.rsplit(" ", 1)[-1]], HEAVY + SLOW_STDLIB)
        assert (code, imported) == (0, []), line
        assert out, line


def _typer_tree():
    import typer.main

    return typer.main.get_command(app)


def _options(command) -> dict[str, bool]:
    """Each option name of a Click command -> whether it takes a value."""
    found = {"-h": False, "--help": False}  # added by Click per context (help_option_names)
    for param in command.params:
        if getattr(param, "param_type_name", "") != "option":
            continue
        for name in [*param.opts, *param.secondary_opts]:
            found[name] = not param.is_flag
    return found


def test_the_completion_grammar_matches_the_typer_commands():
    """The fast path cannot import Typer, so it has its own table; it must not drift."""

    def compare(click_command, grammar, path):
        assert {n: k is not None for n, k in grammar.options.items()} == _options(click_command), path
        arguments = [p for p in click_command.params if getattr(p, "param_type_name", "") == "argument"]
        assert len(arguments) == len(grammar.arguments), path
        commands = getattr(click_command, "commands", {})
        visible = {name for name, c in commands.items() if not c.hidden}
        assert visible == set(grammar.subcommands), path
        for name in visible:
            compare(commands[name], grammar.subcommands[name], f"{path} {name}")

    compare(_typer_tree(), completion.GRAMMAR, "integray-auth")


def test_completion_knows_storage_share_and_unshare(saved):
    from integray_auth.stores import BACKENDS

    assert bash_complete("integray-auth add X --storage ") == ["keyring", "file", "vault"]
    assert completion.GRAMMAR.subcommands["authorize"].options["--storage"] == tuple(BACKENDS)
    assert bash_complete("integray-auth unsh") == ["unshare"]
    assert bash_complete("integray-auth share Gm") == ["Gmail"]
    assert bash_complete("integray-auth unshare Gmail --to ") == ["keyring", "file"]


@pytest.mark.skipif(os.name != "posix", reason="FIFOs as POSIX has them")
def test_a_fifo_in_place_of_the_index_gives_no_names_and_no_wait(cli, home):
    home.mkdir(parents=True, exist_ok=True)
    os.mkfifo(home / "index.json", 0o600)

    result = cli("__complete", "bash", "integray-auth show ", "", timeout=10)  # a read of it would wait forever

    assert (result.code, result.stdout, result.stderr) == (0, "", "")


# --- registry text is outside text ------------------------------------------------------------

EVIL_NAME = "Evil\x1b]0;T\x07X"  # retitles the terminal when printed raw
RAW_CONTROLS = ("\x1b", "\x07", "\u202e", "\x9b")


def _evil_overlay(path: Path) -> Path:
    # TOML's escapes put the raw control characters into the registry's text.
    return write_overlay(path, provider(
        "evil", "Evil\\u001b]0;T\\u0007X", pkce="", scopes=READ,
        connectors=(("reader", "Reader\\u202e", "Reads\\u009b2J", ("read",)),),
        fields='authorization_url = "https://evil.example/authorize"\ntoken_url = "https://evil.example/token"'))


def test_registry_text_with_control_characters_never_reaches_the_terminal_at_tab(cli, tmp_path):
    overlay = _evil_overlay(tmp_path / "evil.toml")
    env = {"INTEGRAY_AUTH_REGISTRY": str(overlay)}
    # Every command that reads the registry refuses it, naming the file and the key...
    refused = cli("providers", env=env)
    assert_error_line(refused, ExitCode.REGISTRY, str(overlay), "provider 'evil', field 'name'", "\\x1b")
    assert not any(ch in refused.stderr for ch in RAW_CONTROLS)
    # ...and a Tab in every shell prints none of it (a Tab never fails: it offers nothing then).
    for args in (["bash", "integray-auth add X -p e", "e"], ["zsh", "add", "X", "-p", "e"], ["fish", "add", "X", "-p", "e"],
                 ["fish", "add", "X", "-p", "evil", "-c", ""], ["powershell", "integray-auth add X -p e"]):
        answered = cli("__complete", *args, env=env)
        assert (answered.code, answered.stderr) == (0, ""), args
        assert not any(ch in answered.stdout for ch in RAW_CONTROLS), (args, answered.stdout)
    # The real fish, loading the script, completes nothing raw either.
    require("fish", "fish is needed to load the fish completion script (apt: fish)")
    script = tmp_path / "complete.fish"
    script.write_text('integray-auth completion fish | source\ncomplete -C "integray-auth add X -p e"\n')
    done = subprocess.run(["fish", "--no-config", str(script)], capture_output=True, text=True,
                          env={**shell_env(), **env}, timeout=30)
    assert done.returncode == 0, done.stderr
    assert not any(ch in done.stdout for ch in RAW_CONTROLS), done.stdout


def test_fish_descriptions_are_escaped_like_every_text_from_outside(monkeypatch):
    import io

    monkeypatch.setattr(completion, "candidates", lambda words, environ=None: [
        ("evil", EVIL_NAME + "\tsecond\nthird"), ("plain", "Plain"), ("bare", "")])
    out = io.StringIO()

    assert completion.answer(["fish", "add", "X", "-p", ""], stdout=out) == 0

    assert out.getvalue().splitlines() == ["evil\tEvil\\x1b]0;T\\x07X\\tsecond\\nthird", "plain\tPlain", "bare"]
