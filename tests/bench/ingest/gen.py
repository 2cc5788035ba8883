#!/usr/bin/env python3
"""gen.py OUTDIR [FILES] [TESTS_PER_FILE] - generate the ingest benchmark data.

Writes FILES KCIDB v5.3 files (default 100 x 10,000 tests: 1,000,000 tests,
10,000 builds, 100 checkouts) and, for the sqlite3 reference, CSV files
holding exactly the rows cifeed stores for them (same columns, same JSON
text for nested fields), so both sides load the same data into the same
tables and indexes.
"""
import csv, hashlib, json, os, random, sys

out = sys.argv[1]
nfiles = int(sys.argv[2]) if len(sys.argv) > 2 else 100
ntests = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
builds_per_file = max(1, ntests // 100)
os.makedirs(out, exist_ok=True)
rnd = random.Random(42)
statuses = ["PASS"] * 14 + ["FAIL", "SKIP", "ERROR", "MISS", "DONE"]
archs = ["x86_64", "arm64", "riscv", "arm"]
suites = ["boot", "ltp", "kselftest", "kunit", "baseline", "lkdtm"]
dump = lambda v: json.dumps(v, separators=(",", ":"), ensure_ascii=False)

cols = {
    "checkouts": ["rid", "id", "origin", "tree_name", "git_repository_url", "git_commit_hash",
                  "git_commit_name", "git_commit_tags", "git_commit_message", "git_repository_branch",
                  "git_repository_branch_tip", "patchset_files", "patchset_hash", "message_id",
                  "comment", "start_time", "origin_builds_finish_time", "origin_tests_finish_time",
                  "log_url", "log_excerpt", "valid", "misc", "seq", "updated"],
    "builds": ["rid", "id", "checkout_id", "origin", "comment", "start_time", "duration",
               "architecture", "command", "compiler", "input_files", "output_files", "config_name",
               "config_url", "log_url", "log_excerpt", "status", "misc", "seq", "updated"],
    "tests": ["rid", "id", "build_id", "origin", "path", "environment", "status", "number",
              "start_time", "duration", "output_files", "input_files", "log_url", "log_excerpt",
              "comment", "misc", "seq", "updated"],
}
writers = {t: csv.writer(open(os.path.join(out, f"{t}.csv"), "w", newline="")) for t in cols}
rid = {t: 0 for t in cols}

def row(table, obj, seq):
    rid[table] += 1
    r = []
    for c in cols[table]:
        if c == "rid": r.append(rid[table])
        elif c == "seq": r.append(seq)
        elif c == "updated": r.append("2026-11-22T00:00:00Z")
        else:
            v = obj.get(c)
            if v is None: r.append("")
            elif isinstance(v, (dict, list)): r.append(dump(v))
            elif isinstance(v, bool): r.append(1 if v else 0)
            else: r.append(v)
    writers[table].writerow(r)

for f in range(nfiles):
    seq = f + 1
    commit = hashlib.sha1(f"commit{f}".encode()).hexdigest()
    co = {"id": f"bench:c{f}", "origin": "bench", "tree_name": rnd.choice(["mainline", "next", "net-next", "stable"]),
          "git_repository_url": "https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git",
          "git_commit_hash": commit, "git_repository_branch": "master", "patchset_hash": "",
          "start_time": "2026-11-01T10:00:00+00:00", "valid": True}
    doc = {"version": {"major": 5, "minor": 3}, "checkouts": [co], "builds": [], "tests": []}
    row("checkouts", co, seq)
    for b in range(builds_per_file):
        arch = archs[b % len(archs)]
        bo = {"id": f"bench:b{f}-{b}", "checkout_id": co["id"], "origin": "bench",
              "start_time": "2026-11-01T10:05:00+00:00", "duration": 600.5 + b,
              "architecture": arch, "compiler": "gcc-12", "config_name": f"{arch}_defconfig",
              "log_url": f"https://ci.example.org/logs/b{f}-{b}/build.log", "status": "PASS"}
        doc["builds"].append(bo)
        row("builds", bo, seq)
    for t in range(ntests):
        b = t % builds_per_file
        suite = suites[t % len(suites)]
        te = {"id": f"bench:t{f}-{t}", "build_id": f"bench:b{f}-{b}", "origin": "bench",
              "path": f"{suite}.case{t % 997}.sub{t // 997}",
              "environment": {"comment": "lab-example", "misc": {"platform": f"board-{t % 13}"}},
              "status": statuses[rnd.randrange(len(statuses))],
              "start_time": "2026-11-01T11:00:00+00:00", "duration": round(rnd.uniform(0.1, 300), 3),
              "log_url": f"https://ci.example.org/logs/t{f}-{t}.txt",
              "misc": {"job_id": f"{f * ntests + t}"}}
        doc["tests"].append(te)
        row("tests", te, seq)
    with open(os.path.join(out, f"kcidb-{f:04d}.json"), "w") as fh:
        fh.write(dump(doc))
