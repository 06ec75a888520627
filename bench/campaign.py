#!/usr/bin/env python3
"""The mobility allocation of a national campaign through the server (issue
23): every province's office signs in and runs the UT_AP_INTRA phase of its
own province (`runMobilityPhase`), CONCURRENCY offices at a time, as the
offices would on the day. Running a phase again before approval supersedes
its proposal, so the campaign can be run once per round. Prints one JSON
line: wall seconds, provinces, forms assigned, errors.

Usage: campaign.py URL CONCURRENCY PSQL...
"""
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from prepare import login, post, psql

RUN = """mutation($y: Int!, $p: String!) { runMobilityPhase(campaignYear: $y, province: $p, phase: UT_AP_INTRA) {
  runId assignedCount } }"""


def main():
    url, concurrency, cmd = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    year = int(psql(cmd, "SELECT max(year) FROM mobility_campaigns")[0][0])
    offices = [r[0] for r in psql(cmd, "SELECT email FROM users WHERE email LIKE 'ufficio.%@bench.invalid' ORDER BY 1")]
    with ThreadPoolExecutor(8) as pool:
        tokens = dict(zip(offices, pool.map(lambda e: login(url, e), offices)))

    def run(email):
        province = email.split("@")[0].split(".")[1].upper()
        answer = post(url, tokens[email], RUN, {"y": year, "p": province})
        if answer.get("errors"):
            return None
        return answer["data"]["runMobilityPhase"]["assignedCount"]

    start = time.monotonic()
    with ThreadPoolExecutor(concurrency) as pool:
        done = list(pool.map(run, offices))
    seconds = time.monotonic() - start
    print(json.dumps({"seconds": seconds, "provinces": len(offices), "assigned": sum(d or 0 for d in done),
                      "errors": sum(d is None for d in done)}))


if __name__ == "__main__":
    main()
