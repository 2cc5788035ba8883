#!/usr/bin/env bash
# KernelCI Maestro through the replay server, both ways of following it
# (the event history with recursive=true, and /nodes?updated__gt=): ids are
# Maestro's own (maestro:<node id>), naive timestamps become UTC, tests climb
# to their kbuild with /node/{id} look-ups (or get Maestro's dummy build),
# and both modes store the same objects.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/poll_lib.sh"
replay_start
cf init >/dev/null || fail init
source_conf kci kernelci "$RURL/latest" since=2023-01-01T00:00:00 page-size=3
out=$(cf poll --once 2>"$T/err") || fail "poll: $(cat "$T/err")"
echo "$out" | grep -q '^kci: ok:' || fail "report: $out"
export_to "$T/events.json"
ajv_kcidb "$T/events.json" >/dev/null || fail "export does not validate"

c=$(obj "$T/events.json" checkouts maestro:65a3982ee98651d0fe82b010)
[ "$(jq -r '[.git_commit_hash, .tree_name, .git_commit_name, .start_time] | join(" ")' <<<"$c")" = \
	"052d534373b7ed33712a63d5e17b2b6cdbce84fd mainline v6.7-9928-g052d534373b7 2024-01-14T08:15:42.454000+00:00" ] ||
	fail "checkout: $c"
c=$(obj "$T/events.json" checkouts maestro:63c549319fb3b62c7626e7f9)
[ "$(jq -r .git_repository_branch <<<"$c")" = staging-mainline ] || fail "legacy _id checkout: $c"
t=$(obj "$T/events.json" tests maestro:66ff3b8c0abcc4c8343d1c71)
[ "$(jq -r '[.build_id, .status, .path] | join(" ")' <<<"$t")" = \
	"maestro:66ff39000abcc4c8343d1a00 PASS kselftest-exec.exec_execveat_Check_success_of_execveat_20_4096" ] ||
	fail "kselftest test: $t"
[ "$(jq -r .environment.misc.platform <<<"$t")" = hp-14b-na0052xx-zork ] || fail "platform: $t"
b=$(obj "$T/events.json" builds maestro:66ff39000abcc4c8343d1a00)
[ "$(jq -r '[.checkout_id, .architecture, .compiler, .status] | join(" ")' <<<"$b")" = \
	"maestro:66ff38000abcc4c8343d1900 x86_64 gcc-12 PASS" ] || fail "kbuild: $b"
t=$(obj "$T/events.json" tests maestro:65a1355ee98651d0fe81e413)
[ "$(jq -r '[.build_id, .status] | join(" ")' <<<"$t")" = "maestro:dummy_65a1355ee98651d0fe81e40d PASS" ] ||
	fail "KUnit test under a checkout: $t"
replay_log >"$T/log.json"
# ancestors missing from a page are looked up, each at most once per page, and exist
jq -e '[.[] | select(.path | startswith("/latest/node/"))] | length > 0 and all(.status == 200)' \
	"$T/log.json" >/dev/null || fail "parent look-ups: $(jq -c '[.[] | .path]' "$T/log.json")"
jq -e '[.[] | select(.path == "/latest/events")] | all(.query | test("recursive=true"))' "$T/log.json" >/dev/null ||
	fail "events without recursive=true"

# the same Maestro through /nodes: the same objects
rm -rf "$T/data"; cf init >/dev/null
source_conf kci kernelci "$RURL/latest" since=2023-01-01T00:00:00 page-size=4 mode=nodes
cf poll --once >/dev/null 2>"$T/err" || fail "nodes mode: $(cat "$T/err")"
export_to "$T/nodes.json"
jq -S 'del(.version)' "$T/events.json" >"$T/e.sorted"
jq -S 'del(.version)' "$T/nodes.json" >"$T/n.sorted"
diff -u "$T/e.sorted" "$T/n.sorted" >"$T/diff" || fail "modes differ: $(head -30 "$T/diff")"
cf poll --status --json kci >"$T/st.json"
[ "$(jq -r .cursor.from "$T/st.json")" = 2025-01-12T08:30:00.000000 ] || [ "$(jq -r .cursor.from "$T/st.json")" = 2024-10-04T00:49:16.000000 ] ||
	fail "cursor: $(cat "$T/st.json")"
pass
