"""`add --resource` and `mcp proxy` through the installed command, on their error paths:
one line on stderr saying what is wrong and what to run, a documented exit code, nothing
on stdout (the proxy's stdout is the agent's MCP stream), no traceback."""

from __future__ import annotations

from tests.support.cli import assert_error_line


def test_a_resource_that_is_not_an_mcp_server_url(cli):
    result = cli("add", "Notes", "--resource", "ftp://mcp.example.com/mcp")
    assert_error_line(result, 2, "--resource", "must be https://")


def test_a_resource_with_a_password_is_not_echoed(cli):
    result = cli("add", "Notes", "--resource", "https://me:hunter2@mcp.example.com/mcp")
    line = assert_error_line(result, 2, "user name or password")
    assert "hunter2" not in line


def test_the_provider_of_an_mcp_server_comes_from_its_metadata(cli):
    result = cli("add", "Notes", "--resource", "https://mcp.example.com/mcp", "-p", "github")
    assert_error_line(result, 2, "--provider does not go with --resource")


def test_client_metadata_url_goes_with_resource(cli):
    result = cli("add", "Notes", "-p", "github", "-c", "list-repositories", "--client-metadata-url", "https://x.example/c.json")
    assert_error_line(result, 2, "--client-metadata-url goes with --resource")


def test_an_unreachable_mcp_server(cli):
    result = cli("add", "Notes", "--resource", "http://127.0.0.1:9/mcp", "--insecure-storage", env={"INTEGRAY_AUTH_HTTP_TIMEOUT": "5"})
    assert_error_line(result, 11, "127.0.0.1:9")


def test_proxy_for_an_unknown_authorization(cli):
    result = cli("mcp", "proxy", "Nothing")
    assert_error_line(result, 5, "Nothing")


def test_proxy_for_an_authorization_that_is_not_an_mcp_server(cli):
    added = cli("add", "Repos", "-p", "github", "-c", "list-repositories", "--no-authorize")
    assert added.code == 0, added.stderr
    result = cli("mcp", "proxy", "Repos")
    assert_error_line(result, 2, "is not for an MCP server", "add NAME --resource URL")


def test_proxy_for_a_bad_url(cli):
    result = cli("mcp", "proxy", "https://mcp.example.com/mcp#fragment")
    assert_error_line(result, 2, "fragment")
