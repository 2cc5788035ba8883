#!/usr/bin/env python3
"""basenag_expect.py MBOX SINCE - the nags basenag must send for MBOX, derived
with Python's email package alone (none of cifeed's code), for the test
configuration: period long enough for one nag per sender, no RFCs, no rate
limit in the way, settle 0.

A series starts at a cover letter ([PATCH ... 0/N]), a patch without a
counter, or a patch 1/N that does not answer a cover letter.  Its members are
the patch mails of the same author and total that reference the start.  It is
nagged when: its start answers nothing (not a reply), it is not RFC, nothing
in it is Auto-Submitted, the author is not a bot or a devnull address, every
part 1..N arrived, and no member carries base information at column 0
(base-commit:, prerequisite-*:, Based-on:, "based on <sha>").  Each author is
nagged once, about the earliest such series by Date, in reply to its cover
letter or first patch.  Prints "recipient in-reply-to" lines, sorted.
"""
import email.header
import email.utils
import mailbox
import re
import sys

BASE = re.compile(rb"^(base-commit:|prerequisite-(patch|change|message)-id:|based-on:)"
                  rb"|based on .*?[0-9a-f]{40}", re.I | re.M)
BOTS = re.compile(r"^(lkp@intel\.com|.*no-?reply.*@.*|.*-bot@.*|patchwork-bot.*@kernel\.org"
                  r"|bugbot@kernel\.org|devnull(\+.*)?@.*)$", re.I)


def subject(m):
    s = str(email.header.make_header(email.header.decode_header(m.get("Subject", ""))))
    return " ".join(s.split())


def prefix(s):
    """(reply, tokens, counter, total) of a subject."""
    reply = bool(re.match(r"(?i)(re|aw|sv|fwd?)\s*:", s))
    toks = []
    for b in re.findall(r"\[([^\]]*)\]", s):
        toks += b.replace(",", " ").split()
    counter = total = None
    for t in toks:
        mm = re.fullmatch(r"(\d+)/(\d+)", t)
        if mm:
            counter, total = int(mm.group(1)), int(mm.group(2))
    return reply, [t.upper() for t in toks], counter, total


def ids(v):
    return re.findall(r"<([^>]+)>", v or "")


def body(m):
    out = b""
    for part in m.walk():
        if part.get_content_maintype() == "text" and part.get_content_subtype() != "html":
            out += part.get_payload(decode=True) or b""
    return out


def main():
    path, since = sys.argv[1], sys.argv[2]
    msgs = []
    for m in mailbox.mbox(path):
        s = subject(m)
        reply, toks, counter, total = prefix(s)
        patch = any(t.startswith("PATCH") or t == "RFC" for t in toks)
        if reply or not patch or any("PULL" in t for t in toks):
            continue
        mid = (ids(m.get("Message-ID")) or [None])[0]
        irt = (ids(m.get("In-Reply-To")) or [None])[0]
        refs = ids(m.get("References")) + ([irt] if irt else [])
        date = email.utils.parsedate_to_datetime(m["Date"])
        frm = email.utils.parseaddr(m.get("From", ""))[1].lower()
        msgs.append(dict(mid=mid, irt=irt, refs=refs, date=date, frm=frm, counter=counter,
                         total=total or 1, rfc="RFC" in toks,
                         auto=(m.get("Auto-Submitted") or "no").strip().lower() != "no",
                         base=bool(BASE.search(body(m)))))
    by_id = {x["mid"]: x for x in msgs}
    starts = [x for x in msgs
              if x["counter"] in (None, 0)
              or (x["counter"] == 1 and not (x["irt"] in by_id and by_id[x["irt"]]["counter"] == 0))]
    nags = {}
    for st in sorted(starts, key=lambda x: x["date"]):
        if st["date"].strftime("%Y-%m-%d") < since:
            continue
        members = [st] + [x for x in msgs if x is not st and st["mid"] in x["refs"]
                          and x["frm"] == st["frm"] and x["total"] == st["total"]
                          and x["counter"] not in (None, 0)]
        got = {x["counter"] for x in members if x["counter"]} | ({1} if st["counter"] is None else set())
        if st["irt"] or st["rfc"] or BOTS.match(st["frm"]):
            continue
        if any(x["auto"] or x["base"] for x in members):
            continue
        if not set(range(1, st["total"] + 1)) <= got:
            continue
        if st["frm"] not in nags:
            nags[st["frm"]] = st["mid"]
    for frm, mid in sorted(nags.items()):
        print(frm, mid)


if __name__ == "__main__":
    main()
