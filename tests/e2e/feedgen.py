#!/usr/bin/env python3
"""feedgen.py - deterministic KCIDB v5.3 submissions for the feed tests and bench.

Writes ROUNDS files PREFIX-0.json, PREFIX-1.json ...: round 0 has the
checkouts, builds and most tests (some still without a status); later rounds
bring the remaining tests, late statuses for earlier tests (partial objects,
the merge case), issues and incidents, and finally the checkouts'
origin_tests_finish_time.  Options add hostile strings (CR/LF + Bcc:,
delimiter look-alikes, NUL in misc, huge test names).
"""
import argparse
import json
import random

p = argparse.ArgumentParser()
p.add_argument("prefix")
p.add_argument("--checkouts", type=int, default=4)
p.add_argument("--builds", type=int, default=3, help="per checkout")
p.add_argument("--tests", type=int, default=5, help="per build")
p.add_argument("--rounds", type=int, default=3)
p.add_argument("--seed", type=int, default=1)
p.add_argument("--hostile", action="store_true")
p.add_argument("--huge-name", type=int, default=0, help="bytes of one test path")
a = p.parse_args()
rnd = random.Random(a.seed)


def hx(n):
    return "".join(rnd.choice("0123456789abcdef") for _ in range(n))


HOSTILE = "evil\r\nBcc: victim@example.com\r\n\r\n--cifeed=_0123456789abcdef01234567\n--\n" \
          "=?utf-8?b?Qm9ndXM=?= <script>&amp;\u202e\u0007 Ünïcödé \U0001F600"
rounds = [{"version": {"major": 5, "minor": 3}, "checkouts": [], "builds": [], "tests": [],
           "issues": [], "incidents": []} for _ in range(a.rounds)]
trees = ["mainline", "net-next", "stable"]
issues = []
for i in range(max(1, a.checkouts // 2)):
    iss = {"id": "gen:issue%d" % i, "version": 1, "origin": "gen",
           "report_url": "https://bugs.example.org/%d" % i,
           "report_subject": "flaky thing %d" % i, "culprit": {"code": True, "tool": False}}
    if a.hostile:
        iss["comment"] = HOSTILE
    issues.append(iss)
    rounds[min(1, a.rounds - 1)]["issues"].append(iss)

for c in range(a.checkouts):
    tree = trees[c % 3]
    co = {"id": "gen:c%d" % c, "origin": "gen", "tree_name": tree,
          "git_repository_url": "https://git.example.org/%s.git" % tree,
          "git_commit_hash": hx(40), "git_repository_branch": "master",
          "start_time": "2024-01-%02dT10:00:00+00:00" % (1 + c % 28),
          "patchset_hash": ""}
    if c % 2:
        co["patchset_hash"] = hx(64)
        co["message_id"] = "patch%d.%s@example.org" % (c, hx(6))
        co["patchset_files"] = [{"name": "0001.patch", "url": "https://p.example.org/%d" % c}]
    if a.hostile:
        co["tree_name"] = tree + HOSTILE
        co["comment"] = HOSTILE
        co["misc"] = {"ctl": "a\u0001b\u007fc", "deep": [HOSTILE, {"x": 1.25}]}
    rounds[0]["checkouts"].append(co)
    if a.rounds > 1:
        rounds[-1]["checkouts"].append({"id": co["id"], "origin": "gen",
                                        "origin_tests_finish_time": "2024-02-01T00:00:00+00:00"})
    for b in range(a.builds):
        bid = "gen:b%d_%d" % (c, b)
        st = rnd.choice(["PASS", "PASS", "PASS", "FAIL", "ERROR"])
        bu = {"id": bid, "checkout_id": co["id"], "origin": "gen",
              "architecture": ["x86_64", "arm64", "riscv"][b % 3],
              "config_name": "defconfig%d" % b, "compiler": "gcc-12", "status": st,
              "duration": 12.7 + b, "log_url": "https://logs.example.org/%s/build.log" % bid,
              "misc": {"runner": "r%d" % b, "list": [1, 2.5, None]}}
        if a.hostile:
            bu["config_name"] = "defconfig" + HOSTILE
            bu["compiler"] = HOSTILE
            bu["log_excerpt"] = HOSTILE * 3
        rounds[0]["builds"].append(bu)
        for t in range(a.tests):
            tid = "gen:t%d_%d_%d" % (c, b, t)
            path = "ltp.syscalls.open%02d" % t if t % 2 else "kselftest.net.case%d" % t
            if a.huge_name and c == 0 and b == 0 and t == 0:
                seg = "x" * 60
                path = ".".join([seg] * (a.huge_name // 61))
            tst = rnd.choice(["PASS", "PASS", "FAIL", "SKIP", "ERROR", None])
            te = {"id": tid, "build_id": bid, "origin": "gen", "path": path,
                  "start_time": "2024-01-01T10:%02d:00+00:00" % (t % 60),
                  "duration": t + 0.5, "log_url": "https://logs.example.org/%s.log" % tid,
                  "environment": {"comment": "board-%d" % t, "misc": {"rack": t}},
                  "number": {"value": t * 1.5, "unit": "s"}}
            if tst:
                te["status"] = tst
            if tst in ("FAIL", "ERROR"):
                te["log_excerpt"] = ("line one\nline two of %s\n" % tid) + (HOSTILE if a.hostile else "")
            if a.hostile:
                te["comment"] = HOSTILE
            r = 0 if (t * 7 + b) % 5 else min(1, a.rounds - 1)
            rounds[r]["tests"].append(te)
            if tst is None and a.rounds > 1:
                # the status arrives later, as a partial object
                rounds[min(1, a.rounds - 1)]["tests"].append(
                    {"id": tid, "build_id": bid, "origin": "gen", "status": "PASS",
                     "duration": 3})
            if tst == "FAIL" and issues:
                iss = issues[(c + b + t) % len(issues)]
                rounds[min(1, a.rounds - 1)]["incidents"].append(
                    {"id": "gen:inc_%s" % tid.split(":")[1], "origin": "gen",
                     "issue_id": iss["id"], "issue_version": 1, "test_id": tid, "present": True})
for i, r in enumerate(rounds):
    with open("%s-%d.json" % (a.prefix, i), "w") as f:
        json.dump(r, f, ensure_ascii=(i % 2 == 0))
