#!/usr/bin/env bash
# tests/bench/ingest/run.sh - cifeed ingest vs sqlite3 .import of the same rows.
#
#   bash tests/bench/ingest/run.sh [FILES [TESTS_PER_FILE]]   (default 100 x 10000)
#
# Generates FILES KCIDB files (1 checkout, TESTS/100 builds and TESTS tests
# each) plus CSV files with exactly the rows cifeed stores for them, then in
# the same run times:
#   cifeed   one `cifeed ingest` of all files into a fresh store
#            (parse, validate, upgrade, merge; one transaction per file)
#   sqlite3  the sqlite3 CLI's `.import` of the CSV rows into a fresh store
#            with the same tables and indexes (cifeed's migrations)
# and prints tests/s for both, the ratio, and cifeed's peak RSS.
# Goal (issue 2): ratio >= 0.8, peak RSS < 200 MB.
set -euo pipefail
top=$(cd "$(dirname "$0")/../../.." && pwd)
files=${1:-100}
tests=${2:-10000}
work=${BENCH_DIR:-/tmp/cifeed-bench-ingest}
mkdir -p "$work"

cmake -S "$top" -B "$top/build-bench" -DCMAKE_BUILD_TYPE=Release -DCIFEED_TESTS=OFF >/dev/null
cmake --build "$top/build-bench" -j"$(nproc)" >/dev/null
cifeed="$top/build-bench/cifeed"

data="$work/data-${files}x${tests}"
if [ ! -f "$data/tests.csv" ]; then
	echo "generating $files files x $tests tests in $data ..." >&2
	python3 "$top/tests/bench/ingest/gen.py" "$data" "$files" "$tests"
fi
total=$((files * tests))
sync

rm -rf "$work/cifeed" && "$cifeed" -d "$work/cifeed" init >/dev/null
c_out=$(python3 "$top/tests/bench/measure.py" "$cifeed" -d "$work/cifeed" ingest -q "$data"/kcidb-*.json 2>&1 >/dev/null)
c_wall=$(sed -n 's/.*wall_s=\([0-9.]*\).*/\1/p' <<<"$c_out")
c_rss=$(sed -n 's/.*maxrss_kb=\([0-9]*\).*/\1/p' <<<"$c_out")
n=$(sqlite3 "$work/cifeed/cifeed.db" "select count(*) from tests")
[ "$n" = "$total" ] || { echo "cifeed stored $n tests, expected $total" >&2; exit 1; }

# reference: same schema (from cifeed init), same rows, the sqlite3 CLI's bulk path
rm -rf "$work/ref" && "$cifeed" -d "$work/ref" init >/dev/null
r_out=$(python3 "$top/tests/bench/measure.py" sqlite3 "$work/ref/cifeed.db" \
	"PRAGMA synchronous=NORMAL;" ".mode csv" \
	".import $data/checkouts.csv checkouts" ".import $data/builds.csv builds" \
	".import $data/tests.csv tests" 2>&1 >/dev/null)
r_wall=$(sed -n 's/.*wall_s=\([0-9.]*\).*/\1/p' <<<"$r_out")
n=$(sqlite3 "$work/ref/cifeed.db" "select count(*) from tests")
[ "$n" = "$total" ] || { echo "sqlite3 imported $n tests, expected $total" >&2; exit 1; }

python3 - "$total" "$c_wall" "$r_wall" "$c_rss" <<'PY'
import sys
total, cw, rw, rss = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
print(f"tests:            {total}")
print(f"cifeed ingest:    {cw:7.2f} s  {total / cw:10.0f} tests/s")
print(f"sqlite3 .import:  {rw:7.2f} s  {total / rw:10.0f} tests/s")
print(f"ratio:            {rw / cw:.2f}  (goal >= 0.80)")
print(f"cifeed peak RSS:  {rss / 1024:.0f} MB  (goal < 200 MB)")
PY
