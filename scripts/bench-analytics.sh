#!/usr/bin/env bash
# The analytics benchmark of issue 8, release builds, every figure from one run:
#
# - ingest: 1,000,000 synthetic events of the embedded tenant `default` over the last 30 days,
#   through the events function (JSON batches of 100 events, as POST /v1/events forwards them;
#   Parquet + rollups), two messages at a time: events/s on the wall clock and per CPU second
#   (target >= 100,000), Parquet bytes per event, rollup items written;
# - every report kind as CSV, XLSX and PDF over those events, each made from scratch as
#   `mvidarr report` does (target < 2 s; the seed promised < 10 s);
# - every report query on DataFusion and on DuckDB (PyPI `duckdb`, from the benchmarks' own
#   virtualenv .venv-bench, made by scripts/bench-venv.sh from scripts/python/bench-requirements.txt,
#   pinned by version and SHA-256) over the same Parquet files: median times, their ratio, and a
#   check that both return the same rows and sums;
# - the real `mvidarr serve` on that data directory, GET /v1/analytics/summary by day and by hour
#   over the 30 days loaded by autocannon (npm, pinned in scripts/node/package-lock.json):
#   p50/p99 and requests/s (target p99 < 20 ms). Any non-2xx answer fails the bench.
# It ends with one table of the targets, met or not. The server and the load generator share the
# machine's cores, and other work on the machine makes the figures noisy: the load average is
# printed.
#
# Usage: scripts/bench-analytics.sh [--quick] [--json FILE] [more bench-analytics flags: --help]
#   --quick   20,000 events, 3 query runs, 2 s of load per request: a smoke test.
#   --ingest-only   stop after the ingest and print its figures (for trying a change to it).
# Needs node (>= 18), npm and python3. The data directory and the server are removed/stopped on
# exit, whether the bench succeeds or not.
set -euo pipefail
caller="$PWD"
cd "$(dirname "$0")/.."
root="$PWD"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mvidarr/target}"

bash scripts/bench-venv.sh
# `mvidarr serve` refuses to start without ffmpeg, though this bench never runs it.
bash layers/fetch-ffmpeg.sh
cargo build --release --locked -q -p mvidarr -p mvidarr-tests --bin mvidarr --bin bench-analytics
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
      (($# >= 2)) || { echo "bench-analytics.sh: --json needs a FILE" >&2; exit 2; }
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

work="$(mktemp -d "${TMPDIR:-/tmp}/bench-analytics.XXXXXX")"
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
"$CARGO_TARGET_DIR/release/bench-analytics" \
  --mvidarr "$CARGO_TARGET_DIR/release/mvidarr" \
  --load-script "$root/scripts/node/bench-reco.mjs" \
  --python "$root/.venv-bench/bin/python" \
  --duckdb-script "$root/scripts/python/bench_duckdb.py" \
  --work "$work" \
  ${args[@]+"${args[@]}"} &
bench_pid=$!
wait "$bench_pid"
