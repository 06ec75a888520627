-- Events naming several pupils keep only the first.
DROP FUNCTION ambito_audit_events_naming(bigint);
DROP TRIGGER audit_events_pupils ON audit_events;
DROP FUNCTION ambito_audit_event_pupils();
DROP TABLE audit_event_pupils;
ALTER TABLE audit_events ADD COLUMN pupil_id bigint;
UPDATE audit_events SET pupil_id = pupil_ids[1];
ALTER TABLE audit_events DROP COLUMN pupil_ids;
CREATE INDEX audit_events_pupil ON audit_events (pupil_id, id) WHERE pupil_id IS NOT NULL;
