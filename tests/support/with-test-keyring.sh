#!/bin/sh
# Run a command against a private, throwaway GNOME Keyring Secret Service.
#   Usage: tests/support/with-test-keyring.sh CMD [ARGS...]      (exit status = CMD's)
# The shell form of keyring_session.py, for manual use.
set -eu
tmp=$(mktemp -d "${TMPDIR:-/tmp}/test-keyring.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir -m 700 "$tmp/run" "$tmp/data" "$tmp/config"
unset PYTHON_KEYRING_BACKEND DBUS_SESSION_BUS_ADDRESS GNOME_KEYRING_CONTROL
# Own runtime dir: with a shared one gnome-keyring defers to the desktop's daemon.
export XDG_RUNTIME_DIR="$tmp/run" XDG_DATA_HOME="$tmp/data" XDG_CONFIG_HOME="$tmp/config"
dbus-run-session -- sh -c '
  # --foreground, as our child: a daemonized one can outlive the bus.
  printf "%s" "test-password" |
    gnome-keyring-daemon --foreground --unlock --components=secrets >/dev/null 2>&1 &
  gkd=$!
  i=0
  until dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
        org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null |
        grep -q "boolean true"; do
    i=$((i + 1))
    if [ "$i" -gt 200 ]; then echo "gnome-keyring-daemon did not start" >&2; kill "$gkd"; exit 70; fi
    sleep 0.05
  done
  rc=0; "$@" || rc=$?
  kill "$gkd" 2>/dev/null; wait "$gkd" 2>/dev/null
  exit "$rc"' sh "$@" || exit $?
