#!/usr/bin/env python3
"""Turns bench/run's results (JSON lines) into the load table of
BENCHMARKS.md, between the markers `<!-- load:start -->` and
`<!-- load:end -->`. Medians over the rounds."""
import json
import platform
import statistics
import subprocess
import sys

from benchdoc import write_block

results_path, doc_path = sys.argv[1], sys.argv[2]
rows = [json.loads(line) for line in open(results_path) if line.strip()]
NAMES = {"w1": "W1 school: 50 pupils", "w1a": "W1 without names (nothing audited)", "w2": "W2 hub: 50 open requests", "w3": "W3 office: hours by order and ambit",
         "w4": "W4 school: update a support request", "w5": "W5 mix 80/10/5/5",
         "w5x256": "W5 mix at 256 clients"}


def rate(r):
    res = r["result"]
    return res["tps"] if "tps" in res else res["requests"] / (res["duration_us"] / 1e6)


def cell(scale, workload, system):
    picked = [r for r in rows if r.get("scale") == scale and r.get("workload") == workload and r.get("system") == system]
    if not picked:
        return None
    return {
        "rps": statistics.median(rate(r) for r in picked),
        "p50": statistics.median(r["result"]["p50_us"] for r in picked) / 1000,
        "p99": statistics.median(r["result"]["p99_us"] for r in picked) / 1000,
        "errors": sum(r["result"].get("errors", 0) + r["result"].get("socket_errors", 0) for r in picked),
        "rounds": len(picked),
    }


def version(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True).stdout.strip().splitlines()[0]
    except (OSError, IndexError):
        return "?"


def pgl_version():
    try:
        return json.load(open("target/bench/pgl/node_modules/postgraphile/package.json"))["version"]
    except OSError:
        return "?"


scales = [s for s in ("province", "national") if any(r.get("scale") == s for r in rows)]
out = ["",
       f"Machine: {platform.machine()}, {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores; "
       f"{version(['wrk', '--version'])}; {version(['/usr/lib/postgresql/15/bin/pgbench', '--version'])}; "
       f"PostGraphile {pgl_version()} on Node.js {version(['target/bench/pgl/node_modules/.bin/node', '--version'])}. "
       "Server, database, load generator and pgbench share the machine.", ""]
for scale in scales:
    seed = next((r for r in rows if r.get("scale") == scale and "seed_seconds" in r), None)
    out.append(f"**{scale} scale**" + (f" (generated in {seed['seed_seconds']:.0f} s)" if seed else ""))
    out.append("")
    out.append("| workload | system | req/s | p50 ms | p99 ms | errors | Ambito / PostGraphile | Ambito / ceiling |")
    out.append("|---|---|---:|---:|---:|---:|---:|---:|")
    for w in ("w1", "w1a", "w2", "w3", "w4", "w5", "w5x256"):
        a = cell(scale, w, "ambito")
        g = cell(scale, w, "postgraphile")
        c = cell(scale, w, "pgbench")
        for system, v in (("Ambito", a), ("PostGraphile 5", g), ("pgbench ceiling", c)):
            if not v:
                continue
            vs_pgl = f"{a['rps'] / g['rps']:.2f}" if system == "Ambito" and a and g else ""
            vs_ceiling = f"{a['rps'] / c['rps']:.2f}" if system == "Ambito" and a and c else ""
            out.append(f"| {NAMES[w]} | {system} | {v['rps']:.0f} | {v['p50']:.1f} | {v['p99']:.1f} | {v['errors']} "
                       f"| {vs_pgl} | {vs_ceiling} |")
    out.append("")
if len(scales) == 2:
    out.append("| scaling (national / province), Ambito | p50 ratio | p99 ratio |")
    out.append("|---|---:|---:|")
    for w in ("w1", "w2"):
        p, n = cell("province", w, "ambito"), cell("national", w, "ambito")
        if p and n:
            out.append(f"| {NAMES[w]} | {n['p50'] / p['p50']:.2f} | {n['p99'] / p['p99']:.2f} |")
    out.append("")
write_block(doc_path, "load", out)
