#!/usr/bin/env bash
# tests/bench/publish/run.sh - feed publishing speed and size, beside git fast-import.
#
#   bash tests/bench/publish/run.sh [BUILDS [ROUNDS]]   (defaults 20000, 3)
#
# 1. Generates BUILDS KCIDB builds (5 tests each, 100 builds per checkout) and
#    ingests them into a fresh data directory (not timed).
# 2. `cifeed feed publish --topic all`: end to end (plan in SQLite, render,
#    write) - one message per build plus one root per checkout.
# 3. The same message blobs, three ways, into fresh inboxes:
#      cifeed's writer  (`cifeed feed import`, mempack -> one pack per batch)
#      git fast-import  (a v2 commit stream: the practical ceiling)
#    and checks both produce the very commit ids the publisher wrote.
# 4. Bytes on disk per test result after `git gc`.
# 5. ROUNDS - 1 more rounds of publish (into a fresh copy of the ingested data
#    directory), import and fast-import, interleaved: on a shared VM each
#    wall-clock figure moves by 10-20% from run to run, so every round's
#    figures and the median of the per-round ratios are printed.
# Builds a Release binary in build-bench/ (no sanitizers).  Needs python3, git.
set -euo pipefail
top=$(cd "$(dirname "$0")/../../.." && pwd)
N=${1:-20000}
ROUNDS=${2:-3}
W=$(mktemp -d "${TMPDIR:-/tmp}/cifeed-bench-publish.XXXXXX")
trap 'rm -rf "$W"' EXIT
cmake -S "$top" -B "$top/build-bench" -DCMAKE_BUILD_TYPE=Release -DCIFEED_TESTS=OFF >/dev/null
cmake --build "$top/build-bench" -j"$(nproc)" >/dev/null
C="$top/build-bench/cifeed"
export TZ=UTC HOME="$W/home"
mkdir -p "$HOME"
now() { python3 -c 'import time; print(time.monotonic())'; }
rate() { python3 -c "import sys; n,t=float(sys.argv[1]),float(sys.argv[2]); print('%.0f' % (n/t))" "$1" "$2"; }
secs() { python3 -c "import sys; print('%.2f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$2"; }

checkouts=$(( (N + 99) / 100 ))
python3 "$top/tests/e2e/feedgen.py" "$W/gen" --checkouts "$checkouts" --builds 100 --tests 5 --rounds 1 --seed 42
"$C" -d "$W/d" init >/dev/null
cat >>"$W/d/cifeed.conf" <<EOF2
[feed]
	name = bench
	address = bench@example.org
	settle = 0
EOF2
"$C" -q -d "$W/d" ingest "$W/gen-0.json"
tests=$(sqlite3 "$W/d/cifeed.db" 'SELECT COUNT(*) FROM tests')
cp -a "$W/d" "$W/d.ingested" # each later round publishes a fresh copy

t0=$(now)
python3 "$top/tests/bench/measure.py" "$C" -q -d "$W/d" feed publish --topic all 2>"$W/pub.measure"
t1=$(now)
pub_rss=$(sed -n 's/.*maxrss_kb=\([0-9]*\).*/\1/p' "$W/pub.measure")
pub_cpu=$(sed -n 's/.*cpu_s=\([0-9.]*\).*/\1/p' "$W/pub.measure")
F="$W/d/feeds/all"
msgs=$(git --git-dir="$F/git/0.git" rev-list --count master)
head_pub=$(git --git-dir="$F/git/0.git" rev-parse master)
bytes=$(git --git-dir="$F/git/0.git" log --format= --raw --no-abbrev master | awk '{print $4}' |
	git --git-dir="$F/git/0.git" cat-file --batch-check='%(objectsize)' | awk '{s+=$1} END {print s}')

# the same blobs as an mboxrd file and as a fast-import stream
python3 - "$F/git/0.git" "$W/msgs.mbox" "$W/stream.fi" <<'EOF2'
import subprocess, sys, re
gd, mbox, fi = sys.argv[1:]
log = subprocess.run(["git", "--git-dir", gd, "log", "--reverse", "--no-abbrev", "--raw",
                      "--format=%x00%an%x01%ae%x01%ad%x01%cn%x01%ce%x01%cd%x01%B", "--date=raw", "master"],
                     capture_output=True, check=True).stdout.decode()
cat = subprocess.Popen(["git", "--git-dir", gd, "cat-file", "--batch"], stdin=subprocess.PIPE,
                       stdout=subprocess.PIPE)
with open(mbox, "wb") as mb, open(fi, "wb") as out:
    mark = 0
    for rec in log.split("\0")[1:]:
        meta, raw = rec.split("\n\n:", 1) if "\n\n:" in rec else rec.rsplit("\n:", 1)
        an, ae, ad, cn, ce, cd, msg = meta.split("\x01", 6)
        oid = raw.split()[3]
        cat.stdin.write((oid + "\n").encode()); cat.stdin.flush()
        size = int(cat.stdout.readline().split()[2])
        blob = cat.stdout.read(size); cat.stdout.read(1)
        mb.write(b"From mboxrd@z Thu Jan  1 00:00:00 1970\n")
        mb.write(re.sub(rb"(?m)^(>*From )", rb">\1", blob))
        mb.write(b"\n")
        msg = msg.rstrip("\n") + "\n"
        mark += 1
        out.write(b"blob\nmark :%d\ndata %d\n" % (mark, len(blob)) + blob + b"\n")
        m = msg.encode()
        out.write(("commit refs/heads/master\nauthor %s <%s> %s\ncommitter %s <%s> %s\n"
                   % (an, ae, ad, cn, ce, cd)).encode())
        out.write(b"data %d\n" % len(m) + m)
        out.write(b"deleteall\nM 100644 :%d m\n\n" % mark)
cat.stdin.close(); cat.wait()
EOF2

t2=$(now)
"$C" -q feed import --name all --address bench+all@example.org "$W/imp" "$W/msgs.mbox"
t3=$(now)
git init -q --bare "$W/fi.git"
t4=$(now)
git --git-dir="$W/fi.git" fast-import --quiet <"$W/stream.fi"
t5=$(now)
head_imp=$(git --git-dir="$W/imp/git/0.git" rev-parse master)
head_fi=$(git --git-dir="$W/fi.git" rev-parse master)
same="yes"
[ "$head_pub" = "$head_imp" ] && [ "$head_pub" = "$head_fi" ] || same="NO ($head_pub $head_imp $head_fi)"

packs_before=$(du -sb "$F/git" | cut -f1)
git --git-dir="$F/git/0.git" gc -q
after=$(du -sb "$F/git" | cut -f1)
packed=$(find "$F/git/0.git/objects/pack" -name '*.pack' -printf '%s\n' | awk '{s+=$1} END {print s}')

pub=$(secs "$t0" "$t1"); imp=$(secs "$t2" "$t3"); fis=$(secs "$t4" "$t5")
rounds="$pub $imp $fis"
for ((r = 2; r <= ROUNDS; r++)); do
	rm -rf "$W/d" "$W/imp" "$W/fi.git"
	cp -a "$W/d.ingested" "$W/d"
	t0=$(now); "$C" -q -d "$W/d" feed publish --topic all; t1=$(now)
	t2=$(now); "$C" -q feed import --name all --address bench+all@example.org "$W/imp" "$W/msgs.mbox"; t3=$(now)
	git init -q --bare "$W/fi.git"
	t4=$(now); git --git-dir="$W/fi.git" fast-import --quiet <"$W/stream.fi"; t5=$(now)
	rounds="$rounds $(secs "$t0" "$t1") $(secs "$t2" "$t3") $(secs "$t4" "$t5")"
done
echo "messages:                 $msgs ($N builds + $checkouts checkout roots), $tests test results, $bytes bytes raw ($((bytes / msgs)) per message)"
echo "cifeed feed publish:      ${pub}s  $(rate "$msgs" "$pub") msg/s   (plan + render + write, end to end; ${pub_cpu} s CPU, peak RSS $((pub_rss / 1024)) MB)"
echo "cifeed writer (import):   ${imp}s  $(rate "$msgs" "$imp") msg/s"
echo "git fast-import:          ${fis}s  $(rate "$msgs" "$fis") msg/s"
echo "writer / fast-import:     $(python3 -c "print('%.2f' % ($fis / $imp))")x   publish / fast-import: $(python3 -c "print('%.2f' % ($fis / $pub))")x"
python3 - "$msgs" $rounds <<'EOF2'
import statistics, sys
n = float(sys.argv[1]); v = [float(x) for x in sys.argv[2:]]
rs = [v[i:i + 3] for i in range(0, len(v), 3)]
for k, (p, i, f) in enumerate(rs, 1):
    print("round %d:                  publish %.2fs (%.0f msg/s)  writer %.2fs  fast-import %.2fs (%.0f msg/s)"
          "  publish/fi %.2fx  writer/fi %.2fx" % (k, p, n / p, i, f, n / f, f / p, f / i))
print("median of %d rounds:       publish / fast-import %.2fx   writer / fast-import %.2fx"
      % (len(rs), statistics.median(f / p for p, i, f in rs), statistics.median(f / i for p, i, f in rs)))
EOF2
echo "same commit ids:          $same"
echo "git data before gc:       $packs_before bytes; after git gc: $after bytes (pack $packed)"
echo "bytes per test result:    $((after / tests)) after gc (pack only: $((packed / tests)))"
echo "bytes per message:        $((after / msgs)) after gc"
