#!/usr/bin/env bash
# Installs the pinned Python tools (moto_server, statelint, cfn-lint, cargo-lambda with zig) into the
# project's .venv. Every package is pinned by version and SHA-256 in requirements.txt; a stamp of
# that file makes a second run a no-op.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="$root/.venv"
lock="$root/scripts/python/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$lock" | cut -d' ' -f1)"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  --require-hashes --no-deps --only-binary=:all: -r "$lock"
echo "$want" >"$stamp"
