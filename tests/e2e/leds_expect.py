#!/usr/bin/env python3
"""leds_expect.py - what intake must find in an mbox, derived without cifeed.

    leds_expect.py MBOX            -> JSON: patches, covers, series, series_base,
                                      base_commit_mails, per-message facts

Python's email package decodes subjects and bodies; the rules are the ones
cifeed documents (core/patchmail.h, core/intake.h), written again here:
  patch mail   not a reply (Re:/Aw:/Sv:/Antw:/Odp:/Vs:), not a forward,
               no PULL token, a PATCH or RFC token in the leading [...] groups
  cover        a patch mail with counter 0/N
  series       keyed by its starting message: a cover letter or a patch
               without counter starts its own; patch M/N joins the series of
               the nearest message it answers (In-Reply-To, then References
               newest first) that is an earlier patch mail with the same
               version, total and sender; else 1/N starts one, M>1 belongs
               to the series of its In-Reply-To
  reply tags   in a reply, unquoted lines before the "-- " signature that
               start with Acked-by:, Reviewed-by:, Tested-by:, Reported-by:,
               Suggested-by:, Reviewed-and-tested-by:, Debugged-by: or
               Requested-by:, tied to the nearest earlier patch mail the reply
               answers (In-Reply-To, then References newest first)
  base info    a decoded text line starting with base-commit:,
               prerequisite-patch-id:, prerequisite-change-id:,
               prerequisite-message-id: or Based-on:
"""
import email, email.header, email.policy, email.utils, json, re, sys

def messages(path):
    data = open(path, 'rb').read()
    for p in re.split(rb'(?m)^From [^\n]*\n', data)[1:]:
        if p.endswith(b'\n\n'):
            p = p[:-1]
        yield re.sub(rb'(?m)^>(>*From )', rb'\1', p)

def subject(m):
    raw = m.get('Subject', '')
    try:
        s = str(email.header.make_header(email.header.decode_header(raw)))
    except Exception:
        s = raw
    return ' '.join(s.split())

def ids(v):
    return re.findall(r'<([^<>\s]+)>', v or '')

REPLY = re.compile(r'(?i)^(re|aw|sv|antw|odp|vs)(\[\d+\])?\s*:\s*')
FWD = re.compile(r'(?i)^(fwd|fw)(\[\d+\])?\s*:\s*')

def prefix(s):
    info = dict(reply=False, fwd=False, patch=False, rfc=False, pull=False, version=1,
                counter=None, total=1)
    while True:
        if REPLY.match(s):
            info['reply'] = True; s = REPLY.sub('', s, 1); continue
        if FWD.match(s):
            info['fwd'] = True; s = FWD.sub('', s, 1); continue
        m = re.match(r'^\[([^\]]*)\]\s*', s)
        if not m:
            break
        for t in re.split(r'[\s,]+', m.group(1)):
            if re.fullmatch(r'(?i)patch([-_]?v\d+)?', t):
                info['patch'] = True
                v = re.search(r'\d+$', t)
                if v and t.lower() != 'patch': info['version'] = int(v.group())
            elif re.fullmatch(r'(?i)rfc([-_]?v\d+)?', t):
                info['rfc'] = True
                v = re.search(r'v(\d+)$', t, re.I)
                if v: info['version'] = int(v.group(1))
            elif re.fullmatch(r'(?i)pull', t):
                info['pull'] = True
            elif re.fullmatch(r'[vV]\d{1,6}', t):
                info['version'] = int(t[1:])
            elif re.fullmatch(r'\d+/\d+', t) and len(t) < 16:
                a, b = t.split('/'); info['counter'] = int(a); info['total'] = int(b)
        s = s[m.end():]
    return info

def text(m):
    out = []
    for part in m.walk():
        if part.is_multipart():
            continue
        ct = part.get_content_type()
        if ct == 'text/html' or not (ct.startswith('text/') or 'patch' in ct or 'diff' in ct):
            continue
        b = part.get_payload(decode=True) or b''
        cs = part.get_content_charset() or 'utf-8'
        try:
            out.append(b.decode(cs, 'replace'))
        except LookupError:
            out.append(b.decode('latin-1'))
    return '\n'.join(out)

BASE = re.compile(r'(?mi)^(base-commit|prerequisite-patch-id|prerequisite-change-id|'
                  r'prerequisite-message-id|based-on):')

TAG = re.compile(r'(?i)^(acked-by|reviewed-by|tested-by|reported-by|suggested-by|'
                 r'reviewed-and-tested-by|debugged-by|requested-by):(.*)$')

def reply_tags(body):
    tags = []
    for line in body.split('\n'):
        line = line.rstrip('\r')
        if line == '-- ':
            break
        if not line or line[0] in '> \t':
            continue
        m = TAG.match(line)
        if m and m.group(2).strip():
            t = (m.group(1).lower(), m.group(2).strip())
            if t not in tags:
                tags.append(t)
    return tags

def main():
    known = {}      # msgid -> dict(version, total, email, root)
    replies = []    # (target, source, key, value)
    series = {}     # root -> has_base
    series_meta = {}  # root -> (version, total, sender) of its first message
    out = dict(patches=0, covers=0, base_commit_mails=0, messages=0, mails={})
    for raw in messages(sys.argv[1]):
        out['messages'] += 1
        m = email.message_from_bytes(raw)
        mid = (ids(m.get('Message-ID')) or [None])[0]
        if not mid:
            continue
        s = subject(m)
        p = prefix(s)
        if p['reply'] and not p['fwd']:
            irt = (ids(m.get('In-Reply-To')) or [None])[0]
            cands = ([irt] if irt else []) + list(reversed(ids(m.get('References'))))
            target = next((c for c in cands if c in known), irt)
            for k, v in reply_tags(text(m)):
                if target:
                    replies.append((target, mid, k, v))
            continue
        if p['reply'] or p['fwd'] or p['pull'] or not (p['patch'] or p['rfc']):
            continue
        if mid in known:
            continue
        sender = (email.utils.parseaddr(m.get('From', ''))[1] or '').lower()
        body = text(m)
        if re.search(r'(?m)^base-commit:', body):
            out['base_commit_mails'] += 1
        cover = p['counter'] == 0
        out['covers' if cover else 'patches'] += 1
        if cover or p['counter'] is None:
            root = mid
        else:
            irt = (ids(m.get('In-Reply-To')) or [None])[0]
            cands = ([irt] if irt else []) + list(reversed(ids(m.get('References'))))
            root = None
            for i, c in enumerate(cands):
                k = known.get(c)
                vok = k and (k['version'] == p['version'] or (i == 0 and irt and p['counter'] > 1))
                if k and vok and k['total'] == p['total'] and k['email'] == sender:
                    root = k['root']; break
            if root is None:
                # predict the unseen cover letter, unless that key is a stored
                # patch mail or a series of another version/total/sender
                own = not irt or irt == mid or irt in known
                meta = series_meta.get(irt)
                if not own and meta and not (meta[2] == sender and meta[1] == p['total'] and
                                             (meta[0] == p['version'] or p['counter'] > 1)):
                    own = True
                root = mid if own else irt
        known[mid] = dict(version=p['version'], total=p['total'], email=sender, root=root)
        series_meta.setdefault(root, (p['version'], p['total'], sender))
        series[root] = series.get(root, False) or bool(BASE.search(body))
        out['mails'][mid] = dict(kind='cover' if cover else 'patch', root=root)
    out['reply_tags'] = sorted(set(r for r in replies if r[0] in known))
    out['series'] = len(series)
    out['series_base'] = sum(series.values())
    json.dump(out, sys.stdout)

main()
