-- Process 2: enrolment requests of refugee minors (seed 001). Municipalities
-- enter them, the hub of the minor's territory places them in a school, the
-- school confirms, the office monitors the province.
--
-- Each row carries the whole territorial path (province, municipality, hub,
-- school), so that every scope is an indexed equality test:
--   municipality  the requests it entered       (municipality_istat, origin)
--   territory     those routed to the hub       (hub_code)
--   school        those proposed to or enrolled in it (institution_code)
--   province      all of the office's province  (province_code)

-- A Polo START serves zones of one city (Milan's nine Municipi).
ALTER TABLE hubs ADD COLUMN municipality_istat text COLLATE "C" REFERENCES municipalities;
ALTER TABLE hubs ADD COLUMN city_zones integer[];

CREATE TABLE enrolment_requests (
    id                  bigserial PRIMARY KEY,
    province_code       text COLLATE "C" NOT NULL REFERENCES provinces,
    -- Where the minor lives; for a municipality's request, the municipality that entered it.
    municipality_istat  text COLLATE "C" NOT NULL REFERENCES municipalities,
    -- Who entered it: a municipality's request, or a school's registration
    -- of a minor it enrolled on its own.
    origin              text NOT NULL CHECK (origin IN ('municipality', 'school')),
    hub_code            text COLLATE "C" NOT NULL REFERENCES hubs,
    -- The school the minor is proposed to or enrolled in.
    institution_code    text COLLATE "C" REFERENCES institutions,
    status              text NOT NULL CHECK (status IN ('submitted', 'in_charge', 'proposed', 'declined',
                            'enrolled', 'withdrawn')),
    version             integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    school_year         integer NOT NULL,
    first_name          text NOT NULL CHECK (length(first_name) BETWEEN 1 AND 100),
    last_name           text NOT NULL CHECK (length(last_name) BETWEEN 1 AND 100),
    birth_date          date NOT NULL,
    sex                 text NOT NULL CHECK (sex IN ('F', 'M')),
    nationality         text COLLATE "C" NOT NULL CHECK (nationality ~ '^[A-Z]{2}$'),
    arrived_on          date NOT NULL CHECK (arrived_on >= birth_date),
    languages           text[] NOT NULL DEFAULT '{}',
    last_class          text CHECK (length(last_class) <= 200),
    special_needs       boolean NOT NULL DEFAULT false,
    guardian_name       text CHECK (length(guardian_name) <= 200),
    guardian_phone      text CHECK (length(guardian_phone) <= 40),
    guardian_email      text CHECK (length(guardian_email) <= 200),
    address             text NOT NULL CHECK (length(address) BETWEEN 1 AND 300),
    city_zone           integer CHECK (city_zone BETWEEN 1 AND 99),
    school_order        text NOT NULL CHECK (school_order IN ('infanzia', 'primaria',
                            'secondaria_primo_grado', 'secondaria_secondo_grado')),
    year_of_study       integer NOT NULL CHECK (year_of_study BETWEEN 1 AND 5),
    notes               text CHECK (length(notes) <= 2000),
    created_by          bigint NOT NULL DEFAULT ambito_user_id(),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    enrolled_at         timestamptz,
    -- The transaction that last changed the row: delta sync returns the rows
    -- whose change the client's last snapshot did not see.
    change_xid          xid8 NOT NULL DEFAULT pg_current_xact_id(),
    CHECK ((status IN ('proposed', 'enrolled')) = (institution_code IS NOT NULL)),
    CHECK ((status = 'enrolled') = (enrolled_at IS NOT NULL))
);
CREATE INDEX enrolment_requests_province ON enrolment_requests (province_code, id);
CREATE INDEX enrolment_requests_municipality ON enrolment_requests (municipality_istat, id)
    WHERE origin = 'municipality';
CREATE INDEX enrolment_requests_hub ON enrolment_requests (hub_code, id);
CREATE INDEX enrolment_requests_institution ON enrolment_requests (institution_code, id)
    WHERE institution_code IS NOT NULL;
CREATE INDEX enrolment_requests_change ON enrolment_requests (change_xid);

CREATE FUNCTION ambito_province_of_municipality() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.province_code := (SELECT province_code FROM municipalities WHERE istat_code = NEW.municipality_istat);
    RETURN NEW;
END
$$;
CREATE TRIGGER enrolment_requests_province BEFORE INSERT OR UPDATE ON enrolment_requests
    FOR EACH ROW EXECUTE FUNCTION ambito_province_of_municipality();

-- Every change stamps its transaction and time, whoever wrote it.
CREATE FUNCTION ambito_enrolment_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.change_xid := pg_current_xact_id();
    NEW.updated_at := now();
    RETURN NEW;
END
$$;
CREATE TRIGGER enrolment_requests_touch BEFORE UPDATE ON enrolment_requests
    FOR EACH ROW EXECUTE FUNCTION ambito_enrolment_touch();

-- Every committed change reaches every server process (subscriptions). The
-- payload carries ids and codes only, never a minor's data: each subscriber
-- reads the row again under its own row security.
CREATE FUNCTION ambito_enrolment_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ambito_enrolment', json_build_object(
        'id', NEW.id,
        'province', NEW.province_code,
        'municipality', CASE WHEN NEW.origin = 'municipality' THEN NEW.municipality_istat END,
        'hub', NEW.hub_code,
        'previousHub', CASE WHEN TG_OP = 'UPDATE' THEN OLD.hub_code END,
        'school', NEW.institution_code,
        'previousSchool', CASE WHEN TG_OP = 'UPDATE' THEN OLD.institution_code END,
        'status', NEW.status,
        'version', NEW.version)::text);
    RETURN NULL;
END
$$;
CREATE TRIGGER enrolment_requests_changed AFTER INSERT OR UPDATE ON enrolment_requests
    FOR EACH ROW EXECUTE FUNCTION ambito_enrolment_changed();

ALTER TABLE enrolment_requests ENABLE ROW LEVEL SECURITY;
ALTER TABLE enrolment_requests FORCE ROW LEVEL SECURITY;
GRANT SELECT, INSERT, UPDATE ON enrolment_requests TO ambito_app;
GRANT USAGE ON SEQUENCE enrolment_requests_id_seq TO ambito_app;

-- A row changed by the reading transaction itself stays readable to it: an
-- UPDATE is checked against the reading policy on its new row too, and a
-- hand-over (below) moves the row out of the writer's scope. Only rows the
-- transaction was allowed to change qualify, and only until it ends.
CREATE POLICY enrolment_read ON enrolment_requests FOR SELECT TO ambito_app USING (
    change_xid = (SELECT pg_current_xact_id_if_assigned())
    OR (province_code = (SELECT ambito_setting('ambito.province'))
        AND (SELECT ambito_setting('ambito.scope.enrolment_request.read')) = 'province')
    OR (hub_code = (SELECT ambito_setting('ambito.hub'))
        AND (SELECT ambito_setting('ambito.scope.enrolment_request.read')) = 'territory')
    OR (institution_code = (SELECT ambito_setting('ambito.school'))
        AND (SELECT ambito_setting('ambito.scope.enrolment_request.read')) = 'school')
    OR (municipality_istat = (SELECT ambito_setting('ambito.municipality')) AND origin = 'municipality'
        AND (SELECT ambito_setting('ambito.scope.enrolment_request.read')) = 'municipality')
);
-- A municipality enters requests for itself; a school registers minors it enrolled.
CREATE POLICY enrolment_insert ON enrolment_requests FOR INSERT TO ambito_app WITH CHECK (
    (municipality_istat = (SELECT ambito_setting('ambito.municipality')) AND origin = 'municipality'
        AND (SELECT ambito_setting('ambito.scope.enrolment_request.write')) = 'municipality')
    OR (institution_code = (SELECT ambito_setting('ambito.school')) AND origin = 'school'
        AND province_code = (SELECT ambito_setting('ambito.province'))
        AND (SELECT ambito_setting('ambito.scope.enrolment_request.write')) = 'school')
);
-- Changes start from a row in the writer's scope. Two of them hand the row
-- on, so the new row may leave the writer's scope in exactly those ways: a
-- hub's transfer (back to `submitted`, at another hub of the province) and a
-- school's refusal (back to the hub, `declined`, with no school).
CREATE POLICY enrolment_update ON enrolment_requests FOR UPDATE TO ambito_app
    USING (
        (province_code = (SELECT ambito_setting('ambito.province'))
            AND (SELECT ambito_setting('ambito.scope.enrolment_request.write')) = 'province')
        OR (hub_code = (SELECT ambito_setting('ambito.hub'))
            AND (SELECT ambito_setting('ambito.scope.enrolment_request.write')) = 'territory')
        OR (institution_code = (SELECT ambito_setting('ambito.school'))
            AND (SELECT ambito_setting('ambito.scope.enrolment_request.write')) = 'school')
        OR (municipality_istat = (SELECT ambito_setting('ambito.municipality')) AND origin = 'municipality'
            AND (SELECT ambito_setting('ambito.scope.enrolment_request.write')) = 'municipality'))
    WITH CHECK (
        (province_code = (SELECT ambito_setting('ambito.province'))
            AND (SELECT ambito_setting('ambito.scope.enrolment_request.write')) = 'province')
        OR ((hub_code = (SELECT ambito_setting('ambito.hub'))
                OR (status = 'submitted' AND province_code = (SELECT ambito_setting('ambito.province'))))
            AND (SELECT ambito_setting('ambito.scope.enrolment_request.write')) = 'territory')
        OR ((institution_code = (SELECT ambito_setting('ambito.school'))
                OR (institution_code IS NULL AND status = 'declined'
                    AND province_code = (SELECT ambito_setting('ambito.province'))))
            AND (SELECT ambito_setting('ambito.scope.enrolment_request.write')) = 'school')
        OR (municipality_istat = (SELECT ambito_setting('ambito.municipality')) AND origin = 'municipality'
            AND (SELECT ambito_setting('ambito.scope.enrolment_request.write')) = 'municipality'));

-- The recorded transitions: who moved a request, when, why. A row keeps the
-- hub and school it concerned, so a hub keeps the history of what it handled
-- after a transfer, and a school sees only its own part of a minor's path.
CREATE TABLE enrolment_transitions (
    id                  bigserial PRIMARY KEY,
    request_id          bigint NOT NULL REFERENCES enrolment_requests,
    province_code       text COLLATE "C" NOT NULL REFERENCES provinces,
    municipality_istat  text COLLATE "C" NOT NULL REFERENCES municipalities,
    origin              text NOT NULL CHECK (origin IN ('municipality', 'school')),
    -- The hub in charge when it happened; for a transfer, the hub it left.
    hub_code            text COLLATE "C" NOT NULL REFERENCES hubs,
    to_hub_code         text COLLATE "C" REFERENCES hubs,
    -- The school it concerned (proposed to, confirmed or declined by).
    institution_code    text COLLATE "C" REFERENCES institutions,
    action              text NOT NULL CHECK (action IN ('submit', 'register', 'edit', 'take_in_charge',
                            'propose', 'confirm', 'decline', 'withdraw', 'transfer')),
    from_status         text,
    to_status           text NOT NULL,
    reason              text CHECK (length(reason) <= 1000),
    user_id             bigint NOT NULL DEFAULT ambito_user_id(),
    membership_id       bigint DEFAULT (ambito_setting('ambito.membership_id'))::bigint,
    at                  timestamptz NOT NULL DEFAULT now(),
    change_xid          xid8 NOT NULL DEFAULT pg_current_xact_id()
);
CREATE TRIGGER enrolment_transitions_province BEFORE INSERT ON enrolment_transitions
    FOR EACH ROW EXECUTE FUNCTION ambito_province_of_municipality();
CREATE INDEX enrolment_transitions_request ON enrolment_transitions (request_id, id);
CREATE INDEX enrolment_transitions_province ON enrolment_transitions (province_code, id);
CREATE INDEX enrolment_transitions_hub ON enrolment_transitions (hub_code, id);
CREATE INDEX enrolment_transitions_institution ON enrolment_transitions (institution_code, id)
    WHERE institution_code IS NOT NULL;
CREATE INDEX enrolment_transitions_municipality ON enrolment_transitions (municipality_istat, id);
CREATE INDEX enrolment_transitions_change ON enrolment_transitions (change_xid);
ALTER TABLE enrolment_transitions ENABLE ROW LEVEL SECURITY;
ALTER TABLE enrolment_transitions FORCE ROW LEVEL SECURITY;
GRANT SELECT, INSERT ON enrolment_transitions TO ambito_app;
GRANT USAGE ON SEQUENCE enrolment_transitions_id_seq TO ambito_app;
CREATE POLICY transitions_read ON enrolment_transitions FOR SELECT TO ambito_app USING (
    (province_code = (SELECT ambito_setting('ambito.province'))
        AND (SELECT ambito_setting('ambito.scope.enrolment_request.read')) = 'province')
    OR ((hub_code = (SELECT ambito_setting('ambito.hub'))
            OR EXISTS (SELECT 1 FROM enrolment_requests r
                       WHERE r.id = request_id AND r.hub_code = (SELECT ambito_setting('ambito.hub'))))
        AND (SELECT ambito_setting('ambito.scope.enrolment_request.read')) = 'territory')
    OR (institution_code = (SELECT ambito_setting('ambito.school'))
        AND (SELECT ambito_setting('ambito.scope.enrolment_request.read')) = 'school')
    OR (municipality_istat = (SELECT ambito_setting('ambito.municipality')) AND origin = 'municipality'
        AND (SELECT ambito_setting('ambito.scope.enrolment_request.read')) = 'municipality')
);
-- Anyone records only their own acts, on requests in their write scope.
CREATE POLICY transitions_insert ON enrolment_transitions FOR INSERT TO ambito_app WITH CHECK (
    user_id = (SELECT ambito_user_id())
    AND ((province_code = (SELECT ambito_setting('ambito.province'))
            AND (SELECT ambito_setting('ambito.scope.enrolment_request.write')) = 'province')
        OR (hub_code = (SELECT ambito_setting('ambito.hub'))
            AND (SELECT ambito_setting('ambito.scope.enrolment_request.write')) = 'territory')
        OR (institution_code = (SELECT ambito_setting('ambito.school'))
            AND (SELECT ambito_setting('ambito.scope.enrolment_request.write')) = 'school')
        OR (municipality_istat = (SELECT ambito_setting('ambito.municipality')) AND origin = 'municipality'
            AND (SELECT ambito_setting('ambito.scope.enrolment_request.write')) = 'municipality'))
);

-- Likely duplicates: the same minor entered by two municipalities of the
-- province. A municipality cannot see the other's row, so the comparison
-- runs on a side table that holds only a hash of the normalised names
-- (either order) and birth date, and that the server's role cannot read;
-- one function answers which requests share a request's key.
CREATE FUNCTION ambito_identity_key(first text, last text, born date) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT encode(sha256(convert_to(least(f, l) || '|' || greatest(f, l) || '|' || born::text, 'UTF8')), 'hex')
    FROM (SELECT regexp_replace(lower(first), '[^[:alpha:]]', '', 'g') AS f,
                 regexp_replace(lower(last), '[^[:alpha:]]', '', 'g') AS l) AS n
$$;
CREATE TABLE enrolment_identity_keys (
    request_id     bigint PRIMARY KEY REFERENCES enrolment_requests,
    province_code  text COLLATE "C" NOT NULL,
    identity       text NOT NULL
);
CREATE INDEX enrolment_identity_keys_identity ON enrolment_identity_keys (province_code, identity);
REVOKE ALL ON enrolment_identity_keys FROM PUBLIC;
CREATE FUNCTION ambito_enrolment_key() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO enrolment_identity_keys (request_id, province_code, identity)
    VALUES (NEW.id, NEW.province_code, ambito_identity_key(NEW.first_name, NEW.last_name, NEW.birth_date))
    ON CONFLICT (request_id) DO UPDATE SET province_code = EXCLUDED.province_code, identity = EXCLUDED.identity;
    RETURN NULL;
END
$$;
CREATE TRIGGER enrolment_requests_key AFTER INSERT OR UPDATE OF first_name, last_name, birth_date
    ON enrolment_requests FOR EACH ROW EXECUTE FUNCTION ambito_enrolment_key();
-- The other requests of the province with the same key. The server asks
-- only about a request it has just read under the caller's row security.
CREATE FUNCTION ambito_enrolment_duplicates(p_request bigint) RETURNS bigint[]
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT coalesce(array_agg(o.request_id ORDER BY o.request_id), '{}')
    FROM enrolment_identity_keys k
    JOIN enrolment_identity_keys o ON o.province_code = k.province_code AND o.identity = k.identity
        AND o.request_id <> k.request_id
    WHERE k.request_id = p_request
$$;
REVOKE ALL ON FUNCTION ambito_enrolment_duplicates(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ambito_enrolment_duplicates(bigint) TO ambito_app;
