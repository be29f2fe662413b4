#!/usr/bin/env bash
# See integray-auth do its job without a provider account, from a fresh clone:
# sets up .venv (integray-auth and the demo server's django-oauth-toolkit),
# starts the local authorization server the tests use (user alice /
# alice-pw), points a "demo" provider at it through a registry overlay, and
# runs add -> consent -> Authorized -> list -> token -> remove in a scratch
# INTEGRAY_AUTH_HOME (your real authorizations are not touched).
#
# With a desktop (DISPLAY/WAYLAND_DISPLAY set, or BROWSER set) your browser
# opens and you log in and approve yourself. On a headless machine a
# scripted browser does it for you, and says so.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

if [ ! -x .venv/bin/integray-auth ] || ! .venv/bin/python -c "import oauth2_provider" 2>/dev/null; then
  echo "Setting up .venv with integray-auth and the demo server (django-oauth-toolkit); this takes a minute ..." >&2
  [ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
  .venv/bin/python -m pip install -q ".[demo]" >/dev/null
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/integray-auth-demo.XXXXXX")
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

.venv/bin/python tests/support/authserver.py --email alice@example.test >"$work/server.json" 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 100); do [ -s "$work/server.json" ] && break; sleep 0.1; done
[ -s "$work/server.json" ] || { echo "The demo server did not start:" >&2; cat "$work/server.log" >&2; exit 1; }

# The same builder writes the tests' overlays (tests/support/overlays.py).
.venv/bin/python -m tests.support.overlays demo "$work/server.json" >"$work/providers.toml"

export INTEGRAY_AUTH_HOME="$work/home"
export INTEGRAY_AUTH_REGISTRY="$work/providers.toml"
ia() { echo "+ integray-auth $*" >&2; .venv/bin/integray-auth "$@"; }

storage=()
kept="in your OS keyring"
if ! .venv/bin/integray-auth doctor >/dev/null 2>&1; then
  kept="in a scratch file"
  echo "No usable OS keyring in this session, so this demo keeps its tokens in a scratch file (--insecure-storage)." >&2
  storage=(--insecure-storage)
fi
if [ -z "${BROWSER:-}" ] && [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ] && [ "$(uname)" = Linux ]; then
  printf '#!/bin/sh\nexec %q %q "$@"\n' "$repo/.venv/bin/python" "$repo/tests/support/browsers/http_browser.py" >"$work/scripted-browser"
  chmod +x "$work/scripted-browser"
  export BROWSER="$work/scripted-browser"
  echo "No desktop browser here: a scripted browser will log in as alice and approve the consent screen." >&2
else
  echo "Your browser will open: log in as alice / alice-pw and click Authorize." >&2
fi
echo >&2

ia add "Demo" --provider demo --connector reader --connector writer "${storage[@]}"
echo >&2
ia list
echo >&2
ia show Demo --no-pager
echo >&2
echo "+ integray-auth token Demo | wc -c    # prints a live access token; counted here, not shown" >&2
.venv/bin/integray-auth token Demo | wc -c
ia remove Demo --yes
echo >&2
echo "Done: the demo added an authorization, consented at the local server as alice, kept the tokens $kept, listed it, printed a fresh access token and removed it again (revoking the grant)." >&2
