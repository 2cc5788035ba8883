#!/usr/bin/env bash
# query ran: revision identity (commit + patchset), subtree filter, origins,
# JSON output, exit statuses.
source "$(dirname "$0")/lib.sh"
K="$FIXTURES/kcidb"
cf init >/dev/null || fail init
cf ingest -q "$K/kcidb-sample-full-v5.3.json" || fail ingest
C=052d534373b7ed33712a63d5e17b2b6cdbce84fd
PS=a6781a99af80fd98ea7831a6d010c5a599ae2098f433f0248ae0d68a3aea93e6

# the base commit (no patchset): maestro's tests with a final status (not the running one)
cf query ran --commit $C --json >"$T/base.json" || fail "base commit"
python3 - "$T/base.json" <<'PY' || fail "base commit content"
import json, sys
d = json.load(open(sys.argv[1]))
got = sorted((t["path"], t["status"], t["origin"]) for t in d["tests"])
assert got == [("boot", "PASS", "maestro"), ("boot.time", "DONE", "maestro"),
               ("kselftest.exec.exec_execveat_Check_success_of_execveat_20_4096", "FAIL", "maestro"),
               ("ltp.sem01", "MISS", "maestro")], got
boot = [t for t in d["tests"] if t["path"] == "boot"][0]
assert boot["arch"] == "x86_64" and boot["compiler"] == "gcc-12", boot
assert boot["config"] == "x86_64_defconfig+lab-setup+x86-board", boot
assert boot["start_time"] == "2024-01-14T08:40:00+00:00", boot
assert boot["log_url"] == "https://lava.collabora.dev/scheduler/job/12345678/log_file/plain", boot
PY
# the patched revision is a different revision: its build has no tests
expect_rc 1 cf query ran --commit $C --patchset $PS 2>/dev/null
# subtree and origin filters
[ "$(cf query ran --commit $C --test boot --json | python3 -c 'import json,sys; print(" ".join(sorted(t["path"] for t in json.load(sys.stdin)["tests"])))')" = "boot boot.time" ] || fail "--test subtree"
expect_rc 1 cf query ran --commit $C --test boo 2>/dev/null
expect_rc 1 cf query ran --commit $C --origin redhat 2>/dev/null
# the running test gets its status later and then counts
cf ingest -q "$K/kcidb-sample-partial-update-v5.3.json"
cf query ran --commit $C --test kselftest.cpufreq | grep -q "^PASS *maestro *kselftest.cpufreq" || fail "late status not visible"
# text output has a header and one line per test
[ "$(cf query ran --commit $C | wc -l)" = 6 ] || fail "text output lines"
# usage errors
expect_rc 2 cf query ran 2>/dev/null
expect_rc 2 cf query ran --commit XYZ 2>/dev/null
expect_rc 2 cf query ran --commit $C --patchset 123 2>/dev/null
expect_rc 2 cf query nosuch 2>/dev/null
# hostile input is data, never SQL
expect_rc 1 cf query ran --commit $C --test "x' OR '1'='1" 2>/dev/null
expect_rc 1 cf query ran --msgid "a@b' OR 1=1 --" 2>/dev/null
pass
