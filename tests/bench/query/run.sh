#!/usr/bin/env bash
# tests/bench/query/run.sh - "which tests already ran" over HTTP vs nginx.
#
#   bash tests/bench/query/run.sh [DURATION_S [CONNECTIONS]]   (default 30 s, 32)
#
# 1. A store of 10,000,000 generated tests (gen.sql, straight into SQLite;
#    kept in $BENCH_DIR, default /tmp/cifeed-bench-query, and reused).
# 2. `cifeed serve` (Release build) and, on another port, nginx serving a
#    static JSON file of the same size as a typical /api/v1/ran answer.
# 3. wrk for DURATION on /api/v1/ran with random known commits (ran.lua),
#    then wrk for DURATION on nginx's file: requests/s, p99, and the ratio;
#    and what the /ran answer cache did (hits, misses).
# 4. The same again while an ingest runs: KCIDB files (tests/bench/ingest/
#    gen.py) are dropped into the daemon's spool, which ingests them on its
#    worker thread into the same store during the whole measurement; and,
#    ten times a second, a small file adding a test to a revision the wrk
#    load asks for, so cached answers are invalidated under load.
# 5. The same /ran load with the answer cache off ([serve] ran-cache-size =
#    0): what a lookup in the store costs, against the idle nginx figure.
# 6. The design question of qpool.h (cache off: every request a lookup): the
#    same /ran load with lookups on the event loop (query-threads = 0) vs on
#    2 query threads, while one client keeps asking an expensive
#    /api/v1/results filter (a full scan).
# Goal (issue 5): cifeed >= 0.5 x nginx requests/s, p99 < 5 ms.
set -euo pipefail
top=$(cd "$(dirname "$0")/../../.." && pwd)
here="$top/tests/bench/query"
dur=${1:-30}
conns=${2:-32}
work=${BENCH_DIR:-/tmp/cifeed-bench-query}
mkdir -p "$work"

cmake -S "$top" -B "$top/build-bench" -DCMAKE_BUILD_TYPE=Release -DCIFEED_TESTS=OFF >/dev/null
cmake --build "$top/build-bench" -j"$(nproc)" >/dev/null
cifeed="$top/build-bench/cifeed"
data="$work/data"

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

if [ ! -f "$work/generated" ]; then
	echo "# generating 10,000,000 tests in $data (several minutes) ..." >&2
	rm -rf "$data"
	"$cifeed" -d "$data" init >/dev/null
	/usr/bin/time -f "# generated in %e s" sqlite3 "$data/cifeed.db" <"$here/gen.sql" >/dev/null
	touch "$work/generated"
fi
# a store made by an earlier cifeed: upgraded to this binary's schema (a no-op when current)
"$cifeed" -d "$data" init >/dev/null
# Everything stored so far counts as published: the measurements must not share the
# machine with the publisher's first pass over earlier runs' ingests (gen.sql does the
# same for the generated data).  Results ingested during a run are published as usual.
sqlite3 "$data/cifeed.db" "INSERT OR IGNORE INTO feed_topics (name, filter, position, messages)
	VALUES ('all', '', 0, 0); UPDATE feed_topics SET position = (SELECT MAX(id) FROM submissions)"
rm -rf "$data/spool/kcidb/done" "$data/spool/kcidb/failed"
mkdir -p "$data/spool/kcidb/done" "$data/spool/kcidb/failed"
# (earlier runs' ingests add to the generated 10,000,000)
n=$(sqlite3 "$data/cifeed.db" "SELECT COUNT(*) FROM tests")
[ "$n" -ge 10000000 ] || { echo "store has $n tests, expected at least 10000000" >&2; exit 1; }
# 20,000 random commits without patches, each with one of its builds (for the invalidations)
sqlite3 -separator ' ' "$data/cifeed.db" "SELECT c.git_commit_hash, MIN(b.id) FROM checkouts c
	JOIN builds b ON b.checkout_id = c.id WHERE c.patchset_hash IS NULL AND c.origin = 'bench'
	AND c.id LIKE 'bench:c%' GROUP BY c.id ORDER BY random() LIMIT 20000" >"$work/revisions.txt"
cut -d' ' -f1 "$work/revisions.txt" >"$work/commits.txt"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# ---- servers
port=$(free_port)
git config -f "$data/cifeed.conf" serve.listen "127.0.0.1:$port"
git config -f "$data/cifeed.conf" serve.spool true
serve() { # QUERY_THREADS [INLINE_BUDGET_MS [RAN_CACHE_BYTES]]
	git config -f "$data/cifeed.conf" serve.query-threads "$1"
	git config -f "$data/cifeed.conf" serve.inline-budget "${2:-2}"
	git config -f "$data/cifeed.conf" serve.ran-cache-size "${3:-268435456}"
	CIFEED_LOG=warn "$cifeed" -d "$data" serve 2>>"$work/serve.log" &
	serve_pid=$!
	pids+=("$serve_pid")
	for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && return; sleep 0.1; done
	echo "cifeed serve did not come up (see $work/serve.log)" >&2
	exit 1
}
unserve() { kill -TERM "$serve_pid"; wait "$serve_pid" || true; }

ngx="$work/nginx"
rm -rf "$ngx" && mkdir -p "$ngx/html" "$ngx/tmp"
nport=$(free_port)
cat >"$ngx/nginx.conf" <<EOF
worker_processes auto;
pid $ngx/nginx.pid;
error_log $ngx/error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 1000000;
	client_body_temp_path $ngx/tmp; proxy_temp_path $ngx/tmp; fastcgi_temp_path $ngx/tmp;
	uwsgi_temp_path $ngx/tmp; scgi_temp_path $ngx/tmp;
	types { application/json json; }
	server {
		listen 127.0.0.1:$nport;
		root $ngx/html;
	}
}
EOF

# CPU seconds (user + system) used so far by the given processes
cpu_of() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }

# wrk_run NAME URL [ARGS]: prints "requests_per_s p99_ms errors"
wrk_run() {
	local name=$1 url=$2; shift 2
	wrk -t1 -c"$conns" -d"${dur}s" --latency "$@" "$url" >"$work/wrk-$name.txt" 2>&1
	python3 - "$work/wrk-$name.txt" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\b", t, re.M)
p99 = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
errs = re.search(r"Socket errors: .*", t)
print(f"{rps:.0f} {p99:.3f} {int(bad.group(1)) if bad else 0}{' ' + errs.group(0).replace(' ', '_') if errs else ''}")
PY
}

# a counter of the running daemon's /metrics (0 when absent)
metric() {
	curl -s "http://127.0.0.1:$port/metrics" | awk -v m="$1" '$1 == m { v = $2 } END { printf "%.0f\n", v }'
}
cache_mark() { # remember the answer cache's counters
	c_hit=$(metric 'cifeed_ran_cache_lookups_total{result="hit"}')
	c_miss=$(metric 'cifeed_ran_cache_lookups_total{result="miss"}')
	c_inv=$(metric cifeed_ran_cache_invalidations_total)
}
cache_report() { # what the answer cache did since cache_mark
	local h m i
	h=$(($(metric 'cifeed_ran_cache_lookups_total{result="hit"}') - c_hit))
	m=$(($(metric 'cifeed_ran_cache_lookups_total{result="miss"}') - c_miss))
	i=$(($(metric cifeed_ran_cache_invalidations_total) - c_inv))
	python3 -c "import sys; h, m, i = map(int, sys.argv[1:]); print(f'  answer cache       : {h} hits, {m} misses ({100 * h / max(h + m, 1):.1f}% hits), {i} answers invalidated by ingests; {$(metric cifeed_ran_cache_entries):.0f} revisions, {$(metric cifeed_ran_cache_bytes) / 1048576:.0f} MiB')" "$h" "$m" "$i"
}

ingest_start() { # drop KCIDB files into the spool for the whole measurement
	local gen="$work/ingest-gen" run_id
	# ids new to the store in every run: a file from an earlier run would change nothing
	run_id=$(date +%s)
	[ -f "$gen/kcidb-0099.json" ] || python3 "$top/tests/bench/ingest/gen.py" "$gen" 100 10000 >/dev/null
	before_tests=$(sqlite3 "$data/cifeed.db" "SELECT COUNT(*) FROM tests")
	(
		i=0
		while :; do
			for f in "$gen"/kcidb-*.json; do
				# a fresh copy each round: new ids, so every file is real work
				sed "s/\"bench:/\"bench:r$run_id-$i-/g" "$f" >"$data/spool/kcidb/.r$i-$(basename "$f")"
				mv "$data/spool/kcidb/.r$i-$(basename "$f")" "$data/spool/kcidb/r$i-$(basename "$f")"
				while [ "$(ls "$data/spool/kcidb" | grep -c json)" -gt 2 ]; do sleep 0.05; done
			done
			i=$((i + 1))
		done
	) &
	ingest_pid=$!
	pids+=("$ingest_pid")
	# and ten times a second a test for a revision the wrk load asks about
	(
		i=0
		while :; do
			read -r _ build < <(shuf -n1 "$work/revisions.txt")
			printf '{"version":{"major":5,"minor":3},"tests":[{"id":"bench:touch-%s-%d","build_id":"%s","origin":"bench","path":"touch.case%d","status":"PASS","start_time":"2026-11-22T12:00:00Z"}]}\n' \
				"$run_id" "$i" "$build" "$i" >"$data/spool/kcidb/.touch-$i"
			mv "$data/spool/kcidb/.touch-$i" "$data/spool/kcidb/touch-$run_id-$i.json"
			i=$((i + 1))
			sleep 0.1
		done
	) &
	touch_pid=$!
	pids+=("$touch_pid")
	t_ingest=$(date +%s.%N)
}
ingest_stop() {
	kill "$ingest_pid" "$touch_pid" 2>/dev/null || true
	wait "$ingest_pid" "$touch_pid" 2>/dev/null || true
	# the files already dropped are ingested now, not during the next measurement
	local dt f
	for _ in $(seq 600); do
		for f in "$data"/spool/kcidb/*.json; do [ -e "$f" ] && break; done
		[ -e "$f" ] || break
		sleep 0.1
	done
	dt=$(python3 -c "import time; print(time.time() - $t_ingest)")
	after_tests=$(sqlite3 "$data/cifeed.db" "SELECT COUNT(*) FROM tests")
	ingest_rate=$(python3 -c "print(round(($after_tests - $before_tests) / $dt))")
}

report() { # LABEL CIFEED_RESULT NGINX_RESULT
	python3 - "$@" <<'PY'
import sys
label, c, n = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
cr, cp, ce = float(c[0]), float(c[1]), c[2]
nr, np_, ne = float(n[0]), float(n[1]), n[2]
print(f"{label}")
print(f"  cifeed /api/v1/ran : {cr:9.0f} req/s  p99 {cp:7.3f} ms  non-2xx {ce}")
print(f"  nginx static file  : {nr:9.0f} req/s  p99 {np_:7.3f} ms  non-2xx {ne}")
print(f"  ratio              : {cr / nr:.2f}  (goal >= 0.50; p99 goal < 5 ms: {'met' if cp < 5 else 'NOT met'})")
PY
}

serve 2
# the static reference: a real answer of typical size
curl -s "http://127.0.0.1:$port/api/v1/ran?commit=$(head -1 "$work/commits.txt")" >"$ngx/html/ran.json"
size=$(wc -c <"$ngx/html/ran.json")
nginx -p "$ngx" -c "$ngx/nginx.conf" -g 'daemon off;' 2>>"$ngx/error.log" &
ngx_pid=$!
pids+=("$ngx_pid")
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$nport/ran.json" >/dev/null && break; sleep 0.1; done
cmp -s "$ngx/html/ran.json" <(curl -s "http://127.0.0.1:$nport/ran.json") || { echo "nginx not serving" >&2; exit 1; }

echo "# store: $n tests; answer size $size bytes; wrk -t1 -c$conns -d${dur}s; $(nproc) cores"
echo "# cifeed query-threads = 2, inline-budget = 2 ms, ran-cache-size = 256 MiB; nginx worker_processes auto"
echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg) (other processes on this machine count too)"
# how much of the store is in memory (fincore: util-linux-extra); a cold start's cache
# misses read the rest from the disk
if command -v fincore >/dev/null; then
	read -r db_res db_size < <(fincore --bytes --noheadings --output RES,SIZE "$data/cifeed.db")
	echo "# store in the page cache: $((db_res >> 20)) of $((db_size >> 20)) MiB"
fi
export COMMITS="$work/commits.txt"
cache_mark
cpu0=$(cpu_of "$serve_pid")
c=$(wrk_run idle-cifeed "http://127.0.0.1:$port" -s "$here/ran.lua")
cpu1=$(cpu_of "$serve_pid")
cache_report
workers=$(pgrep -P "$ngx_pid" | tr '\n' ' ')
ncpu0=$(cpu_of $workers)
n=$(wrk_run idle-nginx "http://127.0.0.1:$nport/ran.json")
ncpu1=$(cpu_of $workers)
report "idle:" "$c" "$n"
# CPU per answer: what each costs, whatever else runs on the machine
python3 - "$c" "$n" "$((cpu1 - cpu0))" "$((ncpu1 - ncpu0))" "$(getconf CLK_TCK)" "$dur" <<'PY'
import sys
c, n = float(sys.argv[1].split()[0]), float(sys.argv[2].split()[0])
cc, nc, hz, dur = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
cu, nu = cc / hz / (c * dur) * 1e6, nc / hz / (n * dur) * 1e6
print(f"  CPU per answer     : cifeed {cu:.0f} us, nginx {nu:.0f} us (ratio {nu / cu:.2f})")
PY
idle_nginx=$n

ingest_start
cache_mark
c=$(wrk_run ingest-cifeed "http://127.0.0.1:$port" -s "$here/ran.lua")
cache_report
n=$(wrk_run ingest-nginx "http://127.0.0.1:$nport/ran.json")
ingest_stop
report "while the daemon ingests from its spool (${ingest_rate} tests/s stored during both runs):" "$c" "$n"
curl -s "http://127.0.0.1:$port/metrics" | grep '^cifeed_loop_lag_seconds' | sed 's/^/  /'
unserve

# ---- every answer looked up in the store: the cache off, against the idle nginx figure
serve 2 2 0
cpu0=$(cpu_of "$serve_pid")
c=$(wrk_run nocache-cifeed "http://127.0.0.1:$port" -s "$here/ran.lua")
cpu1=$(cpu_of "$serve_pid")
report "idle, answer cache off (ran-cache-size = 0; nginx: the idle run above):" "$c" "$idle_nginx"
python3 -c "import sys; r, c, hz, d = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]); print(f'  CPU per answer     : cifeed {c / hz / (r * d) * 1e6:.0f} us')" \
	"${c%% *}" "$((cpu1 - cpu0))" "$(getconf CLK_TCK)" "$dur"
unserve

# ---- where lookups run, beside one client asking an expensive /results filter (a full scan);
# the answer cache off, so that every /ran request is a lookup
slow() {
	while :; do curl -s -o /dev/null "http://127.0.0.1:$port/api/v1/results?q=compiler:nosuch&limit=1"; done
}
echo "# where lookups run, beside one client repeating a full-scan /results filter:"
for mode in "0 1000" "2 0" "2 2"; do
	set -- $mode
	serve "$1" "$2" 0
	slow &
	slow_pid=$!
	pids+=("$slow_pid")
	c=$(wrk_run "mixed-qt$1-ib$2" "http://127.0.0.1:$port" -s "$here/ran.lua")
	kill "$slow_pid"; wait "$slow_pid" 2>/dev/null || true
	lag=$(curl -s "http://127.0.0.1:$port/metrics" | sed -n 's/^cifeed_loop_lag_seconds{quantile="0.99"} //p')
	case "$mode" in
	"0 1000") what="everything on the loop (query-threads=0)  " ;;
	"2 0") what="everything on 2 query threads            " ;;
	*) what="/ran on the loop <= 2 ms, rest on threads" ;;
	esac
	set -- $c
	printf '  %s: %6s req/s  p99 %8s ms  non-2xx %s  loop lag p99 %.3f s\n' "$what" "$1" "$2" "$3" "$lag"
	unserve
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
