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

npm ci --no-audit --no-fund
rm -rf test-results
node --test --test-concurrency=1 tests/
