-- A read of many pupils is one event naming them all, not one event each: a
-- school's page of fifty pupils wrote fifty rows (and two hundred index
-- entries) in every request that showed names. A change still names its one
-- pupil.
ALTER TABLE audit_events ADD COLUMN pupil_ids bigint[] NOT NULL DEFAULT '{}';
UPDATE audit_events SET pupil_ids = ARRAY[pupil_id] WHERE pupil_id IS NOT NULL;

-- The events that name a pupil, for the office's trail of one pupil. A GIN
-- index on the array would not do: row security keeps PostgreSQL from using
-- an index through an operator that is not leakproof, such as `@>`, so the
-- trail would scan the table. Like enrolment_identity_keys, the lookup is
-- kept by a trigger and read only through a function: the server's role
-- cannot read it, and the events themselves stay under row security.
CREATE TABLE audit_event_pupils (
    pupil_id  bigint NOT NULL,
    event_id  bigint NOT NULL,
    PRIMARY KEY (pupil_id, event_id)
);
REVOKE ALL ON audit_event_pupils FROM PUBLIC;
INSERT INTO audit_event_pupils (pupil_id, event_id) SELECT pupil_id, id FROM audit_events WHERE pupil_id IS NOT NULL;
DROP INDEX audit_events_pupil;
ALTER TABLE audit_events DROP COLUMN pupil_id;

-- The trail is append-only: an event's pupils never change after the insert.
CREATE FUNCTION ambito_audit_event_pupils() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO audit_event_pupils (pupil_id, event_id) SELECT DISTINCT p, NEW.id FROM unnest(NEW.pupil_ids) AS p;
    RETURN NULL;
END
$$;
CREATE TRIGGER audit_events_pupils AFTER INSERT ON audit_events
    FOR EACH ROW WHEN (cardinality(NEW.pupil_ids) > 0) EXECUTE FUNCTION ambito_audit_event_pupils();

-- Ids of the events that name a pupil, whoever may read them: the caller
-- then reads the events by id, under row security.
CREATE FUNCTION ambito_audit_events_naming(p_pupil bigint) RETURNS bigint[]
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT coalesce(array_agg(event_id), '{}') FROM audit_event_pupils WHERE pupil_id = p_pupil
$$;
REVOKE ALL ON FUNCTION ambito_audit_events_naming(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ambito_audit_events_naming(bigint) TO ambito_app;
