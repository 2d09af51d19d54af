#!/usr/bin/env bash
# Gatehouse side by side with oidc-provider and Glewlwyd: installs what is missing, then runs
# run.py (which starts, seeds, drives and stops every server by itself). See README.md.
#
# Usage: bench/peers/run.sh PATH_TO_GATEHOUSE [--duration S] [--servers gatehouse,oidc-provider,glewlwyd]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ $# -lt 1 ]; then
  echo "usage: $0 PATH_TO_GATEHOUSE [--duration S] [--servers a,b,c]" >&2
  exit 2
fi

# Debian packages: wrk (the load generator), glewlwyd (the C peer, with its OIDC plugin)
# and nodejs/npm. Installed only when missing (apt-get needs root).
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v glewlwyd >/dev/null || missing+=(glewlwyd)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} with apt-get" >&2
  apt-get update -qq
  # glewlwyd's package asks (debconf) where its own system database goes; the benchmark
  # never uses that one (it writes its own configuration and SQLite file per run).
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2
fi

# oidc-provider, pinned by package.json and package-lock.json, into bench/peers/node_modules.
if ! (cd "$here" && npm ls --omit=dev >/dev/null 2>&1); then
  echo "installing oidc-provider with npm ci" >&2
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi

exec python3 "$here/run.py" "$@"
