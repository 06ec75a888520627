#!/usr/bin/env python3
"""Cuts the demo's Bergamo and Milano rows out of the published open-data files.

Run from this directory with the shared data folder as argument:
    python3 extract.py ../../../../shared/data
Each output keeps its publisher's header, delimiter and encoding byte for byte,
so the demo goes through the same importers as a real file.
"""
import csv, io, sys, os

src = sys.argv[1]
PROVINCES = {"BG", "MI"}

# ISTAT: Latin-1, ';', a header of three physical lines.
raw = open(os.path.join(src, "istat-comuni-2024.csv"), "rb").read()
lines = raw.split(b"\n")
header, rows = lines[:3], lines[3:]
kept = [l for l in rows if l and l.split(b";")[14] in {p.encode() for p in PROVINCES}]
open("istat-comuni-bg-mi.csv", "wb").write(b"\n".join(header + kept) + b"\n")
belfiore = {l.split(b";")[19].decode() for l in kept}

def subset(name, out, keep):
    with open(os.path.join(src, name), "rb") as f:
        data = f.read().decode("utf-8")
    first, rest = data.split("\n", 1)
    out_lines = [first]
    for line in rest.split("\n"):
        if not line:
            continue
        row = next(csv.reader(io.StringIO(line)))
        if keep(row):
            out_lines.append(line)
    open(out, "w", encoding="utf-8", newline="").write("\n".join(out_lines) + "\n")

subset("mim-alunni-per-sede-2024-25.csv", "mim-alunni-per-sede-bg-mi.csv", lambda r: r[0][:2] in PROVINCES)
subset("mim-scuole-paritarie-2023-24.csv", "mim-scuole-paritarie-bg-mi.csv",
       lambda r: r[4][:2] in PROVINCES and r[8] in belfiore)
