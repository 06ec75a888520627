#!/usr/bin/env python3
"""Turns bench/storm's results (JSON lines) into the login storm's table of
BENCHMARKS.md, between `<!-- storm:start -->` and `<!-- storm:end -->`:
per workload, the paced load alone and during the storm, and the ratio of
their p99 (median over the rounds), with what the storm's logins got.

Usage: storm_report.py RESULTS DOC CLIENTS THINK_MS STORM DURATION"""
import json
import statistics
import sys

from benchdoc import write_block

results_path, doc_path, clients, think, storm, duration = sys.argv[1:7]
rows = [json.loads(line) for line in open(results_path) if line.strip()]
NAMES = {"w1": "W1 school: 50 pupils", "w1a": "W1 without names", "w2": "W2 hub: 50 open requests",
         "w3": "W3 office report", "w5": "W5 mix"}


def rate(res):
    return res["requests"] / (res["duration_us"] / 1e6)


def med(picked, key):
    return statistics.median(key(r["result"]) for r in picked)


out = ["",
       f"{clients} connections of ordinary requests, each pausing {think} ms before its next; "
       f"{storm} connections of logins as fast as they are answered; {duration} s each; "
       f"median of {max(r['round'] for r in rows)} rounds.", "",
       "| ordinary requests | req/s alone | p99 ms alone | req/s in the storm | p99 ms in the storm | p99 ratio "
       "| logins/s | login p50 ms | login p99 ms | errors |",
       "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
for w in dict.fromkeys(r["workload"] for r in rows if r["workload"] != "logins"):
    alone = [r for r in rows if r["workload"] == w and not r["storm"]]
    during = [r for r in rows if r["workload"] == w and r["storm"]]
    logins = [r for r in rows if r.get("during") == w]
    ratios = [d["result"]["p99_us"] / a["result"]["p99_us"] for a, d in zip(alone, during)]
    errors = sum(r["result"]["errors"] + r["result"]["socket_errors"] for r in alone + during + logins)
    out.append(f"| {NAMES.get(w, w)} | {med(alone, rate):.0f} | {med(alone, lambda x: x['p99_us']) / 1000:.1f} "
               f"| {med(during, rate):.0f} | {med(during, lambda x: x['p99_us']) / 1000:.1f} "
               f"| **{statistics.median(ratios):.2f}** | {med(logins, rate):.0f} "
               f"| {med(logins, lambda x: x['p50_us']) / 1000:.0f} | {med(logins, lambda x: x['p99_us']) / 1000:.0f} "
               f"| {errors} |")
out.append("")
write_block(doc_path, "storm", out)
