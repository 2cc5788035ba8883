#!/usr/bin/env bash
# deploy/demo.sh - install what is missing, build cifeed, and run `cifeed serve`
# on the embedded SQLite store with the demo data shipped in deploy/demo/.
#
#   bash deploy/demo.sh            data in ./cifeed-data (or $CIFEED_DIR)
#
# The demo KCIDB files are dropped into the spool directory the way a CI
# system would push them (write, then rename); the daemon ingests them,
# publishes the topic feeds and serves the HTTP API on 127.0.0.1:8080.
# Stop it with Ctrl-C.  Running the script again reuses the data directory:
# submissions are recognised and nothing is duplicated.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

bash deploy/install-deps.sh deploy/packages.txt
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DCIFEED_TESTS=OFF >/dev/null
cmake --build build-release -j"$(nproc)" >/dev/null
cifeed="$top/build-release/cifeed"
data=${CIFEED_DIR:-$top/cifeed-data}

"$cifeed" -d "$data" init
conf="$data/cifeed.conf"
# two example topics beside the implicit "all" (only added once)
if ! git config -f "$conf" --get topic.failures.filter >/dev/null; then
	git config -f "$conf" topic.failures.filter "status:FAIL"
	git config -f "$conf" topic.failures.description "every failing build and test"
	git config -f "$conf" topic.net-next.filter "tree:net-next"
	git config -f "$conf" topic.net-next.description "results for net-next patches"
	# the demo wants its feeds out at once rather than after the default quiet period
	git config -f "$conf" feed.settle 0
fi
spool="$data/spool/kcidb"
for f in deploy/demo/kcidb/*.json; do
	name=$(basename "$f")
	cp "$f" "$spool/.$name.tmp" && mv "$spool/.$name.tmp" "$spool/$name"
done

commit=1c4d8a4d2f3e9b7a6c5d4e3f2a1b0c9d8e7f6a5b
cat <<GUIDE

cifeed is starting on $data (SQLite: $data/cifeed.db).
The demo results are in the spool and are ingested in a moment. Where to look,
from another terminal (add  -d $data  or export CIFEED_DIR=$data):

  $cifeed query ran --commit $commit
        which tests already ran on that mainline commit, from every CI system
  $cifeed export status:FAIL | python3 -m json.tool | less
        the failures as KCIDB v5.3 JSON (any filter: tree:, arch:, test:, origin:...)
  $cifeed feed list
  ls $data/feeds/            one public-inbox v2 feed per topic (all, failures, net-next)
  curl -s 'http://127.0.0.1:8080/api/v1/ran?commit=$commit'
  curl -s http://127.0.0.1:8080/feeds/failures/new.atom
  curl -s http://127.0.0.1:8080/metrics

Push your own results: write a KCIDB JSON file to $spool/.name.tmp, then rename
it to $spool/name.json. Logs (key=value) follow. Ctrl-C stops cifeed.

GUIDE
exec "$cifeed" -d "$data" serve
