# lib.sh - helpers for end-to-end tests; source it first.
#
# Environment (set by ctest, see tests/CMakeLists.txt):
#   CIFEED    the binary under test       FIXTURES  ../shared/fixtures
#   SRCDIR    the repository              BUILDDIR  the build directory
# Each test gets a private $T directory, removed on success and kept (path
# printed) on failure so it can be inspected.
set -u
set -o pipefail

: "${CIFEED:?CIFEED must point at the cifeed binary}"
: "${FIXTURES:?FIXTURES must point at ../shared/fixtures}"
: "${SRCDIR:?SRCDIR must point at the repository}"

T=$(mktemp -d "${TMPDIR:-/tmp}/cifeed-e2e.XXXXXX")
export HOME="$T/home" XDG_RUNTIME_DIR="$T/run" TZ=UTC LC_ALL=C.UTF-8
mkdir -p "$HOME" "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
_pids=()
_ok=0

cleanup() {
	for p in "${_pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${_pids[@]}"; do wait "$p" 2>/dev/null; done
	if [ "$_ok" = 1 ]; then rm -rf "$T"; else echo "# kept $T for inspection" >&2; fi
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "# $*" >&2; }
pass() { _ok=1; echo "PASS: ${0##*/}"; exit 0; }

# Register a background process to be killed at exit.
bg_track() { _pids+=("$1"); }

# cf ARGS: run cifeed on the test's data directory $T/data.
# (Never background it with `cf ... &`: $! would be a subshell, not cifeed,
# and signals would miss the daemon. Use cf_bg.)
# After `cf init` the HTTP API of `cifeed serve` is moved off the default
# 127.0.0.1:8080 to a free port (tests run in parallel); http_port prints it.
cf() {
	"$CIFEED" -d "$T/data" "$@" || return
	if [ "${1:-}" = init ] && [ -f "$T/data/cifeed.conf" ] &&
		! git config -f "$T/data/cifeed.conf" serve.listen >/dev/null; then
		git config -f "$T/data/cifeed.conf" serve.listen "127.0.0.1:$(free_port)"
	fi
}
http_port() { git config -f "$T/data/cifeed.conf" serve.listen | sed 's/.*://'; }

# cf_bg ARGS: start cifeed in the background; its pid is in $CF_PID and it is
# killed at exit.
cf_bg() { "$CIFEED" -d "$T/data" "$@" & CF_PID=$!; bg_track "$CF_PID"; }

# run_ms CMD...: run CMD (its output discarded); print how long it took in
# milliseconds, or return CMD's failure.  Kill tests draw their kill points
# from such a measured run so the kills land inside it on any machine.
run_ms() {
	local start=$(date +%s%N)
	"$@" >/dev/null 2>&1 || return
	echo $(( ($(date +%s%N) - start) / 1000000 ))
}
# sleep_ms N: sleep N milliseconds.
sleep_ms() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }

# expect_rc N CMD...: run CMD, fail unless it exits with N.
expect_rc() {
	local want=$1; shift
	"$@"; local rc=$?
	[ "$rc" = "$want" ] || fail "expected exit $want, got $rc: $*"
}

# A free TCP port on 127.0.0.1.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_for CMD...: retry CMD until it succeeds.
# (WAIT_SECS, default 90: sanitizer builds on a loaded 2-core CI machine are slow;
# a passing condition returns at once, so the bound only matters for failures.)
wait_for() {
	local deadline=$((SECONDS + ${WAIT_SECS:-90}))
	while [ $SECONDS -lt $deadline ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	fail "timed out after ${WAIT_SECS:-90}s waiting for: $*"
}

# Node tools (ajv, parsers) installed by tests/run.sh under tests/tools.
NODE_TOOLS="$SRCDIR/tests/tools/node_modules/.bin"
ajv_kcidb() { # FILE...: validate KCIDB v5.3 documents with ajv + ajv-formats
	local f args=()
	for f in "$@"; do args+=(-d "$(realpath "$f")"); done
	# ajv-cli resolves the -c plugin from the working directory
	(cd "$SRCDIR/tests/tools" && "$NODE_TOOLS/ajv" validate --spec=draft7 -c ajv-formats \
		-s "$FIXTURES/kcidb/kcidb-io.schema.v5.3.json" "${args[@]}" --all-errors --errors=text)
}

# ajv_api SCHEMA FILE...: validate API answers against schema/api/SCHEMA.json
# (the other schema/api files are loaded for $refs).
ajv_api() {
	local schema=$1 f args=() refs=(); shift
	for f in "$@"; do args+=(-d "$(realpath "$f")"); done
	for f in "$SRCDIR"/schema/api/*.json; do
		[ "$(basename "$f" .json)" = "$schema" ] || refs+=(-r "$f")
	done
	(cd "$SRCDIR/tests/tools" && "$NODE_TOOLS/ajv" validate --spec=draft7 -c ajv-formats \
		-s "$SRCDIR/schema/api/$schema.json" "${refs[@]}" "${args[@]}" --all-errors --errors=text)
}
