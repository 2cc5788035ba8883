#!/usr/bin/env python3
"""replay.py - the upstream APIs cifeed polls, replayed from recordings, with faults.

Test code.  One HTTP(S) server on 127.0.0.1 that answers like

  GitLab REST v4   /api/v4/...          (gitlab/ fixtures)
  Gerrit REST      /changes/, /a/...    (gerrit/ fixtures)
  KernelCI Maestro /latest/...          (maestro/ fixtures)
  Patchwork 1.3    /api/1.3/...         (patchwork/ fixtures)

Listings are served the way each API pages them (GitLab Link + X-* headers,
weak ETags and 304; Gerrit _more_changes + S=; Maestro limit/offset; Patchwork
Link), filtered by the same parameters (updated_after, after:, from /
updated__gt, since), from the objects in the recorded responses.  Where a
request is exactly one that was recorded, the answer equals the recording
(tests/replay/selftest.py checks that).  Recorded header sets are used as
they are (rate-limit headers, Server, Vary...), with absolute URLs rewritten
to this server.

Faults on demand (GET /_control/fault?kind=K&path=PREFIX&count=N&...):
  500 502 503      that status (HTML body, like a proxy)
  429              Too Many Requests, GitLab headers, Retry-After: retry_after=S
  reset            close the connection with a TCP RST, no answer
  stall            say nothing for seconds=S (default 30), then close
  trickle          headers, then the body one byte every interval=S (default 1)
  truncate         announce the whole body, send half, close
  malformed        the real answer with its JSON broken in the middle
  huge             200 application/json, mb=N (default 50) megabytes, chunked
  wrong_type       200 text/html login page
  echo             500 whose body repeats the request headers (credentials included)
Faults match paths by prefix, or exactly with exact=1.
count=N affects the next N matching requests (0: until /_control/clear).
Other control: /_control/clear, /_control/faults (pending ones),
/_control/log (requests seen, JSON), /_control/reset_log,
/_control/config?delay_ms=N (latency on every answer)
               &gitlab_remaining=N&gitlab_reset_in=S (a low GitLab quota).

Usage: replay.py --fixtures ../shared/fixtures --local tests/fixtures
                 [--port 0] [--port-file F] [--tls-cert C --tls-key K]
                 [--gitlab-token T] [--gerrit-auth USER:PASS]
"""
import argparse
import base64
import copy
import datetime
import gzip
import hashlib
import json
import os
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
FAULTS = []          # [{kind, path, count, params}]
LOG = []             # requests seen
CONFIG = {"delay_ms": 0, "gitlab_remaining": None, "gitlab_reset_in": None}
DATA = {}


# --------------------------------------------------------------- loading

def read(path):
    with open(path, "rb") as f:
        return f.read()


def load_json(path):
    return json.loads(read(path).decode("utf-8"))


def gerrit_json(path):
    text = read(path).decode("utf-8")
    assert text.startswith(")]}'"), path
    return json.loads(text.split("\n", 1)[1])


def load_headers(path):
    """A recorded header file: status line + 'name: value' lines (CRLF)."""
    lines = read(path).decode("utf-8").replace("\r\n", "\n").split("\n")
    status = int(lines[0].split()[1])
    headers = []
    for line in lines[1:]:
        if not line:
            break
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    return status, headers


def naive(ts):
    """Maestro/Patchwork/Gerrit naive UTC timestamps -> datetime."""
    ts = ts.replace(" ", "T").rstrip("Z")
    if "." in ts:
        head, frac = ts.split(".", 1)
        ts = head + "." + (frac + "000000")[:6]
    return datetime.datetime.fromisoformat(ts)


def aware(ts):
    return datetime.datetime.fromisoformat(ts.replace("Z", "+00:00"))


def load(fixtures, local, scale=1):
    d = {}
    # GitLab: project 1 from the list fixture, project 21 from the single pipeline
    gl = os.path.join(fixtures, "gitlab")
    single = load_json(os.path.join(gl, "pipeline_single.json"))
    short = {k: single[k] for k in ("id", "iid", "project_id", "status", "source", "ref", "sha",
                                    "name", "web_url", "created_at", "updated_at")}
    d["gitlab_projects"] = {"1": load_json(os.path.join(gl, "pipelines_list.json")),
                            "21": [short]}
    d["gitlab_jobs"] = {47: load_json(os.path.join(gl, "pipeline_jobs.json"))}
    d["gitlab_statuses"] = {"a91957a858320c0e17f3a0eca7cfacbff50ea29a":
                            load_json(os.path.join(gl, "commit_statuses.json"))}
    d["gitlab_summary"] = {287: load_json(os.path.join(gl, "pipeline_test_report_summary.json"))}
    d["gitlab_report"] = {287: load_json(os.path.join(gl, "pipeline_test_report.json"))}
    if scale > 1:  # benchmarks: the recorded report's cases, many times over (distinct names)
        rep = d["gitlab_report"][287]
        for suite in rep["test_suites"]:
            cases = suite["test_cases"]
            suite["test_cases"] = [dict(c, name="%s #%d" % (c["name"], i)) for i in range(scale) for c in cases]
    d["gitlab_list_headers"] = load_headers(os.path.join(gl, "_headers/pipelines_list.headers.txt"))[1]
    d["gitlab_304_headers"] = load_headers(os.path.join(gl, "_headers/not_modified_304.headers.txt"))[1]
    d["gitlab_429_headers"] = load_headers(os.path.join(gl, "_headers/rate_limited_429.headers.txt"))[1]
    d["gitlab_429_body"] = read(os.path.join(gl, "_headers/rate_limited_429.body.txt"))
    d["gitlab_401"] = read(os.path.join(gl, "error_401.json"))
    d["gitlab_404"] = read(os.path.join(gl, "error_404_project.json"))

    # Gerrit: every change of the recorded answers, newest first
    ge = os.path.join(fixtures, "gerrit")
    changes = {}
    for name in ("changes_query_detailed_page.json", "changes_query_docs_current_revision.json",
                 "changes_query_docs_more_changes.json"):
        for c in gerrit_json(os.path.join(ge, name)):
            c = dict(c)
            c.pop("_more_changes", None)
            changes[c["_number"]] = c
    for name in ("change_detail_ci_votes.json", "change_detail_docs.json"):
        c = gerrit_json(os.path.join(ge, name))
        changes[c["_number"]] = c
    d["gerrit_changes"] = sorted(changes.values(), key=lambda c: naive(c["updated"]), reverse=True)
    d["gerrit_headers"] = load_headers(os.path.join(ge, "_headers/changes_query.headers.txt"))[1]
    pf = os.path.join(fixtures, "patches", "format-patch", "nobase-nocover")
    d["gerrit_patches"] = {
        (246332, "a669b899d3a6af2beee8e045c6a30dcad30fb577"): read(os.path.join(pf, "0001-a-change-line2.patch")),
        (97, "184ebe53805e102605d11f6b143486d15c23a09c"): read(os.path.join(pf, "0002-README-add-world.patch")),
    }

    # Maestro: the node pool and its event history
    ma = os.path.join(fixtures, "maestro")
    nodes = []
    for name in ("nodes-list-checkouts-mainline.json", "nodes-list-kunit.json",
                 "nodes-list-parent-null-legacy.json"):
        nodes += load_json(os.path.join(ma, name))["data"]["items"]
    for name in ("node-checkout-get.json", "node-test-kselftest-real.json"):
        nodes.append(load_json(os.path.join(ma, name))["data"])
    nodes += load_json(os.path.join(local, "maestro", "parents.json"))["data"]
    d["maestro_nodes"] = nodes
    d["maestro_by_id"] = {n.get("id", n.get("_id")): n for n in nodes}
    events = []
    for i, n in enumerate(sorted(nodes, key=lambda n: naive(n["updated"]))):
        nid = n.get("id", n.get("_id"))
        events.append({
            "id": "%024x" % (0x6700000000000000 + i), "timestamp": n["updated"],
            "sequence_id": 1000 + i, "channel": "node", "owner": n.get("owner", "admin"),
            "data": {"op": "updated", "id": nid, "kind": n["kind"], "name": n["name"],
                     "path": n["path"], "group": n["group"], "state": n["state"],
                     "result": n["result"], "owner": n.get("owner", "admin"),
                     "data": n["data"], "is_hierarchy": False}})
    events += load_json(os.path.join(ma, "events-sample.json"))["data"]
    d["maestro_events"] = events

    # Patchwork: the whole recorded event history and the patches' checks
    pw = os.path.join(fixtures, "patchwork")
    ev = load_json(os.path.join(pw, "events_default_page1.json")) + \
        load_json(os.path.join(pw, "events_default_page2.json"))
    d["pw_events"] = sorted(ev, key=lambda e: (naive(e["date"]), e["id"]))
    d["pw_checks"] = {3: load_json(os.path.join(pw, "patch_checks.json")),
                      8: load_json(os.path.join(pw, "patch_checks_v2.json"))}
    d["pw_series"] = {s["id"]: s for s in load_json(os.path.join(pw, "series_list.json"))}
    d["pw_headers"] = [h for h in load_headers(os.path.join(pw, "_headers/events_default_page1.headers.txt"))[1]
                       if h[0].lower() not in ("link", "content-length", "date")]
    d["pw_404"] = read(os.path.join(pw, "error_404_patch.json"))
    return d


# --------------------------------------------------------------- helpers

def q1(query, name, default=None):
    v = query.get(name)
    return v[-1] if v else default


def page_params(query, default, maximum):
    try:
        per = min(max(int(q1(query, "per_page", default)), 1), maximum)
        page = max(int(q1(query, "page", "1")), 1)
    except ValueError:
        per, page = default, 1
    return per, page


def url_with(base, path, query, **changes):
    q = {k: v[-1] for k, v in query.items()}
    q.update({k: str(v) for k, v in changes.items()})
    return "%s%s?%s" % (base, path, urllib.parse.urlencode(sorted(q.items())))


def compact(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class Answer:
    def __init__(self, status, body=b"", headers=None, ctype="application/json"):
        self.status = status
        self.body = body
        self.headers = list(headers or [])
        if ctype and not any(h[0].lower() == "content-type" for h in self.headers):
            self.headers.append(("Content-Type", ctype))


# --------------------------------------------------------------- GitLab

def gitlab(h, path, query):
    d = DATA
    token = h.server.opts.gitlab_token
    if token and h.headers.get("PRIVATE-TOKEN") != token:
        return Answer(401, d["gitlab_401"])
    parts = path.split("/")  # ['', 'api', 'v4', 'projects', ID, ...]
    if len(parts) < 6 or parts[3] != "projects":
        return Answer(404, b'{"message":"404 Not Found"}')
    project = urllib.parse.unquote(parts[4])
    if project not in d["gitlab_projects"]:
        return Answer(404, d["gitlab_404"])
    rest = parts[5:]
    base = h.base()
    if rest == ["pipelines"]:
        items = list(d["gitlab_projects"][project])
        ua = q1(query, "updated_after")
        if ua:
            items = [p for p in items if aware(p["updated_at"]) >= aware(ua)]
        src = q1(query, "source")
        if src:
            items = [p for p in items if p.get("source") == src]
        elif True:
            items = [p for p in items if p.get("source") != "parent_pipeline"]
        if q1(query, "order_by") == "updated_at":
            items.sort(key=lambda p: aware(p["updated_at"]), reverse=q1(query, "sort", "desc") == "desc")
        else:
            items.sort(key=lambda p: p["id"], reverse=q1(query, "sort", "desc") == "desc")
        return gitlab_page(h, path, query, items, with_etag=True)
    if len(rest) == 3 and rest[0] == "pipelines" and rest[2] == "jobs":
        jobs = d["gitlab_jobs"].get(int(rest[1]), [])
        return gitlab_page(h, path, query, jobs, with_etag=False)  # in recorded order
    if len(rest) == 3 and rest[0] == "pipelines" and rest[2] in ("test_report_summary", "test_report"):
        table = d["gitlab_summary" if rest[2] == "test_report_summary" else "gitlab_report"]
        rep = table.get(int(rest[1]))
        if rep is None:  # GitLab answers an empty report when there is none
            rep = ({"total": {"time": 0, "count": 0, "success": 0, "failed": 0, "skipped": 0,
                              "error": 0, "suite_error": None}, "test_suites": []}
                   if rest[2] == "test_report_summary" else
                   {"total_time": 0, "total_count": 0, "success_count": 0, "failed_count": 0,
                    "skipped_count": 0, "error_count": 0, "test_suites": []})
        return Answer(200, compact(rep), gitlab_ratelimit())
    if len(rest) == 4 and rest[0] == "repository" and rest[1] == "commits" and rest[3] == "statuses":
        st = d["gitlab_statuses"].get(rest[2], [])
        return gitlab_page(h, path, query, st, with_etag=False)
    return Answer(404, b'{"message":"404 Not Found"}')


def gitlab_ratelimit():
    hd = [h for h in DATA["gitlab_list_headers"] if h[0].startswith("ratelimit-")]
    return quota(hd)


def quota(headers):
    """/_control/config can make the quota run low (RateLimit-Remaining/-Reset)."""
    if CONFIG["gitlab_remaining"] is None:
        return headers
    out = [h for h in headers if h[0].lower() not in ("ratelimit-remaining", "ratelimit-reset")]
    out.append(("ratelimit-remaining", str(CONFIG["gitlab_remaining"])))
    out.append(("ratelimit-reset", str(int(time.time()) + int(CONFIG["gitlab_reset_in"] or 60))))
    return out


def gitlab_page(h, path, query, items, with_etag):
    per, page = page_params(query, 20, 100)
    total = len(items)
    pages = max(1, (total + per - 1) // per)
    chunk = items[(page - 1) * per: page * per]
    body = compact(chunk)
    base = h.base()
    links = []
    if page < pages:
        links.append('<%s>; rel="next"' % url_with(base, path, query, page=page + 1))
    if page > 1:
        links.append('<%s>; rel="prev"' % url_with(base, path, query, page=page - 1))
    links.append('<%s>; rel="first"' % url_with(base, path, query, page=1))
    links.append('<%s>; rel="last"' % url_with(base, path, query, page=pages))
    headers = []
    for name, value in DATA["gitlab_list_headers"]:
        n = name.lower()
        if n in ("link", "x-next-page", "x-page", "x-per-page", "x-prev-page", "x-total",
                 "x-total-pages", "etag", "date", "content-type"):
            continue
        headers.append((name, value))
    headers += [("link", ", ".join(links)),
                ("x-next-page", str(page + 1) if page < pages else ""),
                ("x-page", str(page)), ("x-per-page", str(per)),
                ("x-prev-page", str(page - 1) if page > 1 else ""),
                ("x-total", str(total)), ("x-total-pages", str(pages))]
    headers = quota(headers)
    if with_etag:
        etag = 'W/"%s"' % hashlib.md5(body).hexdigest()
        if h.headers.get("If-None-Match") == etag:
            hd = [(n, v) for n, v in DATA["gitlab_304_headers"] if n.lower() != "etag"]
            return Answer(304, b"", hd + [("etag", etag)], ctype=None)
        headers.append(("etag", etag))
    return Answer(200, body, headers)


# --------------------------------------------------------------- Gerrit

def gerrit_query_terms(q):
    """after:"..." / since:"..." and project:NAME from a Gerrit query."""
    after, before, projects, i = None, None, [], 0
    while i < len(q):
        while i < len(q) and q[i] == " ":
            i += 1
        j = i
        while j < len(q) and q[j] != ":" and q[j] != " ":
            j += 1
        key = q[i:j]
        if j < len(q) and q[j] == ":":
            j += 1
            if j < len(q) and q[j] == '"':
                k = q.index('"', j + 1)
                val = q[j + 1:k]
                j = k + 1
            else:
                k = j
                while k < len(q) and q[k] != " ":
                    k += 1
                val = q[j:k]
                j = k
            if key in ("after", "since"):
                after = val
            elif key in ("before", "until"):
                before = val
            elif key == "project":
                projects.append(val)
        i = max(j, i + 1)
    return after, before, projects


def gerrit(h, path, query):
    d = DATA
    auth = h.server.opts.gerrit_auth
    authed = path.startswith("/a/")
    if authed:
        want = "Basic " + base64.b64encode(auth.encode()).decode() if auth else None
        if want and h.headers.get("Authorization") != want:
            return Answer(401, b"Unauthorized", ctype="text/plain;charset=utf-8")
        path = path[2:]
    hdrs = d["gerrit_headers"]
    if path == "/changes/":
        after, before, projects = gerrit_query_terms(q1(query, "q", ""))
        items = d["gerrit_changes"]
        if after:
            items = [c for c in items if naive(c["updated"]) >= naive(after)]
        if before:
            items = [c for c in items if naive(c["updated"]) <= naive(before)]
        if projects:
            items = [c for c in items if c["project"] in projects]
        try:
            n = int(q1(query, "n", "500"))
            start = int(q1(query, "S", q1(query, "start", "0")))
        except ValueError:
            return Answer(400, b"bad n or S", ctype="text/plain;charset=utf-8")
        chunk = [copy.deepcopy(c) for c in items[start:start + n]]
        if chunk and start + n < len(items):
            chunk[-1]["_more_changes"] = True
        body = b")]}'\n" + json.dumps(chunk, indent=2, ensure_ascii=False).encode("utf-8")
        return Answer(200, body, [x for x in hdrs if x[0].lower() != "content-type"],
                      ctype="application/json; charset=UTF-8")
    parts = path.split("/")  # ['', 'changes', 'proj~num', 'revisions', sha, 'patch']
    if len(parts) == 6 and parts[1] == "changes" and parts[3] == "revisions" and parts[5] == "patch":
        ident = urllib.parse.unquote(parts[2])
        num = ident.rsplit("~", 1)[-1]
        patch = d["gerrit_patches"].get((int(num) if num.isdigit() else -1, parts[4]))
        if patch is None:
            return Answer(404, b"Not found: " + parts[2].encode(), ctype="text/plain;charset=utf-8")
        return Answer(200, base64.b64encode(patch),
                      [("X-FYI-Content-Encoding", "base64"), ("X-FYI-Content-Type", "application/mbox")],
                      ctype="text/plain; charset=ISO-8859-1")
    return Answer(404, b"Not found", ctype="text/plain;charset=utf-8")


# --------------------------------------------------------------- Maestro

def maestro(h, path, query):
    d = DATA
    rest = path[len("/latest"):]
    if rest.startswith("/node/"):
        n = d["maestro_by_id"].get(rest[len("/node/"):])
        if n is None:
            return Answer(404, b'{"detail":"Node not found"}')
        return Answer(200, compact(n))
    if rest in ("/nodes", "/nodes/"):
        items = list(d["maestro_nodes"])
        for key, vals in query.items():
            v = vals[-1]
            if key in ("limit", "offset"):
                continue
            field, _, op = key.partition("__")
            def get(n, f=field):
                x = n
                for part in f.split("."):
                    x = x.get(part) if isinstance(x, dict) else None
                return x
            if op == "gt":
                items = [n for n in items if get(n) is not None and naive(get(n)) > naive(v)]
            elif op == "":
                items = [n for n in items if str(get(n)) == v or (v == "null" and get(n) is None)]
        total = len(items)
        limit = int(q1(query, "limit", "50"))
        offset = int(q1(query, "offset", "0"))
        return Answer(200, compact({"items": items[offset:offset + limit], "total": total,
                                    "limit": limit, "offset": offset}))
    if rest in ("/events", "/events/"):
        items = list(d["maestro_events"])
        frm = q1(query, "from")
        if frm:
            try:
                f = naive(frm)
            except ValueError:
                return Answer(400, b'{"detail":"Invalid \'from\' parameter, must be an ISO 8601 datetime"}')
            items = [e for e in items if naive(e["timestamp"]) > f]
        for key in ("kind", "state", "result", "name", "group"):
            v = q1(query, key)
            if v:
                items = [e for e in items if str(e["data"].get(key)) == v]
        recursive = q1(query, "recursive") == "true"
        limit = q1(query, "limit")
        if recursive and (limit is None or int(limit) > 1000):
            return Answer(400, b'{"detail":"Recursive limit is too large, max is 1000"}')
        offset = int(q1(query, "offset", "0"))
        items = items[offset:offset + int(limit)] if limit else items[offset:]
        if recursive:
            items = [dict(e, node=d["maestro_by_id"].get(e["data"]["id"])) for e in items]
        return Answer(200, compact(items))
    return Answer(404, b'{"detail":"Not Found"}')


# --------------------------------------------------------------- Patchwork

def pw_page(h, path, query, items):
    per, page = page_params(query, 30, 250)
    pages = max(1, (len(items) + per - 1) // per)
    chunk = items[(page - 1) * per: page * per]
    base = h.base()

    def link(p):
        q = {k: v[-1] for k, v in query.items() if k != "page"}
        q["page"] = str(p)
        return "%s%s?%s" % (base, path, urllib.parse.urlencode(sorted(q.items())))
    links = []
    if page < pages:
        links.append('<%s>; rel="next"' % link(page + 1))
    if page > 1:
        links.append('<%s>; rel="prev"' % link(page - 1))
    links.append('<%s>; rel="first"' % link(1))
    links.append('<%s>; rel="last"' % link(pages))
    return Answer(200, compact(chunk), DATA["pw_headers"] + [("Link", ", ".join(links))])


def patchwork(h, path, query):
    d = DATA
    rest = path[len("/api/1.3"):]
    if rest == "/events/":
        items = d["pw_events"]
        proj = q1(query, "project")
        if proj:
            items = [e for e in items if e["project"]["link_name"] == proj or str(e["project"]["id"]) == proj]
        cat = q1(query, "category")
        if cat:
            items = [e for e in items if e["category"] == cat]
        since = q1(query, "since")
        if since:
            if since.endswith("Z"):  # observed on v3.1.3: an aware value is a server error
                return Answer(500, b"<h1>Server Error (500)</h1>", ctype="text/html")
            try:
                s = naive(since)
            except ValueError:  # invalid filters are ignored... with an empty list
                return pw_page(h, path, query, [])
            items = [e for e in items if naive(e["date"]) >= s]
        before = q1(query, "before")
        if before:
            items = [e for e in items if naive(e["date"]) < naive(before)]
        order = q1(query, "order", "-date")
        items = sorted(items, key=lambda e: (naive(e["date"]), e["id"]), reverse=order.startswith("-"))
        return pw_page(h, path, query, items)
    parts = rest.split("/")  # ['', 'patches', ID, 'checks', '']
    if len(parts) == 5 and parts[1] == "patches" and parts[3] == "checks" and parts[2].isdigit():
        pid = int(parts[2])
        checks = d["pw_checks"].get(pid)
        if checks is None:
            evs = [e for e in d["pw_events"] if e["category"] == "check-created" and e["payload"]["patch"]["id"] == pid]
            if not evs and not any(e["payload"].get("patch", {}) and e["payload"]["patch"].get("id") == pid
                                   for e in d["pw_events"]):
                return Answer(404, d["pw_404"])
            checks = [{"id": e["payload"]["check"]["id"], "url": e["payload"]["check"]["url"],
                       "user": e["actor"], "date": e["payload"]["check"]["date"],
                       "state": e["payload"]["check"]["state"],
                       "target_url": e["payload"]["check"]["target_url"],
                       "context": e["payload"]["check"]["context"], "description": None}
                      for e in evs]
        return pw_page(h, path, query, sorted(checks, key=lambda c: c["id"]))
    if len(parts) == 4 and parts[1] == "series" and parts[2].isdigit():
        s = d["pw_series"].get(int(parts[2]))
        if s is None:
            return Answer(404, d["pw_404"])
        return Answer(200, compact(s), d["pw_headers"])
    return Answer(404, d["pw_404"])


# --------------------------------------------------------------- server

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "replay/1"

    def log_message(self, fmt, *args):
        pass

    def base(self):
        scheme = "https" if self.server.opts.tls_cert else "http"
        return "%s://%s" % (scheme, self.headers.get("Host", "127.0.0.1"))

    def send_answer(self, a, body=None):
        body = a.body if body is None else body
        gz = (self.server.opts.gzip and body and
              "gzip" in (self.headers.get("Accept-Encoding") or ""))
        if gz:
            body = gzip.compress(body)
        self.send_response(a.status)
        for name, value in a.headers:
            if name.lower() in ("content-length", "transfer-encoding", "connection"):
                continue
            self.send_header(name, value)
        if gz:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def take_fault(self, path):
        with LOCK:
            for f in FAULTS:
                hit = path == f["path"] if f["exact"] else path.startswith(f["path"])
                if hit and f["count"] != 0:
                    if f["count"] > 0:
                        f["count"] -= 1
                    return f
        return None

    def route(self, path, query):
        if path.startswith("/api/v4/"):
            return gitlab(self, path, query)
        if path.startswith("/changes/") or path.startswith("/a/changes/"):
            return gerrit(self, path, query)
        if path.startswith("/latest/"):
            return maestro(self, path, query)
        if path.startswith("/api/1.3/"):
            return patchwork(self, path, query)
        return Answer(404, b"not found", ctype="text/plain")

    def control(self, path, query):
        if path == "/_control/fault":
            f = {"kind": q1(query, "kind", "500"), "path": q1(query, "path", "/"),
                 "count": int(q1(query, "count", "1")), "exact": q1(query, "exact") == "1",
                 "params": {k: v[-1] for k, v in query.items()}}
            with LOCK:
                FAULTS.append(f)
            return Answer(200, compact({"ok": True}))
        if path == "/_control/clear":
            with LOCK:
                FAULTS.clear()
            return Answer(200, compact({"ok": True}))
        if path == "/_control/faults":
            with LOCK:
                return Answer(200, compact([f for f in FAULTS if f["count"] != 0]))
        if path == "/_control/log":
            with LOCK:
                return Answer(200, compact(LOG))
        if path == "/_control/reset_log":
            with LOCK:
                LOG.clear()
            return Answer(200, compact({"ok": True}))
        if path == "/_control/config":
            with LOCK:
                for k in ("delay_ms", "gitlab_remaining", "gitlab_reset_in"):
                    if k in query:
                        v = q1(query, k)
                        CONFIG[k] = None if v == "" else int(v)
            return Answer(200, compact(CONFIG))
        return Answer(404, b"{}")

    def record(self, path, query, status, fault, nbytes=0):
        if self.server.opts.no_log:
            return
        entry = {"t": time.time(), "t_start": self.t_start, "path": path, "query": self.path.partition("?")[2],
                 "status": status, "fault": fault, "bytes": nbytes,
                 "if_none_match": self.headers.get("If-None-Match"),
                 "private_token": self.headers.get("PRIVATE-TOKEN"),
                 "authorization": self.headers.get("Authorization"),
                 "accept_encoding": self.headers.get("Accept-Encoding"),
                 "via_proxy": self.headers.get("X-Via-Test-Proxy"),
                 "user_agent": self.headers.get("User-Agent")}
        with LOCK:
            LOG.append(entry)

    def do_GET(self):
        self.t_start = time.time()
        u = urllib.parse.urlsplit(self.path)
        path, query = u.path, urllib.parse.parse_qs(u.query, keep_blank_values=True)
        if path.startswith("/_control/"):
            return self.send_answer(self.control(path, query))
        fault = self.take_fault(path)
        delay = CONFIG["delay_ms"]
        if delay:
            time.sleep(delay / 1000.0)
        if fault:
            self.record(path, query, None, fault["kind"])
            return self.do_fault(fault, path, query)
        try:
            a = self.route(path, query)
        except Exception as e:  # a bug in the emulator must show, not hang the client
            a = Answer(500, ("replay error: %r" % e).encode(), ctype="text/plain")
        self.send_answer(a)
        self.record(path, query, a.status, None, len(a.body))

    do_HEAD = do_GET

    def do_fault(self, f, path, query):
        kind, p = f["kind"], f["params"]
        if kind in ("500", "502", "503"):
            body = ("<html><head><title>%s</title></head><body><center><h1>%s</h1></center>"
                    "<hr><center>nginx</center></body></html>" % (kind, kind)).encode()
            return self.send_answer(Answer(int(kind), body, ctype="text/html"))
        if kind == "echo":  # a hostile proxy: the request's headers come back in the error
            cred = [(k, v) for k, v in self.headers.items() if k.lower() in ("authorization", "private-token")]
            body = ("denied " + "; ".join("%s: %s" % kv for kv in cred + list(self.headers.items()))).encode()
            return self.send_answer(Answer(500, body, ctype="text/plain"))
        if kind == "429":
            hd = [(n, v) for n, v in DATA["gitlab_429_headers"] if n.lower() != "retry-after"]
            hd.append(("retry-after", p.get("retry_after", "30")))
            return self.send_answer(Answer(429, DATA["gitlab_429_body"], hd, ctype=None))
        if kind == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        if kind == "stall":
            time.sleep(float(p.get("seconds", "30")))
            self.close_connection = True
            return
        a = self.route(path, query)
        if kind == "trickle":
            self.send_response(a.status)
            for name, value in a.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(a.body)))
            self.end_headers()
            interval = float(p.get("interval", "1"))
            try:
                for i in range(len(a.body)):
                    self.wfile.write(a.body[i:i + 1])
                    self.wfile.flush()
                    time.sleep(interval)
            except OSError:
                pass
            self.close_connection = True
            return
        if kind == "truncate":
            self.send_response(a.status)
            for name, value in a.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(a.body)))
            self.end_headers()
            self.wfile.write(a.body[: len(a.body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if kind == "malformed":
            body = a.body
            cut = max(1, len(body) // 2)
            return self.send_answer(a, body[:cut] + b'"}{]garbage' + body[cut:])
        if kind == "wrong_type":
            body = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>Sign in</body></html>"
            return self.send_answer(Answer(200, body, ctype="text/html; charset=utf-8"))
        if kind == "huge":
            mb = int(p.get("mb", "50"))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"0," * 32768
            try:
                self.wfile.write(b"1\r\n[\r\n")
                for _ in range(mb * 1024 * 1024 // len(chunk)):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.write(b"2\r\n0]\r\n0\r\n\r\n")
            except OSError:
                pass
            self.close_connection = True
            return
        return self.send_answer(Answer(500, b"unknown fault kind", ctype="text/plain"))


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fixtures", required=True)
    ap.add_argument("--local", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--gitlab-token")
    ap.add_argument("--gerrit-auth")
    ap.add_argument("--scale", type=int, default=1, help="repeat GitLab test cases N times (benchmarks)")
    ap.add_argument("--no-log", action="store_true", help="keep no request log (long benchmarks)")
    ap.add_argument("--gzip", action="store_true", help="gzip bodies for clients that accept it")
    opts = ap.parse_args()
    global DATA
    DATA = load(opts.fixtures, opts.local, opts.scale)
    srv = Server(("127.0.0.1", opts.port), Handler)
    srv.opts = opts
    if opts.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(opts.tls_cert, opts.tls_key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    port = srv.server_address[1]
    if opts.port_file:
        tmp = opts.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, opts.port_file)
    print("replay listening on 127.0.0.1:%d" % port, file=sys.stderr, flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
