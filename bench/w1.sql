-- W1 ceiling: what the server does for a school's first page of pupils,
-- as plain SQL under the same row security (settings, role, scope filter),
-- including the audit rows for the names read.
\set n random(1, :callers)
BEGIN;
SELECT count(set_config(k, v, true)) FROM bench_callers b, unnest(b.names, b.vals) AS s(k, v) WHERE b.workload = 'w1' AND b.n = :n;
SELECT code AS school FROM bench_callers WHERE workload = 'w1' AND n = :n \gset
SET LOCAL ROLE ambito_app;
SELECT * FROM pupils WHERE institution_code = :school ORDER BY id LIMIT 51;
SELECT count(*) FROM pupils WHERE institution_code = :school;
SELECT c.* FROM classes c WHERE c.id IN (SELECT class_id FROM pupils WHERE institution_code = :school ORDER BY id LIMIT 50);
SELECT r.* FROM support_requests r WHERE r.pupil_id IN (SELECT id FROM pupils WHERE institution_code = :school ORDER BY id LIMIT 50);
SELECT s.* FROM sites s WHERE s.institution_code = :school;
INSERT INTO audit_events (action, object_kind, object_id, pupil_id, province_code, institution_code, fields) SELECT 'read', 'pupil', id::text, id, province_code, institution_code, '{certification,firstName,lastName}' FROM pupils WHERE institution_code = :school ORDER BY pupils.id LIMIT 50;
COMMIT;
