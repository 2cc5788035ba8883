#!/usr/bin/env python3
"""make-demo.py OUTDIR - write the demo KCIDB submissions shipped with cifeed.

Three CI systems reporting on two revisions, the way real ones do: a
mainline checkout tested by "maestro" (builds on four architectures, boot,
kselftest and LTP results, one failure with an issue), a net-next patch
series tested by "redhat" (linked to its mailing-list Message-ID), and a
late partial update that fills in a test's status.  Deterministic: the
committed files are this script's output.
"""
import json, os, sys

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
V = {"major": 5, "minor": 3}
MAINLINE = "1c4d8a4d2f3e9b7a6c5d4e3f2a1b0c9d8e7f6a5b"
NETNEXT = "9f8e7d6c5b4a39281716f5e4d3c2b1a0f9e8d7c6"
archs = [("x86_64", "x86_64_defconfig", "gcc-13"), ("arm64", "defconfig", "gcc-13"),
         ("riscv", "defconfig", "clang-17"), ("arm", "multi_v7_defconfig", "gcc-13")]

def dump(name, doc):
    with open(os.path.join(out, name), "w") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
        f.write("\n")

# 1. maestro on mainline
co = {"id": "maestro:demo-mainline", "origin": "maestro", "tree_name": "mainline",
      "git_repository_url": "https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git",
      "git_repository_branch": "master", "git_commit_hash": MAINLINE,
      "git_commit_name": "v6.12-rc3-21-g1c4d8a4d2f3e", "patchset_hash": "",
      "start_time": "2026-11-20T08:00:00+00:00", "valid": True}
builds, tests = [], []
for arch, config, cc in archs:
    bid = f"maestro:demo-build-{arch}"
    builds.append({"id": bid, "checkout_id": co["id"], "origin": "maestro", "architecture": arch,
                   "config_name": config, "compiler": cc, "status": "PASS", "duration": 742.0,
                   "start_time": "2026-11-20T08:05:00+00:00",
                   "log_url": f"https://storage.example.org/demo/{arch}/build.log"})
    for i, (path, status) in enumerate([("boot", "PASS"), ("kselftest.timers.posix_timers", "PASS"),
                                        ("kselftest.net.udpgso", "FAIL" if arch == "arm64" else "PASS"),
                                        ("ltp.syscalls.fork01", "PASS"), ("ltp.syscalls.clone302", "SKIP"),
                                        ("baseline.dmesg.crit", "MISS" if arch == "arm" else "PASS")]):
        t = {"id": f"maestro:demo-test-{arch}-{i}", "build_id": bid, "origin": "maestro", "path": path,
             "status": status, "start_time": "2026-11-20T08:30:00+00:00", "duration": 12.5 + i,
             "log_url": f"https://storage.example.org/demo/{arch}/{path}.log",
             "environment": {"comment": "lab-demo", "misc": {"platform": f"qemu-{arch}"}}}
        if status == "FAIL":
            t["log_excerpt"] = "# udpgso: GSO packet exceeds MTU: expected 1472, got 1500\nnot ok 4 udpgso\n"
        if status == "MISS":
            t["misc"] = {"error_code": "Infrastructure", "note": "lab lost the board"}
        tests.append(t)
# a running test, no status yet
tests.append({"id": "maestro:demo-test-x86_64-perf", "build_id": "maestro:demo-build-x86_64",
              "origin": "maestro", "path": "kselftest.perf_events"})
dump("01-maestro-mainline.json", {"version": V, "checkouts": [co], "builds": builds, "tests": tests,
     "issues": [{"id": "maestro:demo-issue-udpgso", "version": 1, "origin": "maestro",
                 "report_subject": "kselftest net.udpgso fails on arm64",
                 "culprit": {"code": True, "tool": False, "harness": False}}],
     "incidents": [{"id": "maestro:demo-incident-1", "origin": "maestro",
                    "issue_id": "maestro:demo-issue-udpgso", "issue_version": 1,
                    "test_id": "maestro:demo-test-arm64-2", "present": True}]})

# 2. redhat (CKI-like) on a net-next patch series, linked by Message-ID
co2 = {"id": "redhat:demo-netnext-1", "origin": "redhat", "tree_name": "net-next",
       "git_repository_url": "https://git.kernel.org/pub/scm/linux/kernel/git/netdev/net-next.git",
       "git_repository_branch": "main", "git_commit_hash": NETNEXT,
       "patchset_files": [{"name": "0001-net-foo-fix-bar.patch", "url": "https://patchwork.example.org/patch/1/raw/"},
                          {"name": "0002-net-foo-add-baz.patch", "url": "https://patchwork.example.org/patch/2/raw/"}],
       "patchset_hash": "5d41402abc4b2a76b9719d911017c592ae0d4c1b1e0b5b6f9f2c3d4e5f6a7b8c",
       "message_id": "20261119120000.1-0-dev@example.org",
       "comment": "[PATCH net-next 0/2] net: foo: fix bar and add baz",
       "start_time": "2026-11-20T09:00:00+00:00", "valid": True}
b2 = [{"id": "redhat:demo-netnext-build-x86_64", "checkout_id": co2["id"], "origin": "redhat",
       "architecture": "x86_64", "config_name": "fedora", "compiler": "gcc (GCC) 14.2.1", "status": "PASS"},
      {"id": "redhat:demo-netnext-build-aarch64", "checkout_id": co2["id"], "origin": "redhat",
       "architecture": "aarch64", "config_name": "fedora", "compiler": "gcc (GCC) 14.2.1", "status": "FAIL",
       "log_url": "https://storage.example.org/demo/cki/aarch64/build.log",
       "log_excerpt": "drivers/net/foo.c:42:5: error: implicit declaration of function 'baz'\n"}]
t2 = [{"id": f"redhat:demo-netnext-test-{i}", "build_id": "redhat:demo-netnext-build-x86_64",
       "origin": "redhat", "path": p, "status": s, "log_url": f"https://storage.example.org/demo/cki/{p}.log"}
      for i, (p, s) in enumerate([("boot", "PASS"), ("ltp.net.tcp_cmds", "PASS"),
                                  ("kselftest.net.tls", "FAIL"), ("kselftest.net.udpgso", "PASS")])]
dump("02-redhat-netnext-series.json", {"version": V, "checkouts": [co2], "builds": b2, "tests": t2})

# 3. the running test finishes: a partial update of one field
dump("03-maestro-late-status.json", {"version": V, "tests": [
    {"id": "maestro:demo-test-x86_64-perf", "build_id": "maestro:demo-build-x86_64",
     "origin": "maestro", "status": "PASS", "duration": 95.0}]})
