#!/usr/bin/env bash
# Runs bench/ingest_bench.cc (medtwin serve under load: bundle ingest with 2 and 4 clients,
# NDJSON import, reads under 64 clients) on SQLite and on a throwaway PostgreSQL server on
# loopback (scripts/pg-test-server.sh), as recorded in BENCHMARKS.md.
# Usage: bench/run_ingest_bench.sh [BUILD_DIR] [ingest_bench options...]   (after `make build`)
set -euo pipefail
build=${1:-build}
shift || true
here=$(cd "$(dirname "$0")/.." && pwd)
dir=/tmp/medtwin-pg-ingest-bench-$$
trap '"$here/scripts/pg-test-server.sh" stop "$dir"' EXIT
url=
for attempt in 0 1 2 3 4; do  # a port may be taken
  port=$((20000 + ($$ * 7 + attempt * 1009) % 40000))
  url=$("$here/scripts/pg-test-server.sh" start "$dir" "$port" 2>/dev/null) && break
  "$here/scripts/pg-test-server.sh" stop "$dir"
  url=
done
[ -n "$url" ] || { echo "could not start PostgreSQL (scripts/pg-test-server.sh)" >&2; exit 1; }
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $(date -u +%Y-%m-%d)"
nice "$build/ingest_bench" --pg "$url" "$@"
