#!/usr/bin/env bash
# tests/bench/intake/run.sh - public-inbox intake speed and memory vs public-inbox-index.
#
#   bash tests/bench/intake/run.sh [COPIES]     (default 10: 14,000 messages)
#
# Builds a v2 inbox (2 epochs, git fast-import) from COPIES renamed copies of
# the real linux-leds traffic in ../shared/fixtures/mail/leds-recent.mbox
# (tests/bench/intake/gen.py), then in the same run times:
#   cifeed              `cifeed poll --once` of a public-inbox source reading it
#                       into a fresh store (parse, MIME, patch-ids, series,
#                       trailers, base info; SQLite, batches of 1000)
#   public-inbox-index  Debian's public-inbox indexer on a copy of the same
#                       inbox, -L basic (SQLite only, its fastest mode)
# and prints messages/s of both and cifeed's peak RSS.
# Goal (issue 6): >= 5,000 messages/s.
set -euo pipefail
top=$(cd "$(dirname "$0")/../../.." && pwd)
copies=${1:-10}
work=${BENCH_DIR:-/tmp/cifeed-bench-intake}
fixtures=${FIXTURES:-$top/../shared/fixtures}
mkdir -p "$work"

cmake -S "$top" -B "$top/build-bench" -DCMAKE_BUILD_TYPE=Release -DCIFEED_TESTS=OFF >/dev/null
cmake --build "$top/build-bench" -j"$(nproc)" >/dev/null
cifeed="$top/build-bench/cifeed"

inbox="$work/inbox-$copies"
if [ ! -f "$inbox/inbox.lock" ]; then
	echo "building $inbox ..." >&2
	python3 "$top/tests/bench/intake/gen.py" "$fixtures/mail/leds-recent.mbox" "$copies" \
		"$work/copies.mbox" >/dev/null
	rm -rf "$inbox"
	python3 "$top/tests/e2e/mkinbox.py" "$work/copies.mbox" "$inbox" --epochs 2 >/dev/null
	for e in "$inbox"/git/*.git; do git -C "$e" gc -q; done
fi
total=$(( $(git -C "$inbox/git/0.git" rev-list --count master) + \
	  $(git -C "$inbox/git/1.git" rev-list --count master) ))
sync

rm -rf "$work/cifeed" && "$cifeed" -d "$work/cifeed" init >/dev/null
printf '[source "bench"]\n\ttype = public-inbox\n\tpath = %s\n' "$inbox" >>"$work/cifeed/cifeed.conf"
c_out=$(python3 "$top/tests/bench/measure.py" "$cifeed" -d "$work/cifeed" -q poll --once 2>&1 >/dev/null)
c_wall=$(sed -n 's/.*wall_s=\([0-9.]*\).*/\1/p' <<<"$c_out")
c_rss=$(sed -n 's/.*maxrss_kb=\([0-9]*\).*/\1/p' <<<"$c_out")
c_cpu=$(sed -n 's/.*cpu_s=\([0-9.]*\).*/\1/p' <<<"$c_out")
n=$(sqlite3 "$work/cifeed/cifeed.db" "select count(*) from patches")
[ "$n" = $((662 * copies)) ] || { echo "cifeed stored $n patch mails, expected $((662 * copies))" >&2; exit 1; }

# reference: public-inbox's own indexer on an identical copy, isolated config
rm -rf "$work/ref" && mkdir -p "$work/ref/home" && cp -a "$inbox" "$work/ref/inbox"
r_out=$(HOME="$work/ref/home" PI_CONFIG="$work/ref/home/pi-config" \
	python3 "$top/tests/bench/measure.py" public-inbox-index -L basic "$work/ref/inbox" 2>&1 >/dev/null |
	tail -1)
r_wall=$(sed -n 's/.*wall_s=\([0-9.]*\).*/\1/p' <<<"$r_out")
r_cpu=$(sed -n 's/.*cpu_s=\([0-9.]*\).*/\1/p' <<<"$r_out")
rn=$(sqlite3 "$work/ref/inbox/msgmap.sqlite3" "select count(*) from msgmap")
[ "$rn" = "$total" ] || { echo "public-inbox-index indexed $rn messages, expected $total" >&2; exit 1; }

python3 - "$total" "$c_wall" "$r_wall" "$c_rss" "$c_cpu" "$r_cpu" "$(cut -d' ' -f1 /proc/loadavg)" <<'PY'
import sys
total, cw, rw, rss = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
cc, rc, load = float(sys.argv[5]), float(sys.argv[6]), sys.argv[7]
print(f"messages:            {total}")
print(f"cifeed intake:       {cw:7.2f} s  {total / cw:8.0f} messages/s  (goal >= 5000)")
print(f"public-inbox-index:  {rw:7.2f} s  {total / rw:8.0f} messages/s  (-L basic)")
print(f"ratio:               {rw / cw:.1f}x")
print(f"cifeed peak RSS:     {rss / 1024:.0f} MB")
print(f"CPU seconds:         cifeed {cc:.2f} ({total / cc:.0f} messages per CPU-second), "
      f"public-inbox-index {rc:.2f} ({total / rc:.0f})")
print(f"load average at the end: {load} (on {__import__('os').cpu_count()} CPUs)")
PY
