#!/usr/bin/env bash
# tests/bench/poll/run.sh - the polling engine with 100 sources (see run.py).
#
#   bash tests/bench/poll/run.sh [--sources N] [--scale N] [--idle SECONDS] [--keep]
#
# Builds a Release binary in build-bench/ (no sanitizers), starts the replay
# server (tests/replay/replay.py) and runs `cifeed serve` against it:
# ingest of every source's first cycle, then idle cycles with and without
# conditional requests.  Needs python3, sqlite3, curl.
set -euo pipefail
top=$(cd "$(dirname "$0")/../../.." && pwd)
cmake -S "$top" -B "$top/build-bench" -DCMAKE_BUILD_TYPE=Release -DCIFEED_TESTS=OFF >/dev/null
cmake --build "$top/build-bench" -j"$(nproc)" >/dev/null
export TZ=UTC
exec python3 "$top/tests/bench/poll/run.py" "$top/build-bench/cifeed" \
	"$(cd "$top/../shared/fixtures" && pwd)" "$top/tests/fixtures" "$@"
