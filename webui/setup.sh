#!/usr/bin/env bash
# Set-up for the portal and its tests (run by `make run` and `make test`):
#   - Debian packages: chromium and chromium-driver (browser tests), postgresql (the
#     mirror's PostgreSQL tests), installed with apt-get when missing;
#   - the browser libraries in webui/package-lock.json (Chart.js), into webui/node_modules
#     (git-ignored), with `npm ci`.
# Safe to run again: it does only what is missing.
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(chromium chromium-driver postgresql)
missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  if ! command -v apt-get >/dev/null; then
    echo "error: the portal needs the Debian packages ${missing[*]}, and apt-get is not" \
         "here: install them with your system's package manager" >&2
    exit 1
  fi
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then sudo=(sudo); else
      echo "error: installing ${missing[*]} needs root, and sudo is not here:" \
           "run 'apt-get install ${missing[*]}' as root" >&2
      exit 1
    fi
  fi
  echo "portal set-up: apt-get install ${missing[*]}" >&2
  if ! { "${sudo[@]}" apt-get update -qq &&
         DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}"; }; then
    echo "error: apt-get could not install ${missing[*]} (see above); the portal's browser" \
         "and PostgreSQL tests need them" >&2
    exit 1
  fi
fi

if ! command -v npm >/dev/null; then
  echo "error: npm is not installed: the portal's charts need Chart.js from the npm" \
       "registry (apt-get install npm, or Node.js with npm)" >&2
  exit 1
fi
if [ ! -f node_modules/.installed ] || [ package-lock.json -nt node_modules/.installed ]; then
  echo "portal set-up: npm ci (Chart.js into webui/node_modules)" >&2
  if ! npm ci --no-audit --no-fund --loglevel=error; then
    echo "error: npm ci failed in webui/ (see above)" >&2
    exit 1
  fi
  touch node_modules/.installed
fi
