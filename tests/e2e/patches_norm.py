#!/usr/bin/env python3
"""patches_norm.py - `cifeed patches --json` in a canonical order, for comparisons.

Series sorted by root, patches by Message-ID, every list of objects sorted,
so two stores holding the same facts print the same bytes whatever order
rows were written in.
"""
import json, sys

def canon(v):
    if isinstance(v, dict):
        return {k: canon(x) for k, x in sorted(v.items())}
    if isinstance(v, list):
        items = [canon(x) for x in v]
        return sorted(items, key=lambda x: json.dumps(x, sort_keys=True))
    return v

json.dump(canon(json.load(sys.stdin)), sys.stdout, indent=1, sort_keys=True)
print()
