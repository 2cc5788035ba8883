#!/usr/bin/env python3
"""run.py - cifeed's polling engine: 100 sources against the replay server.

Benchmark (run by hand, see run.sh and BENCHMARKS.md).  Each figure is
printed beside a reference measured in the same run:

  ingest      every source's first cycle (all pages, stored): wall time,
              requests, objects; event-loop lag p50/p99/max while pages are
              ingested (the daemon's own lag timer: a 20 ms libuv timer
              measuring how late it fires) and peak RSS
              - reference: the same daemon with no sources, same duration
  idle        cycles with nothing new, with and without conditional
              requests: requests and bytes per cycle per source type, CPU
              seconds per 1,000 polls (a poll = one cycle of one source)
              - reference: the unconditional figures; for CPU per request,
              curl(1) fetching the very same URLs (fetch only, no parsing)

Usage: run.py CIFEED FIXTURES LOCAL [--sources 100] [--scale 200] [--idle 45]
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPLAY = os.path.join(HERE, "..", "..", "replay", "replay.py")
TYPES = ("gitlab", "gerrit", "kernelci", "patchwork")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def proc_stat(pid):
    """(cpu seconds, peak RSS kB) of a live process."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tck = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / tck
    hwm = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return cpu, hwm


def kv(line):
    return dict((m.group(1), m.group(2).strip('"')) for m in re.finditer(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)', line))


class Run:
    def __init__(self, args):
        self.a = args
        self.w = tempfile.mkdtemp(prefix="cifeed-bench-poll.")
        self.replay = None

    def start_replay(self):
        pf = os.path.join(self.w, "replay.port")
        self.replay = subprocess.Popen(
            [sys.executable, REPLAY, "--fixtures", self.a.fixtures, "--local", self.a.local,
             "--port-file", pf, "--scale", str(self.a.scale)],
            stderr=subprocess.DEVNULL)
        for _ in range(200):
            if os.path.exists(pf):
                break
            time.sleep(0.05)
        self.port = int(open(pf).read())
        self.url = "http://127.0.0.1:%d" % self.port

    def ctl(self, what):
        return urllib.request.urlopen(self.url + "/_control/" + what).read()

    def datadir(self, name, nsources, interval, conditional=True):
        d = os.path.join(self.w, name)
        if not os.path.exists(d):
            subprocess.check_call([self.a.cifeed, "-d", d, "init"], stdout=subprocess.DEVNULL)
        conf = ["[core]\n\tloglevel = info\n",
                "[serve]\n\tlisten = 127.0.0.1:%d\n\tspool = false\n\tpublish-interval = 1d\n" % free_port(),
                # only polling is measured: the publisher (another service) holds everything back
                "[feed]\n\tsettle = 1000d\n"]
        for i in range(nsources):
            t = TYPES[i % 4]
            common = "\tinterval = %d\n\thost-concurrency = 8\n\tconditional = %s\n" % (
                interval, "true" if conditional else "false")
            if t == "gitlab":
                body = ("\turl = %s\n\tproject = 1\n\tproject = 21\n\tsince = 2016-01-01T00:00:00Z\n"
                        "\ttest-report = all\n" % self.url)
            elif t == "gerrit":
                body = "\turl = %s\n\tsince = 2012-01-01T00:00:00Z\n\tper-page = 3\n" % self.url
            elif t == "kernelci":
                body = "\turl = %s/latest\n\tsince = 2023-01-01T00:00:00\n\tpage-size = 3\n" % self.url
            else:
                body = ("\turl = %s\n\tproject = patchwork\n\tsince = 2026-11-22T09:00:00\n"
                        "\tper-page = 10\n" % self.url)
            conf.append('[source "s%03d"]\n\ttype = %s\n%s%s' % (i, t, body, common))
        with open(os.path.join(d, "cifeed.conf"), "w") as f:
            f.write("".join(conf))
        return d

    def serve(self, d, log):
        return subprocess.Popen([self.a.cifeed, "-v", "-d", d, "serve"], stderr=open(log, "w"),
                                stdout=subprocess.DEVNULL)

    def lag_lines(self, log, event):
        out = []
        for line in open(log):
            if "event=%s " % event in line:
                f = kv(line)
                out.append({k: int(f["loop_lag_%s_us" % k]) / 1000.0 for k in ("p50", "p99", "max")})
                out[-1]["samples"] = int(f["samples"])
        return out

    def cycles(self, log):
        out = []
        for line in open(log):
            if "event=poll.cycle " in line:
                f = kv(line)
                f["t"] = time.mktime(time.strptime(f["ts"][:19], "%Y-%m-%dT%H:%M:%S")) + float("0" + f["ts"][19:-1])
                out.append(f)
        return out

    def wait_cycles(self, log, want, timeout):
        t0 = time.time()
        while time.time() - t0 < timeout:
            if len(self.cycles(log)) >= want:
                return True
            time.sleep(0.2)
        return False

    def rss_mb(self, pid):
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
        return 0

    # ----------------------------------------------------------- phases

    def baseline(self, seconds):
        """The same daemon with no sources and an empty store: the reference."""
        d = self.datadir("empty", 0, 60)
        log = os.path.join(self.w, "empty.log")
        p = self.serve(d, log)
        time.sleep(seconds)
        cpu, hwm = proc_stat(p.pid)
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=60)
        return {"lag": self.lag_lines(log, "poll.stopped")[-1], "rss_mb": hwm / 1024.0, "cpu": cpu}

    def run_daemon(self):
        """One `cifeed serve` through every phase (SIGHUP switches the sources' settings).

        The other services of the daemon run once at start on an empty store
        (publisher) or not at all (spool off), so what is measured is polling.
        """
        n = self.a.sources
        d = self.datadir("data", n, 3600)
        log = os.path.join(self.w, "serve.log")
        res = {}
        t0 = time.time()
        p = self.serve(d, log)
        ok = self.wait_cycles(log, n, 900)
        wall = time.time() - t0
        cpu, hwm = proc_stat(p.pid)
        cyc = self.cycles(log)
        failed = sum(1 for line in open(log) if "event=poll.failed" in line)
        objects = int(subprocess.check_output(
            ["sqlite3", os.path.join(d, "cifeed.db"),
             "select (select count(*) from checkouts)+(select count(*) from builds)+(select count(*) from tests)"]))
        res["ingest"] = {"ok": ok and not failed, "failed": failed, "wall": wall, "cpu": cpu,
                         "rss_mb": hwm / 1024.0, "objects": objects,
                         "requests": sum(int(c["requests"]) for c in cyc),
                         "bytes": sum(int(c["bytes"]) for c in cyc)}
        for cond in (True, False):
            self.datadir("data", n, self.a.interval, cond)
            k_before = len(self.cycles(log))
            p.send_signal(signal.SIGHUP)  # ends the previous window in the log (loop lag)
            # warm-up: two cycles per source (the first after a change moves the listing's URL)
            self.wait_cycles(log, k_before + 2 * n, 300)
            self.ctl("reset_log")
            c0, _ = proc_stat(p.pid)
            t1 = time.time()
            k0 = len(self.cycles(log))
            time.sleep(self.a.idle)
            c1, _ = proc_stat(p.pid)
            t2 = time.time()
            rss = self.rss_mb(p.pid)
            cyc = [c for c in self.cycles(log)[k0:] if c["t"] <= t2]
            per = {}
            for t in TYPES:
                cs = [c for c in cyc if c["type"] == t]
                if cs:
                    per[t] = {k: sum(int(c[k]) for c in cs) / len(cs)
                              for k in ("requests", "not_modified", "bytes", "objects")}
            log_reqs = json.loads(self.ctl("log"))
            res[cond] = {"per": per, "cycles": len(cyc), "cpu": c1 - c0, "secs": t2 - t1,
                         "requests": sum(int(c["requests"]) for c in cyc), "rss_mb": rss,
                         "urls": ["%s%s%s" % (self.url, e["path"], "?" + e["query"] if e["query"] else "")
                                  for e in log_reqs if e["status"] == 200]}
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=60)
        _, hwm_all = 0, hwm
        windows = self.lag_lines(log, "poll.reloading") + self.lag_lines(log, "poll.stopped")
        res["ingest"]["lag"] = windows[0]
        res[True]["lag"] = windows[1]
        res[False]["lag"] = windows[2]
        return res

    def curl_reference(self, urls, want=1000):
        """CPU of curl fetching the same URLs (parallel, compressed, bodies discarded)."""
        if not urls:
            return None
        urls = (urls * (want // len(urls) + 1))[:want]
        cfg = os.path.join(self.w, "curl.cfg")
        with open(cfg, "w") as f:
            for u in urls:
                f.write('url = "%s"\noutput = "/dev/null"\n' % u)
        t0 = os.times()
        subprocess.check_call(["curl", "-sS", "--no-progress-meter", "-Z", "--parallel-max", "8", "--compressed",
                               "-H", "Accept: application/json", "-K", cfg])
        t1 = os.times()
        return (t1.children_user - t0.children_user + t1.children_system - t0.children_system), len(urls)

    def main(self):
        a = self.a
        self.start_replay()
        try:
            print("cifeed poll benchmark: %d sources (%s), GitLab test reports x%d, replay server on 127.0.0.1"
                  % (a.sources, ", ".join("%d %s" % (len(range(i, a.sources, 4)), t) for i, t in enumerate(TYPES)),
                     a.scale))
            res = self.run_daemon()
            ing = res["ingest"]
            base = self.baseline(max(10, ing["wall"]))
            print("\ningest: every source's first cycle (all pages, stored)")
            print("  %.1f s wall, %d requests, %.1f MB of bodies, %d objects stored, %.1f CPU s%s"
                  % (ing["wall"], ing["requests"], ing["bytes"] / 1e6, ing["objects"], ing["cpu"],
                     "" if ing["ok"] else "  (INCOMPLETE: %d failures)" % ing["failed"]))
            print("  event-loop lag p50/p99/max: %.2f / %.2f / %.2f ms (%d samples)   reference, no sources (%.0f s): %.2f / %.2f / %.2f ms   goal p99 < 10 ms"
                  % (ing["lag"]["p50"], ing["lag"]["p99"], ing["lag"]["max"], ing["lag"]["samples"],
                     max(10, ing["wall"]), base["lag"]["p50"], base["lag"]["p99"], base["lag"]["max"]))
            print("  peak RSS: %.1f MB   reference, no sources: %.1f MB   goal < 50 MB"
                  % (ing["rss_mb"], base["rss_mb"]))
            print("\nidle cycles (%d s each, interval %d s), per source and cycle:" % (a.idle, a.interval))
            print("  %-10s %28s   %28s" % ("type", "conditional requests", "reference: unconditional"))
            for t in TYPES:
                c, u = res[True]["per"].get(t), res[False]["per"].get(t)
                if not c or not u:
                    continue
                print("  %-10s %5.2f req (%4.2f 304) %8.0f B   %5.2f req %16.0f B"
                      % (t, c["requests"], c["not_modified"], c["bytes"], u["requests"], u["bytes"]))
            for cond in (True, False):
                r = res[cond]
                print("  %s: %d polls in %.0f s, %.3f CPU s per 1,000 polls, loop lag p50/p99 %.2f / %.2f ms, RSS %.1f MB"
                      % ("conditional  " if cond else "unconditional", r["cycles"], r["secs"],
                         1000 * r["cpu"] / max(1, r["cycles"]), r["lag"]["p50"], r["lag"]["p99"], r["rss_mb"]))
            r = res[False]
            ref = self.curl_reference(r["urls"])
            if ref:
                print("  CPU s per 1,000 requests: cifeed %.3f (fetch, parse, dedup, store)   reference curl -Z %.3f (fetch only, same URLs, %d requests)"
                      % (1000 * r["cpu"] / max(1, r["requests"]), 1000 * ref[0] / ref[1], ref[1]))
            load = os.getloadavg()
            print("\nmachine: %d CPUs, load average %.2f / %.2f / %.2f (other processes share them)"
                  % (os.cpu_count(), load[0], load[1], load[2]))
        finally:
            self.replay.terminate()
            self.replay.wait()
            if not a.keep:
                shutil.rmtree(self.w, ignore_errors=True)
            else:
                print("# kept", self.w)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cifeed")
    ap.add_argument("fixtures")
    ap.add_argument("local")
    ap.add_argument("--sources", type=int, default=100)
    ap.add_argument("--scale", type=int, default=200)
    ap.add_argument("--idle", type=int, default=45)
    ap.add_argument("--interval", type=int, default=5)
    ap.add_argument("--keep", action="store_true")
    Run(ap.parse_args()).main()


if __name__ == "__main__":
    main()
