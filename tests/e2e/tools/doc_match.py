#!/usr/bin/env python3
"""doc_match.py WANT GOT: does the output GOT (a file) match what a doc shows, WANT (a file)?
Lines must be equal, except that in WANT a line that is "..." alone stands for any number of
lines (none included), and a line ending in "..." for any line that starts with what comes
before it. Exit 0 on a match, 1 otherwise (tests/e2e/lib.sh, doc_examples)."""
import sys
from functools import lru_cache

want = open(sys.argv[1], encoding="utf-8", errors="replace").read().rstrip("\n").split("\n")
got = open(sys.argv[2], encoding="utf-8", errors="replace").read().rstrip("\n").split("\n")
sys.setrecursionlimit(10000)


@lru_cache(maxsize=None)
def match(i, j):
    if i == len(want):
        return j == len(got)
    w = want[i]
    if w == "...":
        return any(match(i + 1, k) for k in range(j, len(got) + 1))
    if j == len(got):
        return False
    g = got[j]
    ok = g.startswith(w[:-3]) if w.endswith("...") else g == w
    return ok and match(i + 1, j + 1)


sys.exit(0 if match(0, 0) else 1)
