#!/usr/bin/env python3
"""Runs a load command and says how much CPU each named process tree used
while it ran: where a request's time goes, server or database.

    bench/cpu.py server=PID postgres=PID client=self -- wrk ...

Passes the command's output through. Its `RESULT {...}` line gets a
`"cpu_ms": {"server": ..., "postgres": ..., "client": ...}` member (CPU
milliseconds of each tree over the run, user and system, the tree's reaped
children included; `self` is the command itself); without a RESULT line, a
line `CPU {...}` is added instead.
Linux only (/proc)."""
import json
import os
import resource
import subprocess
import sys
import time

TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def processes():
    """{pid: (parent pid, CPU ticks of the process and its reaped children)}."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name (in parentheses) may hold spaces: split after it.
        fields = stat[stat.rindex(")") + 2:].split()
        out[int(name)] = (int(fields[1]), sum(int(x) for x in fields[11:15]))
    return out


def tree_ticks(root, procs):
    """Ticks of ROOT and of every process under it."""
    children = {}
    for pid, (ppid, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += procs.get(pid, (0, 0))[1]
        todo.extend(children.get(pid, []))
    return total


def snapshot(groups):
    """CPU ms of each group now; `self` is what this process's reaped
    children (the command) used."""
    procs = processes()
    own = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {name: (own.ru_utime + own.ru_stime) * 1000 if pid == "self" else tree_ticks(int(pid), procs) * TICK_MS
            for name, pid in groups.items()}


def main():
    sep = sys.argv.index("--")
    groups = dict(a.split("=", 1) for a in sys.argv[1:sep])
    before = snapshot(groups)
    run = subprocess.run(sys.argv[sep + 1:], stdout=subprocess.PIPE, text=True)
    # Exited backends are counted in the postmaster's children's time once it
    # has reaped them, a moment after they end.
    time.sleep(0.3)
    after = snapshot(groups)
    cpu = {k: round(after[k] - before[k]) for k in groups}
    printed = False
    for line in run.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
            result["cpu_ms"] = cpu
            line = "RESULT " + json.dumps(result)
            printed = True
        print(line)
    if not printed:
        print("CPU " + json.dumps(cpu))
    sys.exit(run.returncode)


main()
