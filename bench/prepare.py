#!/usr/bin/env python3
"""Prepares the benchmark's requests: signs in as many organisations of the
seeded database (`ambito seed`), and writes one file per workload with a
line `token<TAB>GraphQL request` per request to send. Also fills the
`bench_callers` table the pgbench ceiling scripts read their callers from.

Usage: prepare.py URL OUT_DIR SCHOOL_YEAR PSQL...
"""
import json
import random
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from urllib.request import Request, urlopen

PASSWORD = "ambito-bench-password"

W1 = """{ pupils(first: 50) { totalCount edges { node { id firstName lastName
  class { yearOfStudy section site { code name } } certification { severity } supportRequest { ratio hours } } } } }"""
W2 = """{ enrolmentRequests(first: 50, filter: { status: [SUBMITTED, IN_CHARGE, PROPOSED, DECLINED] }) {
  totalCount edges { node { id status createdAt municipality { name } } } } }"""
W3 = """query($y: String!) { registryReport(schoolYear: $y, groupBy: [ORDER, AMBIT]) {
  order ambit { code } pupils requestedHours approvedHours } }"""
W4 = """mutation($p: ID!, $h: Int) { requestSupportHours(pupilId: $p, ratio: "1:3", hours: $h) { hours } }"""


def psql(cmd, sql):
    out = subprocess.run(cmd + ["-AtF", "\t", "-c", sql], check=True, capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def login(url, email):
    body = json.dumps({"query": "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }",
                       "variables": {"e": email, "p": PASSWORD}}).encode()
    req = Request(url, data=body, headers={"content-type": "application/json"})
    with urlopen(req) as resp:
        return json.load(resp)["data"]["login"]["token"]


def main():
    url, out, year, cmd = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    rnd = random.Random(1)
    schools = [r[0] for r in psql(cmd, "SELECT institution_code FROM pupils GROUP BY 1 ORDER BY md5(institution_code) LIMIT 200")]
    writers = psql(cmd, """SELECT p.institution_code, (array_agg(p.id ORDER BY p.id))[1:5]::text FROM pupils p
        WHERE NOT EXISTS (SELECT 1 FROM support_submissions s WHERE s.institution_code = p.institution_code)
        GROUP BY 1 ORDER BY md5(p.institution_code) LIMIT 100""")
    hubs = [r[0] for r in psql(cmd, """SELECT hub_code FROM enrolment_requests GROUP BY 1
        ORDER BY md5(hub_code) LIMIT 100""")]
    offices = [r[0] for r in psql(cmd, "SELECT email FROM users WHERE email LIKE 'ufficio.%@bench.invalid' ORDER BY 1")]

    emails = sorted({f"{s.lower()}@istruzione.it" for s in schools} | {f"{w[0].lower()}@istruzione.it" for w in writers}
                    | {f"{h.lower()}@bench.invalid" for h in hubs} | set(offices))
    with ThreadPoolExecutor(8) as pool:
        tokens = dict(zip(emails, pool.map(lambda e: login(url, e), emails)))

    def line(email, query, variables=None):
        return tokens[email] + "\t" + json.dumps({"query": query, "variables": variables or {}})

    w1 = [line(f"{s.lower()}@istruzione.it", W1) for s in schools]
    w2 = [line(f"{h.lower()}@bench.invalid", W2) for h in hubs]
    w3 = [line(o, W3, {"y": year}) for o in offices]
    w4 = []
    for code, ids in writers:
        for pupil in ids.strip("{}").split(","):
            for hours in (7, 11, 15):
                w4.append(line(f"{code.lower()}@istruzione.it", W4, {"p": pupil, "h": hours}))
    rnd.shuffle(w4)
    w5 = []
    for k in range(2000):
        pick = k % 20
        source = w1 if pick < 16 else w4 if pick < 18 else w2 if pick == 18 else w3
        w5.append(source[rnd.randrange(len(source))])
    rnd.shuffle(w5)
    for name, rows in [("w1", w1), ("w2", w2), ("w3", w3), ("w4", w4), ("w5", w5)]:
        with open(f"{out}/{name}.txt", "w") as f:
            f.write("\n".join(rows) + "\n")

    # The pgbench ceiling's callers: the same organisations, with the
    # settings row security reads (the app sets them the same way).
    psql(cmd, "DROP TABLE IF EXISTS bench_callers")
    psql(cmd, """CREATE TABLE bench_callers (workload text, n int, code text, names text[], vals text[],
        PRIMARY KEY (workload, n))""")
    school_list = ",".join(f"'{s}'" for s in schools)
    hub_list = ",".join(f"'{h}'" for h in hubs)
    psql(cmd, f"""INSERT INTO bench_callers
        SELECT 'w1', row_number() OVER (ORDER BY m.institution_code), m.institution_code,
            ARRAY['ambito.user_id', 'ambito.role', 'ambito.membership_id', 'ambito.province', 'ambito.school',
                  'ambito.scope.pupil.read', 'ambito.scope.class.read', 'ambito.scope.support_request.read',
                  'ambito.scope.support_approval.read'],
            ARRAY[m.user_id::text, 'school', m.id::text, m.scope_province, m.institution_code,
                  'school', 'school', 'school', 'school']
        FROM memberships m WHERE m.role = 'school' AND m.institution_code IN ({school_list})""")
    psql(cmd, f"""INSERT INTO bench_callers
        SELECT 'w2', row_number() OVER (ORDER BY m.hub_code), m.hub_code,
            ARRAY['ambito.user_id', 'ambito.role', 'ambito.membership_id', 'ambito.province', 'ambito.hub',
                  'ambito.scope.enrolment_request.read'],
            ARRAY[m.user_id::text, 'cti_hub', m.id::text, m.scope_province, m.hub_code, 'territory']
        FROM memberships m WHERE m.role = 'cti_hub' AND m.hub_code IN ({hub_list})""")
    psql(cmd, "GRANT SELECT ON bench_callers TO ambito_app")
    counts = {w: int(psql(cmd, f"SELECT count(*) FROM bench_callers WHERE workload = '{w}'")[0][0]) for w in ("w1", "w2")}
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
