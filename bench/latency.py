#!/usr/bin/env python3
"""p50 and p99 latency (microseconds) from pgbench per-transaction logs
(`--log`: the third field is the transaction's latency in microseconds)."""
import sys

lat = sorted(int(line.split()[2]) for path in sys.argv[1:] for line in open(path) if line.strip())
pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else 0
print(f'"p50_us": {pick(0.50)}, "p99_us": {pick(0.99)}')
