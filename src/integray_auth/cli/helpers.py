"""The commands other tools run: git's credential helper and kubectl's exec
credential plugin, and the set-ups that register them. Registered in cli/app.py;
docs/helpers.md describes both protocols."""

from __future__ import annotations

import sys
from typing import List, Optional

import typer

from ..lean import jsonio
from ..lean.printable import escape, quoted, shell_quote
from ..usecases import git_credential as git
from ..usecases import kube_credential as kube
from .options import NAME, context_of


def git_credential(
    typer_ctx: typer.Context,
    operation: str = typer.Argument(..., metavar="get|store|erase", help="What git asks (git-credential(1))."),
) -> None:
    """git's credential helper: git runs it, with the request on stdin; setup-git registers it.

    get prints the user name and a valid access token for a host setup-git
    linked to an authorization (nothing for other hosts, so git asks the next
    helper); erase (the server rejected it) makes the next get renew the token,
    and never removes anything; store does nothing.

    \b
    Example:
      printf 'protocol=https\\nhost=github.com\\n\\n' | integray-auth git-credential get
    """
    ctx = context_of(typer_ctx)
    if operation not in ("get", "store", "erase"):
        return  # git-credential(1): a helper ignores operations it does not know
    request = git.read_request(ctx.stdin)  # read whatever the operation: git writes it all
    if operation == "get":
        lines = git.answer_get(ctx, request)
        if lines:
            ctx.stdout.write("".join(f"{key}={value}\n" for key, value in lines))
    elif operation == "erase" and git.erase(ctx, request):
        # git shows a helper's stderr: say why this command failed and that the next one may not.
        ctx.stderr.write(
            f"integray-auth: {escape(request.host or '')} rejected the access token; "
            "the next git command gets a renewed one.\n"
        )


def setup_git(
    typer_ctx: typer.Context,
    name: str = NAME,
    host: Optional[List[str]] = typer.Option(
        None, "--host", metavar="HOST", help="A git host it serves (repeatable); default: the provider's (github.com, ...)."
    ),
    local: bool = typer.Option(False, "--local", help="Only for the git repository here (git config --local)."),
    remove: bool = typer.Option(False, "--remove", help="Undo it: git no longer asks integray-auth for these hosts."),
) -> None:
    """Make git use NAME's access token for its HTTPS hosts (credential.https://HOST.helper).

    Writes the helper entry in your global git config (or the repository's, with
    --local), an empty one first so other helpers do not answer for that host,
    and records which authorization serves the host. Running it twice changes nothing.

    \b
    Example:
      integray-auth setup-git GitHub && git clone https://github.com/OWNER/REPO.git
    """
    ctx = context_of(typer_ctx)
    hosts = list(host or [])
    if remove:
        for change in git.remove_git(ctx, name, hosts, local):
            where = escape(change.host)
            if change.outcome == "removed":
                ctx.stderr.write(f"git no longer asks integray-auth for {where}.\n")
            elif change.outcome == "kept-other":
                ctx.stderr.write(f"{where} is served by {quoted(change.previous)} now; nothing to undo for {quoted(name)}.\n")
            elif change.outcome == "kept-foreign":
                ctx.stderr.write(f"Kept the credential helper of {where}: integray-auth did not write it.\n")
            else:
                ctx.stderr.write(f"integray-auth was not set up for {where}; nothing to undo.\n")
        return
    command = git.own_command(ctx, sys.argv[0], sys.executable)
    for change in git.setup_git(ctx, name, hosts, local, command):
        where = escape(change.host)
        if change.outcome == "unchanged":
            ctx.stderr.write(f"git already asks integray-auth for {where} ({quoted(name)}); nothing changed.\n")
            continue
        before = f" (instead of {quoted(change.previous)})" if change.previous else ""
        ctx.stderr.write(f"git now asks integray-auth for {where}, which gives it the access token of {quoted(name)}{before}.\n")


def kube_credential(
    typer_ctx: typer.Context,
    name: str = NAME,
    id_token: bool = typer.Option(False, "--id-token", help="The ID token (for Kubernetes' OIDC authenticator), not the access token."),
) -> None:
    """kubectl's exec credential plugin: print an ExecCredential with a valid token; never prompts.

    kubectl runs it from the kubeconfig user entry setup-kube writes, and reads
    KUBERNETES_EXEC_INFO's apiVersion (client.authentication.k8s.io/v1 or v1beta1).

    \b
    Example:
      integray-auth kube-credential Okta --id-token
    """
    ctx = context_of(typer_ctx)
    ctx.stdout.write(jsonio.dumps(kube.exec_credential(ctx, name, id_token)) + "\n")


def setup_kube(
    typer_ctx: typer.Context,
    name: str = NAME,
    cluster: str = typer.Option(..., "--cluster", metavar="CLUSTER", help="A cluster the kubeconfig defines."),
    kubeconfig: Optional[str] = typer.Option(
        None, "--kubeconfig", metavar="PATH", help="The kubeconfig to edit (default: KUBECONFIG's first file, else ~/.kube/config)."
    ),
    id_token: bool = typer.Option(False, "--id-token", help="Send the ID token (Kubernetes' OIDC authenticator), not the access token."),
    remove: bool = typer.Option(False, "--remove", help="Undo it: remove the user entry and context it added."),
) -> None:
    """Add a kubeconfig user that gets NAME's token from integray-auth, and a context NAME@CLUSTER.

    Nothing else in the file changes (comments are not kept, as with kubectl
    config); the file is replaced atomically, readable only by you.

    \b
    Example:
      integray-auth setup-kube Okta --cluster prod --id-token && kubectl --context Okta@prod get pods
    """
    ctx = context_of(typer_ctx)
    if remove:
        done = kube.remove_kube(ctx, name, cluster, kubeconfig)
        if done.outcome == "removed":
            ctx.stderr.write(f"Removed the user {quoted(done.user)} and context {quoted(done.context)} from {escape(done.path)}.\n")
        else:
            ctx.stderr.write(f"{escape(done.path)} has no user or context integray-auth added for {quoted(name)}; nothing to undo.\n")
        return
    command = git.own_command(ctx, sys.argv[0], sys.executable)
    done = kube.setup_kube(ctx, name, cluster, kubeconfig, command, id_token)
    if done.outcome == "unchanged":
        ctx.stderr.write(f"{escape(done.path)} already has the user {quoted(done.user)} and context {quoted(done.context)}; nothing changed.\n")
    else:
        verb = "Added" if done.outcome == "added" else "Updated"
        ctx.stderr.write(
            f"{verb} the user {quoted(done.user)} and context {quoted(done.context)} in {escape(done.path)}. "
            f"Use it: kubectl --context {escape(shell_quote(done.context))} get pods\n"
        )
