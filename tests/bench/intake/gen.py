#!/usr/bin/env python3
"""gen.py MBOX COPIES OUT - COPIES renamed copies of a real mbox, as one mboxrd file.

Copy k of every message gets ".k" appended to each id in its Message-ID,
In-Reply-To and References headers (header block only), so every copy is
new to intake yet threads, series and replies keep their real shape.
"""
import re, sys

src, copies, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
data = open(src, 'rb').read()
msgs = [p[:-1] if p.endswith(b'\n\n') else p for p in re.split(rb'(?m)^From [^\n]*\n', data)[1:]]
HDR = re.compile(rb'(?mi)^(message-id|in-reply-to|references):(.*(?:\n[ \t].*)*)')
with open(out, 'wb') as f:
    for k in range(copies):
        for m in msgs:
            head, sep, body = m.partition(b'\n\n')
            head = HDR.sub(lambda h: h.group(1) + b':' + re.sub(
                rb'<([^<>\s]+)>', lambda i: b'<' + i.group(1) + b'.%d>' % k, h.group(2)), head)
            f.write(b'From mboxrd@z Thu Jan  1 00:00:00 1970\n' + head + sep + body + b'\n')
print(len(msgs) * copies)
