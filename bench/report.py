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
         "w5x256": "W5 mix at 256 clients", "w6": "W6 school: its admission round, ranked now"}


def engines(scale):
    """The engines' reference (benches/seeded.rs) and the campaign through
    the server, medians over the rounds."""
    ref = [r["result"] for r in rows if r.get("scale") == scale and r.get("workload") == "engines"]
    run = [r["result"] for r in rows if r.get("scale") == scale and r.get("workload") == "campaign"]
    if not ref:
        return None, None
    adm = {k: statistics.median(x["admissions"][k] for x in ref) for k in ("rounds", "applications", "seconds")}
    alloc = {k: statistics.median(x["allocation"][k] for x in ref) for k in ("provinces", "forms", "assigned", "seconds")}
    if run:
        alloc["server"] = {k: statistics.median(x[k] for x in run) for k in ("seconds", "provinces", "assigned")}
        alloc["server"]["errors"] = sum(x["errors"] for x in run)
    return adm, alloc


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
        # CPU ms per request (bench/cpu.py): the system's own processes and PostgreSQL's.
        "cpu": {k: statistics.median(r["result"]["cpu_ms"][k] / (rate(r) * duration(r)) for r in picked)
                for k in ("server", "postgres")} if all("cpu_ms" in r["result"] for r in picked) else None,
    }


def duration(r):
    res = r["result"]
    return res["duration_us"] / 1e6 if "duration_us" in res else res["seconds"]


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


nproc = subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()
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
    out.append("| workload | system | req/s | p50 ms | p99 ms | errors | Ambito / PostGraphile | Ambito / ceiling "
               "| CPU ms/req: system | CPU ms/req: PostgreSQL |")
    out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    adm, alloc = engines(scale)
    for w in ("w1", "w1a", "w2", "w3", "w4", "w5", "w5x256", "w6"):
        a = cell(scale, w, "ambito")
        g = cell(scale, w, "postgraphile")
        c = cell(scale, w, "pgbench")
        ceiling = "pgbench ceiling"
        if w == "w6" and adm:
            # The ceiling of W6: the engine alone over the same rounds, one core.
            c = {"rps": adm["rounds"] / adm["seconds"], "p50": adm["seconds"] / adm["rounds"] * 1000,
                 "p99": float("nan"), "errors": 0}
            ceiling = f"engine alone, one core ({adm['rounds']:.0f} rounds, {adm['applications']:.0f} applications)"
        for system, v in (("Ambito", a), ("PostGraphile 5", g), (ceiling, c)):
            if not v:
                continue
            vs_pgl = f"{a['rps'] / g['rps']:.2f}" if system == "Ambito" and a and g else ""
            vs_ceiling = f"{a['rps'] / c['rps']:.2f}" if system == "Ambito" and a and c else ""
            p99 = f"{v['p99']:.1f}" if v["p99"] == v["p99"] else ""
            cpu = v.get("cpu")
            cpu = f"{cpu['server']:.2f} | {cpu['postgres']:.2f}" if cpu else " | "
            out.append(f"| {NAMES[w]} | {system} | {v['rps']:.0f} | {v['p50']:.1f} | {p99} | {v['errors']} "
                       f"| {vs_pgl} | {vs_ceiling} | {cpu} |")
    out.append("")
    if alloc and "server" in alloc:
        srv = alloc["server"]
        out.append(f"Mobility allocation, UT_AP_INTRA of every province ({srv['provinces']:.0f} offices, "
                   f"{alloc['forms']:.0f} forms):")
        out.append("")
        out.append("| system | seconds | forms assigned | errors | reference / Ambito |")
        out.append("|---|---:|---:|---:|---:|")
        out.append(f"| Ambito: each office runs its province over GraphQL, {nproc} at a time | {srv['seconds']:.2f} "
                   f"| {srv['assigned']:.0f} | {srv['errors']} | {alloc['seconds'] / srv['seconds']:.2f} |")
        out.append(f"| engine alone over the stored inputs, one core | {alloc['seconds']:.2f} | {alloc['assigned']:.0f} "
                   f"| 0 | |")
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
