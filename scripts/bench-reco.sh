#!/usr/bin/env bash
# End-to-end HTTP latency of the recommendation API (issue 6), release builds.
#
# In a fresh data directory: the embedded tenant `default` with a synthetic catalogue of
# 100,000 catalogue media and 50,000 profiles, and a model (64 factors, 10 iterations) trained
# on ~2 million plays kept in memory, promoted in the tenant's registry. Then the real
# `mvidarr serve` on that directory, loaded one endpoint after the other (10 s each, 2 requests
# in flight, a random user or media per request) by autocannon (npm, pinned with integrity
# hashes in scripts/node/package-lock.json):
#   GET /v1/recommendations?user={profile}&kind=personal&limit=20
#   GET /v1/recommendations?kind=trending&limit=20
#   GET /v1/media/{media}/similar?limit=20
# It prints p50/p99/max latency and requests/s per endpoint beside the same model's in-process
# latency, and the fixture's build times. Targets: HTTP p99 < 50 ms, in-process p99 <= 5 ms.
# Any non-2xx answer (a 429 from the rate limiter, say) or socket error fails the bench.
# The server and the load generator share the machine's cores (on 2 cores the figures include
# that contention) and other work on the machine makes them noisy: the load average is printed.
#
# Usage: scripts/bench-reco.sh [--quick] [--json FILE] [more bench-reco flags: --help]
#   --quick   5,000 items, 2,000 users, 2 s per endpoint: a smoke test.
# Needs node (>= 18) and npm. The data directory and the server are removed/stopped on exit,
# whether the bench succeeds or not.
set -euo pipefail
caller="$PWD"
cd "$(dirname "$0")/.."
root="$PWD"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mvidarr/target}"

# `mvidarr serve` refuses to start without ffmpeg, though this bench never runs it.
bash layers/fetch-ffmpeg.sh
cargo build --release --locked -q -p mvidarr -p mvidarr-tests --bin mvidarr --bin bench-reco
# Pinned by the lockfile; npm's cache is kept with the project's other downloads.
npm ci --prefix scripts/node --no-audit --no-fund --prefer-offline --loglevel=error \
  --cache "$HOME/.cache/mvidarr/npm" >/dev/null

# The bench runs from the repository (where `serve` finds ffmpeg): a relative --json FILE is
# the caller's.
absolute() {
  case "$1" in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s\n' "$caller/$1" ;;
  esac
}
args=()
while (($#)); do
  case "$1" in
    --json)
      (($# >= 2)) || { echo "bench-reco.sh: --json needs a FILE" >&2; exit 2; }
      args+=(--json "$(absolute "$2")")
      shift 2
      ;;
    --json=*)
      args+=(--json "$(absolute "${1#--json=}")")
      shift
      ;;
    *)
      args+=("$1")
      shift
      ;;
  esac
done

work="$(mktemp -d "${TMPDIR:-/tmp}/bench-reco.XXXXXX")"
bench_pid=""

# A server left behind by a bench that was itself killed: stopped by the pid it advertised,
# if that process still serves this bench's data directory.
stop_orphan_server() {
  local info="$work/data/serve.json" pid
  [[ -f "$info" ]] || return 0
  pid="$(sed -n 's/.*"pid"[[:space:]]*:[[:space:]]*\([0-9][0-9]*\).*/\1/p' "$info")"
  [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 0
  if { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF -- "$work/data"; then
    kill -KILL "$pid" 2>/dev/null || true
  fi
}

cleanup() {
  if [[ -n "$bench_pid" ]] && kill -0 "$bench_pid" 2>/dev/null; then
    kill -TERM "$bench_pid" 2>/dev/null || true
    wait "$bench_pid" 2>/dev/null || true
  fi
  stop_orphan_server
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# In the background so that a signal to this script is handled at once (bash runs traps only
# between commands).
"$CARGO_TARGET_DIR/release/bench-reco" \
  --mvidarr "$CARGO_TARGET_DIR/release/mvidarr" \
  --load-script "$root/scripts/node/bench-reco.mjs" \
  --work "$work" \
  ${args[@]+"${args[@]}"} &
bench_pid=$!
wait "$bench_pid"
