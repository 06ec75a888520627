#!/usr/bin/env python3
"""Prepares the benchmark's requests: signs in as many organisations of the
seeded database (`ambito seed`), and writes one file per workload with a
line `token<TAB>GraphQL request` per request to send. Also fills the
`bench_callers` table the pgbench ceiling scripts read their callers from,
and writes the same requests for PostGraphile (`pgl-wN.txt`), each with an
HS256 JWT whose claims are the caller's row-security settings. With `-`
for JWT_SECRET, writes Ambito's requests only. `logins.txt` holds a login of
each of the accounts, for the login storm (bench/storm).

The settings are those Ambito sets for a membership (`Authorizer::settings`):
who, which organisation, and a scope per object kind and action from
policies/policy.csv.

Usage: prepare.py URL OUT_DIR SCHOOL_YEAR JWT_SECRET PSQL...
"""
import base64
import hashlib
import hmac
import json
import random
import subprocess
import sys
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor
from urllib.request import Request, urlopen

PASSWORD = "ambito-bench-password"

W1 = """{ pupils(first: 50) { totalCount edges { node { id firstName lastName
  class { yearOfStudy section site { code name } } certification { severity } supportRequest { ratio hours } } } } }"""
# W1 without the names and certification: nothing read is recorded in the
# audit trail, so both servers only read, as PostGraphile always does.
W1A = """{ pupils(first: 50) { totalCount edges { node { id
  class { yearOfStudy section site { code name } } supportRequest { ratio hours } } } } }"""
W2 = """{ enrolmentRequests(first: 50, filter: { status: [SUBMITTED, IN_CHARGE, PROPOSED, DECLINED] }) {
  totalCount edges { node { id status createdAt municipality { name } } } } }"""
W3 = """query($y: String!) { registryReport(schoolYear: $y, groupBy: [ORDER, AMBIT]) {
  order ambit { code } pupils requestedHours approvedHours } }"""
# The same documents for PostGraphile (simplify-inflection and the connection
# filter plugin); the scope conditions are what Ambito's resolvers add.
PGL_W1 = """query($s: String!) { pupils(first: 50, orderBy: PRIMARY_KEY_ASC, condition: { institutionCode: $s }) {
  totalCount nodes { rowId firstName lastName severity
  class { yearOfStudy section siteBySiteCode { code name } } supportRequest { ratio hours } } } }"""
PGL_W1A = """query($s: String!) { pupils(first: 50, orderBy: PRIMARY_KEY_ASC, condition: { institutionCode: $s }) {
  totalCount nodes { rowId class { yearOfStudy section siteBySiteCode { code name } } supportRequest { ratio hours } } } }"""
PGL_W2 = """query($h: String!) { enrolmentRequests(first: 50, orderBy: PRIMARY_KEY_DESC, condition: { hubCode: $h },
  filter: { status: { in: ["submitted", "in_charge", "proposed", "declined"] } }) {
  totalCount nodes { rowId status createdAt municipalityByMunicipalityIstat { name } } } }"""
PGL_W3 = """query($y: Int!) { benchPglRegistryReport(schoolYear: $y) {
  nodes { schoolOrder ambit pupils requestedHours approvedHours } } }"""
LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }"
# W6: a school reads its admission round ranked by the engine now (no
# names: nothing is recorded); the engine runs on every request.
W6 = """query($y: String!) { admissionRounds(schoolYear: $y) { id ranking(stage: CURRENT) {
  position tier points tie application { publicCode } outcome { kind site timeModel } } } }"""
W4 = """mutation($p: ID!, $h: Int) { requestSupportHours(pupilId: $p, ratio: "1:3", hours: $h) { hours } }"""


def psql(cmd, sql):
    out = subprocess.run(cmd + ["-AtF", "\t", "-v", "ON_ERROR_STOP=1"], input=sql, check=True, capture_output=True,
                         text=True).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def policy_scopes():
    """role -> [(setting, scope)] from the Casbin policy, as Ambito reads it."""
    scopes = {}
    policy = Path(__file__).resolve().parent.parent / "policies" / "policy.csv"
    for line in policy.read_text().splitlines():
        f = [x.strip() for x in line.split(",")]
        if len(f) == 5 and f[0] == "p":
            scopes.setdefault(f[1], []).append((f"ambito.scope.{f[2]}.{f[3]}", f[4]))
    return scopes


def settings(membership, scopes):
    """The transaction settings row security reads for one membership row
    (id, user_id, role, scope_province, institution, municipality, hub)."""
    mid, uid, role, province, school, municipality, hub = membership
    out = {"ambito.user_id": uid, "ambito.role": role, "ambito.membership_id": mid}
    for key, value in [("ambito.province", province), ("ambito.school", school),
                       ("ambito.municipality", municipality), ("ambito.hub", hub)]:
        if value:
            out[key] = value
    out.update(dict(scopes.get(role, [])))
    return out


def jwt(claims, secret):
    def b64(raw):
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + b64(json.dumps(claims).encode())
    return head + "." + b64(hmac.new(secret.encode(), head.encode(), hashlib.sha256).digest())


def post(url, token, query, variables):
    """One GraphQL request, signed in with `token` unless it is None; the answer."""
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    body = json.dumps({"query": query, "variables": variables}).encode()
    with urlopen(Request(url, data=body, headers=headers), timeout=600) as resp:
        return json.load(resp)


def login(url, email):
    return post(url, None, LOGIN, {"e": email, "p": PASSWORD})["data"]["login"]["token"]


def main():
    url, out, year, secret, cmd = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
    rnd = random.Random(1)
    schools = [r[0] for r in psql(cmd, "SELECT institution_code FROM pupils GROUP BY 1 ORDER BY md5(institution_code) LIMIT 200")]
    writers = psql(cmd, """SELECT p.institution_code, (array_agg(p.id ORDER BY p.id))[1:5]::text FROM pupils p
        WHERE NOT EXISTS (SELECT 1 FROM support_submissions s WHERE s.institution_code = p.institution_code)
        GROUP BY 1 ORDER BY md5(p.institution_code) LIMIT 100""")
    hubs = [r[0] for r in psql(cmd, """SELECT hub_code FROM enrolment_requests GROUP BY 1
        ORDER BY md5(hub_code) LIMIT 100""")]
    offices = [r[0] for r in psql(cmd, "SELECT email FROM users WHERE email LIKE 'ufficio.%@bench.invalid' ORDER BY 1")]
    rounds = psql(cmd, "SELECT institution_code, school_year FROM admission_rounds ORDER BY 1")

    emails = sorted({f"{s.lower()}@istruzione.it" for s in schools} | {f"{w[0].lower()}@istruzione.it" for w in writers}
                    | {f"{h.lower()}@bench.invalid" for h in hubs} | set(offices)
                    | {f"{r[0].lower()}@istruzione.it" for r in rounds})
    with ThreadPoolExecutor(8) as pool:
        tokens = dict(zip(emails, pool.map(lambda e: login(url, e), emails)))

    def line(email, query, variables=None):
        return tokens[email] + "\t" + json.dumps({"query": query, "variables": variables or {}})

    w1 = [line(f"{s.lower()}@istruzione.it", W1) for s in schools]
    w1a = [line(f"{s.lower()}@istruzione.it", W1A) for s in schools]
    w2 = [line(f"{h.lower()}@bench.invalid", W2) for h in hubs]
    w3 = [line(o, W3, {"y": year}) for o in offices]
    w6 = [line(f"{code.lower()}@istruzione.it", W6, {"y": f"{y[:4]}/{y[4:]}"}) for code, y in rounds]
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
    logins = ["-\t" + json.dumps({"query": LOGIN, "variables": {"e": e, "p": PASSWORD}}) for e in emails]
    for name, rows in [("w1", w1), ("w1a", w1a), ("w2", w2), ("w3", w3), ("w4", w4), ("w5", w5), ("w6", w6), ("logins", logins)]:
        with open(f"{out}/{name}.txt", "w") as f:
            f.write("\n".join(rows) + "\n")
    if secret == "-":
        return

    # Each caller's settings, for the pgbench ceiling (set as Ambito sets
    # them) and as PostGraphile's JWT claims.
    scopes = policy_scopes()
    member = {r[0]: r[1:] for r in psql(cmd, """SELECT u.email, m.id, m.user_id, m.role, coalesce(m.scope_province, ''),
            coalesce(m.institution_code, ''), coalesce(m.municipality_istat, ''), coalesce(m.hub_code, '')
        FROM users u JOIN memberships m ON m.user_id = u.id""" + f" WHERE u.email IN ({','.join(repr(e) for e in emails)})")}
    claims = {e: settings(member[e], scopes) for e in emails}

    pgl = {
        "w1": [(f"{s.lower()}@istruzione.it", PGL_W1, {"s": s}) for s in schools],
        "w1a": [(f"{s.lower()}@istruzione.it", PGL_W1A, {"s": s}) for s in schools],
        "w2": [(f"{h.lower()}@bench.invalid", PGL_W2, {"h": h}) for h in hubs],
        "w3": [(o, PGL_W3, {"y": int(year.replace("/", ""))}) for o in offices],
    }
    for name, rows in pgl.items():
        with open(f"{out}/pgl-{name}.txt", "w") as f:
            f.write("\n".join(jwt(claims[e], secret) + "\t" + json.dumps({"query": q, "variables": v})
                              for e, q, v in rows) + "\n")

    psql(cmd, "DROP TABLE IF EXISTS bench_callers")
    psql(cmd, """CREATE TABLE bench_callers (workload text, n int, code text, names text[], vals text[],
        PRIMARY KEY (workload, n))""")
    rows = []
    for w, callers in [("w1", [(s, f"{s.lower()}@istruzione.it") for s in schools]),
                       ("w2", [(h, f"{h.lower()}@bench.invalid") for h in hubs])]:
        for n, (code, email) in enumerate(sorted(callers), 1):
            c = claims[email]
            names = "ARRAY[" + ",".join(f"'{k}'" for k in c) + "]"
            vals = "ARRAY[" + ",".join(f"'{v}'" for v in c.values()) + "]"
            rows.append(f"('{w}', {n}, '{code}', {names}, {vals})")
    psql(cmd, "INSERT INTO bench_callers VALUES " + ",".join(rows))
    psql(cmd, "GRANT SELECT ON bench_callers TO ambito_app")
    counts = {w: int(psql(cmd, f"SELECT count(*) FROM bench_callers WHERE workload = '{w}'")[0][0]) for w in ("w1", "w2")}
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
