#!/usr/bin/env python3
"""Sends N requests of a workload file (`token<TAB>body` lines, as
prepare.py writes them) one after the other over one connection, starting
at line START, and prints how many answered with an error.

Usage: send.py FILE N PORT START
"""
import http.client
import sys

path, n, port, start = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
lines = [line.rstrip("\n").split("\t", 1) for line in open(path)]
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
errors = 0
for i in range(n):
    token, body = lines[(start + i) % len(lines)]
    headers = {"content-type": "application/json"}
    if token != "-":
        headers["authorization"] = "Bearer " + token
    conn.request("POST", "/graphql", body, headers)
    answer = conn.getresponse()
    data = answer.read()
    if answer.status != 200 or b'"errors"' in data:
        errors += 1
print(errors)
