-- W2 ceiling: a hub's first page of open requests, newest first, with the
-- municipalities' names, under the same row security.
\set n random(1, :callers)
BEGIN;
SELECT count(set_config(k, v, true)) FROM bench_callers b, unnest(b.names, b.vals) AS s(k, v) WHERE b.workload = 'w2' AND b.n = :n;
SELECT code AS hub FROM bench_callers WHERE workload = 'w2' AND n = :n \gset
SET LOCAL ROLE ambito_app;
SELECT e.*, m.* FROM enrolment_requests e LEFT JOIN municipalities m ON m.istat_code = e.municipality_istat WHERE e.hub_code = :hub AND e.status IN ('submitted', 'in_charge', 'proposed', 'declined') ORDER BY e.id DESC LIMIT 51;
SELECT count(*) FROM enrolment_requests WHERE hub_code = :hub AND status IN ('submitted', 'in_charge', 'proposed', 'declined');
COMMIT;
