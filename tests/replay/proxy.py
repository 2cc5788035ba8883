#!/usr/bin/env python3
"""proxy.py - a plain HTTP forward proxy for tests (absolute-form GETs only).

Test code.  Forwards each request to the origin named in its absolute URI,
adds "X-Via-Test-Proxy: 1" so the origin can tell, and copies the answer
back byte for byte.  Usage: proxy.py --port-file FILE
"""
import argparse
import http.client
import os
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        if u.scheme != "http" or not u.hostname:
            self.send_error(400, "absolute http:// URI expected")
            return
        conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=30)
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("proxy-connection", "connection", "host")}
        headers["X-Via-Test-Proxy"] = "1"
        conn.request("GET", (u.path or "/") + ("?" + u.query if u.query else ""), headers=headers)
        r = conn.getresponse()
        body = r.read()
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    opts = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    with open(opts.port_file + ".tmp", "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(opts.port_file + ".tmp", opts.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
