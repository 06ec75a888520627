-- W1 ceiling: what the server does for a school's first page of pupils,
-- as plain SQL under the same row security (settings, role, scope filter),
-- including the audit rows for the names read.
\set n random(1, :callers)
BEGIN;
SELECT count(set_config(k, v, true)) FROM bench_callers b, unnest(b.names, b.vals) AS s(k, v) WHERE b.workload = 'w1' AND b.n = :n;
SELECT code AS school FROM bench_callers WHERE workload = 'w1' AND n = :n \gset
SET LOCAL ROLE ambito_app;
SELECT p.*, c.*, s.*, r.* FROM pupils p LEFT JOIN classes c ON c.id = p.class_id LEFT JOIN sites s ON s.code = c.site_code LEFT JOIN support_requests r ON r.pupil_id = p.id WHERE p.institution_code = :school ORDER BY p.id LIMIT 51;
SELECT count(*) FROM pupils WHERE institution_code = :school;
INSERT INTO audit_events (action, object_kind, object_id, pupil_id, province_code, institution_code, fields) SELECT 'read', 'pupil', id::text, id, province_code, institution_code, '{certification,firstName,lastName}' FROM pupils WHERE institution_code = :school ORDER BY pupils.id LIMIT 50;
COMMIT;
