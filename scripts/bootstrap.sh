#!/usr/bin/env bash
# Installs what a fresh machine lacks to run this project, then the Python environment.
# Idempotent and quiet when everything is there. Called by `make` before any target that
# needs the environment; safe to run by hand.
#
#   Python 3.11   from the machine (pyenv, or Debian's python3.11 package, installed if root)
#   uv            pinned below, from PyPI (pip --user when missing)
#   curl, jq      the seed's demo uses them (Debian packages, installed if root)
#
# Java, Maven and PostgreSQL are checked and installed by the stack itself (`stack up`).
set -euo pipefail

UV_VERSION="0.13.9"
cd "$(dirname "$0")/.."

say() { printf '[bootstrap] %s\n' "$*" >&2; }
fail() { printf '[bootstrap] error: %s\n' "$*" >&2; exit 1; }

apt_install() {
  if [ "$(id -u)" != "0" ]; then
    fail "$1 is missing; install it (e.g. sudo apt-get install -y $2) and run again"
  fi
  say "installing $2 (Debian package) ..."
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }; then
    fail "apt-get could not install $2: is Debian's package repository reachable?"
  fi
}

# Python 3.11 (the project pins it in .python-version; uv must not download one)
if ! command -v python3.11 >/dev/null 2>&1; then
  apt_install "Python 3.11" python3.11
fi

# uv
if ! command -v uv >/dev/null 2>&1; then
  for candidate in "$HOME/.local/bin/uv"; do
    [ -x "$candidate" ] && export PATH="$(dirname "$candidate"):$PATH"
  done
fi
if ! command -v uv >/dev/null 2>&1 || [ "$(uv --version | awk '{print $2}')" != "$UV_VERSION" ]; then
  say "installing uv $UV_VERSION from PyPI ..."
  python3.11 -m pip install --quiet --user "uv==$UV_VERSION" \
    || python3.11 -m pip install --quiet --break-system-packages --user "uv==$UV_VERSION" \
    || fail "could not install uv $UV_VERSION from PyPI: is PyPI reachable?"
  export PATH="$HOME/.local/bin:$PATH"
fi

# curl and jq, for the seed's demo commands
command -v curl >/dev/null 2>&1 || apt_install curl curl
command -v jq >/dev/null 2>&1 || apt_install jq jq

# The Python environment: every workspace member, exact versions from uv.lock
UV_PYTHON_DOWNLOADS=never uv sync --frozen --all-packages --quiet \
  || fail "uv sync failed (see above): is PyPI reachable?"
