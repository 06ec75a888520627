#!/usr/bin/env python3
"""Checks that two servers answer a workload alike before they are timed:
the first request of each file (bench/prepare.py's `token<TAB>body` lines)
is sent to its server, and both answers must show the same, non-zero
number of rows (`totalCount`, else the length of the first list). A
PostGraphile that sees no rows (a wrong token, a stale server on the port)
answers fast and without errors, so only this shows it.

    bench/same.py w1a URL_A FILE_A URL_B FILE_B
"""
import json
import sys
from urllib.request import Request, urlopen


def answer(url, path):
    token, body = open(path).readline().rstrip("\n").split("\t", 1)
    headers = {"content-type": "application/json"}
    if token != "-":
        headers["authorization"] = f"Bearer {token}"
    with urlopen(Request(url, data=body.encode(), headers=headers), timeout=600) as resp:
        return json.load(resp)


def rows(value):
    """totalCount if the answer has one, else the length of its first list."""
    if isinstance(value, dict):
        if "totalCount" in value:
            return int(value["totalCount"])
        for v in value.values():
            n = rows(v)
            if n is not None:
                return n
    if isinstance(value, list):
        return len(value)
    return None


name, url_a, file_a, url_b, file_b = sys.argv[1:6]
a, b = answer(url_a, file_a), answer(url_b, file_b)
ra, rb = rows(a.get("data")), rows(b.get("data"))
if "errors" in a or "errors" in b or not ra or ra != rb:
    sys.exit(f"bench/same.py: {name}: the servers do not answer alike ({ra} rows against {rb}; "
             f"errors: {a.get('errors')} / {b.get('errors')})")
print(f"{name}: both servers answer {ra} rows")
