#!/usr/bin/env python3
"""httpprobe.py - raw-socket HTTP clients that misbehave, for the e2e tests.

    httpprobe.py PORT CHECK [ARGS]

Each check talks to a running `cifeed serve` on 127.0.0.1:PORT, prints what it
saw and exits 0 when the server behaved, 1 (with a reason) otherwise.  Raw
sockets because curl refuses to send most of these requests.
"""
import json
import socket
import sys
import threading
import time

PORT = int(sys.argv[1])


def die(msg):
    print("httpprobe: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def connect(timeout=10):
    s = socket.create_connection(("127.0.0.1", PORT), timeout=timeout)
    s.settimeout(timeout)
    return s


def read_all(s):
    out = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
    except socket.timeout:
        out += b"<timeout>"
    except ConnectionResetError:
        out += b"<reset>"
    return out


def send_recv(data, timeout=10):
    s = connect(timeout)
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may answer and close before we finish sending
    out = read_all(s)
    s.close()
    return out


def parse(resp):
    """Split the first response into (status, headers dict, body)."""
    head, _, rest = resp.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    if not lines or not lines[0].startswith(b"HTTP/1.1 "):
        die("not an HTTP response: %r" % resp[:200])
    status = int(lines[0].split()[1])
    hdrs = {}
    for l in lines[1:]:
        k, _, v = l.partition(b":")
        hdrs[k.strip().lower().decode()] = v.strip().decode()
    n = int(hdrs.get("content-length", "0"))
    return status, hdrs, rest[:n], rest[n:]


def expect_error(resp, status, what):
    st, h, body, _ = parse(resp)
    if st != status:
        die("%s: expected %d, got %d %r" % (what, status, st, body[:200]))
    doc = json.loads(body)
    if doc.get("error", {}).get("status") != status:
        die("%s: error body %r" % (what, body))
    if h.get("connection") != "close":
        die("%s: error answers must close the connection" % what)
    print("%s: %d %s" % (what, st, doc["error"]["message"]))


def healthy(what):
    t0 = time.monotonic()
    resp = send_recv(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 5)
    st = parse(resp)[0]
    if st != 200:
        die("%s: server unhealthy afterwards (%d)" % (what, st))
    return time.monotonic() - t0


def check_limits():
    H = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
    many = H + b"".join(b"X-Header-%d: value\r\n" % i for i in range(10000)) + b"\r\n"
    expect_error(send_recv(many), 431, "10000 headers")
    healthy("10000 headers")
    expect_error(send_recv(H + b"X-Big: " + b"a" * 20000 + b"\r\n\r\n"), 431, "20 KB header")
    expect_error(send_recv(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"), 414, "9 KB URL")
    # a declared body over max-request-size (64k here) is refused before it is sent
    expect_error(send_recv(b"POST /api/v1/skip HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                           b"Content-Length: 10000000\r\n\r\n"), 413, "10 MB Content-Length")
    big = b"x" * 70000
    chunked = (b"POST /api/v1/skip HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               + b"%x\r\n" % len(big) + big + b"\r\n0\r\n\r\n")
    expect_error(send_recv(chunked), 413, "70 KB chunked body")
    for what, req in [
        ("garbage request line", b"HELLO\r\n\r\n"),
        ("bad version", b"GET / HTTP/9.Z\r\n\r\n"),
        ("bad chunk size", b"POST /api/v1/skip HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
        ("bad header name", b"GET /healthz HTTP/1.1\r\nBad Header: x\r\n\r\n"),
        ("NUL in URL", b"GET /he\x00althz HTTP/1.1\r\n\r\n"),
        ("two Content-Lengths", b"POST /api/v1/skip HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"),
        ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
        ("binary", bytes(range(256)) * 4),
    ]:
        expect_error(send_recv(req), 400, what)
    healthy("malformed requests")
    # a truncated JSON body sent in full is a 400 from the API, connection kept
    body = b'{"commit": "' + b"a" * 40 + b'", "tests": ["x"'
    resp = send_recv(b"POST /api/v1/skip HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    st, _, b, _ = parse(resp)
    if st != 400 or b"not valid JSON" not in b:
        die("truncated JSON body: %d %r" % (st, b))
    # a client that leaves mid-request and mid-body
    s = connect()
    s.sendall(b"POST /api/v1/skip HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"co")
    s.close()
    s = connect()
    s.sendall(b"GET /heal")
    s.close()
    healthy("clients that left")


def check_keepalive():
    s = connect()
    reqs = b"".join(b"GET /healthz?n=%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(3))
    # pipelined: three requests in one write, three answers in order
    s.sendall(reqs.replace(b"?n=0", b"").replace(b"?n=1", b"").replace(b"?n=2", b""))
    buf = b""
    got = []
    deadline = time.monotonic() + 10
    while len(got) < 3 and time.monotonic() < deadline:
        buf += s.recv(65536)
        while True:
            try:
                st, h, body, rest = parse(buf)
            except Exception:
                break
            if len(body) < int(h.get("content-length", 0)):
                break
            got.append(st)
            buf = rest
            if not buf:
                break
    if got != [200, 200, 200]:
        die("pipelining: %r" % got)
    # the same connection keeps serving
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    st = parse(s.recv(65536))[0]
    if st != 200:
        die("keep-alive reuse: %d" % st)
    s.close()
    print("keep-alive and pipelining: ok")


def check_idle(idle):
    s = connect()
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    parse(s.recv(65536))
    t0 = time.monotonic()
    s.settimeout(idle + 5)
    d = s.recv(100)
    dt = time.monotonic() - t0
    if d != b"" or dt < idle - 0.5 or dt > idle + 3:
        die("idle keep-alive connection closed after %.2fs (limit %ds), data %r" % (dt, idle, d))
    print("idle connection closed after %.2fs" % dt)


def check_slowloris(limit, nslow):
    """nslow clients dribble headers; each is cut off at the request limit
    while normal clients keep being answered quickly."""
    results = []

    def slow(i):
        s = connect(limit + 10)
        t0 = time.monotonic()
        s.sendall(b"GET /healthz HTTP/1.1\r\n")
        out = b""
        try:
            for k in range(1000):
                s.sendall(b"X-Slow-%d: %d\r\n" % (i, k))
                s.settimeout(0.3)
                try:
                    d = s.recv(65536)
                    if d:
                        out += d
                        s.settimeout(5)
                        out += read_all(s)
                        break
                    break
                except socket.timeout:
                    pass
                if time.monotonic() - t0 > limit + 8:
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
        results.append((time.monotonic() - t0, out))
        s.close()

    threads = [threading.Thread(target=slow, args=(i,)) for i in range(nslow)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    worst = 0.0
    served = 0
    t_end = time.monotonic() + limit + 0.5
    while time.monotonic() < t_end:
        worst = max(worst, healthy("beside slowloris"))
        served += 1
        time.sleep(0.05)
    for t in threads:
        t.join()
    for dt, out in results:
        if dt < limit - 0.2 or dt > limit + 3:
            die("slow client cut off after %.2fs, limit %ds" % (dt, limit))
        if not out.startswith(b"HTTP/1.1 408 "):
            die("slow client got %r" % out[:100])
    if worst > 0.5:
        die("normal requests slowed to %.3fs beside slow clients" % worst)
    print("%d slow clients cut off after %.2f-%.2fs with 408; %d normal requests served beside "
          "them, slowest %.1f ms" % (nslow, min(r[0] for r in results), max(r[0] for r in results),
                                      served, worst * 1000))


def check_cap(cap):
    held = [connect() for _ in range(cap)]
    time.sleep(0.3)
    resp = send_recv(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    st, h, body, _ = parse(resp)
    if st != 503 or h.get("retry-after") != "1":
        die("connection %d over the cap of %d got %d" % (cap + 1, cap, st))
    # the held connections still work
    held[0].sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    if parse(held[0].recv(65536))[0] != 200:
        die("held connection not served")
    for s in held:
        s.close()
    time.sleep(0.3)
    healthy("after the cap")
    print("connection cap %d: next connection got 503, capacity came back" % cap)


def check_rate(rate):
    time.sleep(1.1)  # let the bucket refill after the caller's health checks
    s = connect()
    codes = []
    for _ in range(rate * 4):
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        st, h, body, _ = parse(s.recv(65536))
        codes.append(st)
        if st == 429 and h.get("retry-after") != "1":
            die("429 without Retry-After")
    ok, limited = codes.count(200), codes.count(429)
    if limited == 0 or ok < rate or ok > rate * 2:
        die("rate limit %d/s: %d answered, %d limited" % (rate, ok, limited))
    time.sleep(1.2)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    if parse(s.recv(65536))[0] != 200:
        die("rate limit did not refill")
    s.close()
    print("rate limit %d/s: %d answered, %d got 429" % (rate, ok, limited))


checks = {
    "limits": lambda a: check_limits(),
    "keepalive": lambda a: check_keepalive(),
    "idle": lambda a: check_idle(int(a[0])),
    "slowloris": lambda a: check_slowloris(int(a[0]), int(a[1])),
    "cap": lambda a: check_cap(int(a[0])),
    "rate": lambda a: check_rate(int(a[0])),
}
checks[sys.argv[2]](sys.argv[3:])
