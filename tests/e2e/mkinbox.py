#!/usr/bin/env python3
"""mkinbox.py - build a public-inbox v2 inbox from an mboxrd file with git fast-import.

    mkinbox.py MBOX INBOX [--epochs N] [--skip-first K] [--only-first K]

Independent of cifeed: messages are split on mboxrd "From " lines, the
">From" quoting is undone, and each message becomes one commit whose tree
holds exactly `m` (public-inbox-v2.md section 2).  With --epochs N the
messages are spread over N epochs (git/0.git ... git/N-1.git), each with
its own root commit; --new-epoch starts after the newest existing epoch
instead of continuing it.  --only-first K writes the first K messages; appending
to an existing inbox continues the newest epoch (--skip-first K skips the
first K messages of the mbox).
"""
import argparse, os, re, subprocess, sys

def messages(path):
    data = open(path, 'rb').read()
    parts = re.split(rb'(?m)^From [^\n]*\n', data)
    for p in parts[1:]:
        if p.endswith(b'\n\n'):
            p = p[:-1]
        yield re.sub(rb'(?m)^>(>*From )', rb'\1', p)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('mbox'); ap.add_argument('inbox')
    ap.add_argument('--epochs', type=int, default=1)
    ap.add_argument('--skip-first', type=int, default=0)
    ap.add_argument('--only-first', type=int, default=None)
    ap.add_argument('--new-epoch', action='store_true', help='start a new epoch instead of continuing the newest')
    a = ap.parse_args()
    msgs = list(messages(a.mbox))[a.skip_first:]
    if a.only_first is not None:
        msgs = msgs[:a.only_first]
    os.makedirs(os.path.join(a.inbox, 'git'), exist_ok=True)
    open(os.path.join(a.inbox, 'inbox.lock'), 'ab').close()
    per = -(-len(msgs) // a.epochs) if msgs else 0
    existing = sorted(int(d[:-4]) for d in os.listdir(os.path.join(a.inbox, 'git')) if d.endswith('.git'))
    first_epoch = (existing[-1] + (1 if a.new_epoch else 0)) if existing else 0
    for e in range(a.epochs):
        chunk = msgs[e * per:(e + 1) * per]
        if not chunk:
            continue
        epoch = first_epoch + e
        repo = os.path.join(a.inbox, 'git', '%d.git' % epoch)
        if not os.path.isdir(repo):
            subprocess.run(['git', 'init', '-q', '--bare', '-b', 'master', repo], check=True)
        has_tip = subprocess.run(['git', '-C', repo, 'rev-parse', '-q', '--verify', 'refs/heads/master'],
                                 capture_output=True).returncode == 0
        out = []
        for i, m in enumerate(chunk):
            t = 1700000000 + e * 100000 + i
            out.append(b'commit refs/heads/master\n')
            out.append(b'author test <test@example.invalid> %d +0000\n' % t)
            out.append(b'committer test <test@example.invalid> %d +0000\n' % t)
            out.append(b'data 4\nmsg\n\n')
            if i == 0 and has_tip:
                out.append(b'from refs/heads/master^0\n')
            out.append(b'deleteall\nM 100644 inline m\ndata %d\n' % len(m))
            out.append(m)
            out.append(b'\n')
        subprocess.run(['git', '-C', repo, 'fast-import', '--quiet'], input=b''.join(out), check=True)
    print(len(msgs))

main()
