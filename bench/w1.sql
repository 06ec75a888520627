-- W1 ceiling: what the server does for a school's first page of pupils,
-- as plain SQL under the same row security (settings, role, scope filter),
-- including the audit event for the names read (one for the page).
\set n random(1, :callers)
BEGIN;
SELECT count(set_config(k, v, true)) FROM bench_callers b, unnest(b.names, b.vals) AS s(k, v) WHERE b.workload = 'w1' AND b.n = :n;
SELECT code AS school FROM bench_callers WHERE workload = 'w1' AND n = :n \gset
SET LOCAL ROLE ambito_app;
SELECT p.*, c.*, s.*, r.* FROM pupils p LEFT JOIN classes c ON c.id = p.class_id LEFT JOIN sites s ON s.code = c.site_code LEFT JOIN support_requests r ON r.pupil_id = p.id WHERE p.institution_code = :school ORDER BY p.id LIMIT 51;
SELECT count(*) FROM pupils WHERE institution_code = :school;
INSERT INTO audit_events (action, object_kind, pupil_ids, province_code, institution_code, fields) SELECT 'read', 'pupil', array_agg(id ORDER BY id), min(province_code), :school, '{certification,firstName,lastName}' FROM (SELECT id, province_code FROM pupils WHERE institution_code = :school ORDER BY id LIMIT 50) AS page;
COMMIT;
