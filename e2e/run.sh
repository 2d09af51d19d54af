#!/usr/bin/env bash
# Browser end-to-end tests: Debian's Chromium (apt package `chromium`), driven by playwright-core,
# against the gatehouse binary (GATEHOUSE_BIN, default ../target/debug/gatehouse). Authenticator
# app codes come from Debian's oathtool (apt package `oathtool`).
set -euo pipefail
cd "$(dirname "$0")"

CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [[ ! -x "$CHROMIUM_PATH" ]]; then
  echo "e2e: Chromium not found at $CHROMIUM_PATH; install Debian's package (apt-get install -y chromium) or set CHROMIUM_PATH." >&2
  exit 1
fi
export CHROMIUM_PATH

OATHTOOL_PATH="${OATHTOOL_PATH:-/usr/bin/oathtool}"
if [[ ! -x "$OATHTOOL_PATH" ]]; then
  echo "e2e: oathtool not found at $OATHTOOL_PATH; install Debian's package (apt-get install -y oathtool) or set OATHTOOL_PATH." >&2
  exit 1
fi
export OATHTOOL_PATH

# Products we did not write: Apache httpd with mod_auth_openidc, and Python's Authlib in the
# venv scripts/test makes (python/requirements.txt).
APACHE_PATH="${APACHE_PATH:-/usr/sbin/apache2}"
if [[ ! -x "$APACHE_PATH" || ! -f /usr/lib/apache2/modules/mod_auth_openidc.so ]]; then
  echo "e2e: Apache with mod_auth_openidc not found; install Debian's packages (apt-get install -y apache2 libapache2-mod-auth-openidc) or set APACHE_PATH." >&2
  exit 1
fi
export APACHE_PATH
AUTHLIB_PYTHON="${AUTHLIB_PYTHON:-$PWD/python/.venv/bin/python}"
if [[ ! -x "$AUTHLIB_PYTHON" ]]; then
  echo "e2e: no Python venv with Authlib at $AUTHLIB_PYTHON; run scripts/test, or: python3 -m venv python/.venv && python/.venv/bin/pip install -r python/requirements.txt" >&2
  exit 1
fi
export AUTHLIB_PYTHON

npm ci --no-audit --no-fund
rm -rf test-results
node --test --test-concurrency=1 tests/
