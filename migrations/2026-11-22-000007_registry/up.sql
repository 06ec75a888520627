-- Process 1: the registry of pupils with disabilities and the support-hour
-- requests (seed 000), with the audit trail that every tenant table shares.
--
-- Every tenant row carries its institution and province, so that the scopes
-- of the policies are indexed equality tests. The province is set by a
-- trigger from the institution, never by the caller.

-- Memberships now tell row security which one is acting, for the audit trail.
CREATE FUNCTION ambito_user_id() RETURNS bigint LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT (ambito_setting('ambito.user_id'))::bigint $$;

-- Row security of a table with `province_code` and `institution_code`, for
-- object kind `kind`: `province` scope reaches the office's province,
-- `school` scope the caller's own institution. Reading and writing have
-- separate scopes; written rows must stay in scope (WITH CHECK).
CREATE FUNCTION ambito_school_tenant(tbl regclass, kind text) RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
    pred text := $p$
        (province_code = (SELECT ambito_setting('ambito.province'))
            AND (SELECT ambito_setting('ambito.scope.%1$s.%2$s')) = 'province')
        OR (institution_code = (SELECT ambito_setting('ambito.school'))
            AND (SELECT ambito_setting('ambito.scope.%1$s.%2$s')) = 'school')$p$;
    r text := format(pred, kind, 'read');
    w text := format(pred, kind, 'write');
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO ambito_app', tbl);
    EXECUTE format('CREATE POLICY tenant_read ON %s FOR SELECT TO ambito_app USING (%s)', tbl, r);
    EXECUTE format('CREATE POLICY tenant_insert ON %s FOR INSERT TO ambito_app WITH CHECK (%s)', tbl, w);
    EXECUTE format('CREATE POLICY tenant_update ON %s FOR UPDATE TO ambito_app USING (%s) WITH CHECK (%s)', tbl, w, w);
    EXECUTE format('CREATE POLICY tenant_delete ON %s FOR DELETE TO ambito_app USING (%s)', tbl, w);
END
$fn$;

CREATE FUNCTION ambito_province_of_institution() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.province_code := (SELECT province_code FROM institutions WHERE code = NEW.institution_code);
    RETURN NEW;
END
$$;

-- Collection windows, per province, process and school year. A row without
-- an institution is the window for every school; a row with one reopens the
-- process for that school alone.
CREATE TABLE collection_windows (
    id                bigserial PRIMARY KEY,
    province_code     text COLLATE "C" NOT NULL REFERENCES provinces,
    process           text NOT NULL CHECK (process IN ('support_registry')),
    school_year       integer NOT NULL,
    institution_code  text COLLATE "C" REFERENCES institutions,
    opens_on          date NOT NULL,
    closes_on         date NOT NULL CHECK (closes_on >= opens_on),
    closed_at         timestamptz,
    updated_by        bigint NOT NULL DEFAULT ambito_user_id(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX collection_windows_one ON collection_windows
    (province_code, process, school_year, coalesce(institution_code, ''));
ALTER TABLE collection_windows ENABLE ROW LEVEL SECURITY;
ALTER TABLE collection_windows FORCE ROW LEVEL SECURITY;
GRANT SELECT, INSERT, UPDATE ON collection_windows TO ambito_app;
GRANT USAGE ON SEQUENCE collection_windows_id_seq TO ambito_app;
-- A school sees its province's general windows and its own reopenings.
CREATE POLICY windows_read ON collection_windows FOR SELECT TO ambito_app USING (
    (province_code = (SELECT ambito_setting('ambito.province'))
        AND (SELECT ambito_setting('ambito.scope.collection_window.read')) = 'province')
    OR (province_code = (SELECT ambito_setting('ambito.province'))
        AND (institution_code IS NULL OR institution_code = (SELECT ambito_setting('ambito.school')))
        AND (SELECT ambito_setting('ambito.scope.collection_window.read')) = 'school')
);
CREATE POLICY windows_insert ON collection_windows FOR INSERT TO ambito_app WITH CHECK (
    province_code = (SELECT ambito_setting('ambito.province'))
    AND (SELECT ambito_setting('ambito.scope.collection_window.write')) = 'province'
);
CREATE POLICY windows_update ON collection_windows FOR UPDATE TO ambito_app
    USING (province_code = (SELECT ambito_setting('ambito.province'))
        AND (SELECT ambito_setting('ambito.scope.collection_window.write')) = 'province')
    WITH CHECK (province_code = (SELECT ambito_setting('ambito.province'))
        AND (SELECT ambito_setting('ambito.scope.collection_window.write')) = 'province');

-- Classes and sections of a school, per site and school year.
CREATE TABLE classes (
    id                bigserial PRIMARY KEY,
    school_year       integer NOT NULL,
    institution_code  text COLLATE "C" NOT NULL REFERENCES institutions,
    province_code     text COLLATE "C" NOT NULL REFERENCES provinces,
    site_code         text COLLATE "C" NOT NULL REFERENCES sites,
    school_order      text NOT NULL CHECK (school_order IN ('infanzia', 'primaria',
                          'secondaria_primo_grado', 'secondaria_secondo_grado')),
    year_of_study     integer NOT NULL CHECK (year_of_study BETWEEN 1 AND 5),
    section           text NOT NULL CHECK (section ~ '^[A-Z]{1,4}$'),
    pupils            integer NOT NULL CHECK (pupils BETWEEN 1 AND 35),
    time_model_hours  integer NOT NULL CHECK (time_model_hours BETWEEN 24 AND 50),
    UNIQUE (site_code, school_year, school_order, year_of_study, section)
);
CREATE INDEX classes_institution ON classes (institution_code, school_year, id);
CREATE INDEX classes_province ON classes (province_code, school_year, id);
CREATE TRIGGER classes_province BEFORE INSERT OR UPDATE ON classes
    FOR EACH ROW EXECUTE FUNCTION ambito_province_of_institution();

-- Pupils with a disability: identity and certification (special-category data).
CREATE TABLE pupils (
    id                bigserial PRIMARY KEY,
    school_year       integer NOT NULL,
    institution_code  text COLLATE "C" NOT NULL REFERENCES institutions,
    province_code     text COLLATE "C" NOT NULL REFERENCES provinces,
    class_id          bigint NOT NULL REFERENCES classes,
    first_name        text NOT NULL CHECK (length(first_name) BETWEEN 1 AND 100),
    last_name         text NOT NULL CHECK (length(last_name) BETWEEN 1 AND 100),
    tax_code          text COLLATE "C" NOT NULL CHECK (tax_code ~ '^[A-Z0-9]{16}$'),
    birth_date        date NOT NULL,
    sex               text NOT NULL CHECK (sex IN ('F', 'M')),
    severity          text NOT NULL CHECK (severity IN ('c1', 'c3')),
    certified_on      date NOT NULL,
    revision_on       date CHECK (revision_on > certified_on),
    certified_by      text NOT NULL CHECK (length(certified_by) BETWEEN 1 AND 200),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
-- One registration per pupil, province and year: a second one is a conflict
-- for the office to resolve.
CREATE UNIQUE INDEX pupils_once ON pupils (province_code, school_year, tax_code);
CREATE INDEX pupils_institution ON pupils (institution_code, school_year, id);
CREATE INDEX pupils_province ON pupils (province_code, school_year, id);
CREATE INDEX pupils_class ON pupils (class_id);
CREATE TRIGGER pupils_province BEFORE INSERT OR UPDATE ON pupils
    FOR EACH ROW EXECUTE FUNCTION ambito_province_of_institution();

-- The school's request of support hours for a pupil.
CREATE TABLE support_requests (
    pupil_id          bigint PRIMARY KEY REFERENCES pupils ON DELETE CASCADE,
    institution_code  text COLLATE "C" NOT NULL REFERENCES institutions,
    province_code     text COLLATE "C" NOT NULL REFERENCES provinces,
    ratio             integer NOT NULL CHECK (ratio BETWEEN 1 AND 4),
    hours             integer NOT NULL CHECK (hours BETWEEN 1 AND 25),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX support_requests_institution ON support_requests (institution_code);
CREATE INDEX support_requests_province ON support_requests (province_code);
CREATE TRIGGER support_requests_province BEFORE INSERT OR UPDATE ON support_requests
    FOR EACH ROW EXECUTE FUNCTION ambito_province_of_institution();

-- Hours the office approved: a table of its own, so that the school can read
-- but never write them.
CREATE TABLE support_approvals (
    pupil_id          bigint PRIMARY KEY REFERENCES pupils ON DELETE CASCADE,
    institution_code  text COLLATE "C" NOT NULL REFERENCES institutions,
    province_code     text COLLATE "C" NOT NULL REFERENCES provinces,
    hours             integer NOT NULL CHECK (hours BETWEEN 0 AND 25),
    approved_by       bigint NOT NULL DEFAULT ambito_user_id(),
    approved_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX support_approvals_institution ON support_approvals (institution_code);
CREATE INDEX support_approvals_province ON support_approvals (province_code);
CREATE TRIGGER support_approvals_province BEFORE INSERT OR UPDATE ON support_approvals
    FOR EACH ROW EXECUTE FUNCTION ambito_province_of_institution();

-- A school's request for the year as a whole: submitted (edits lock) or
-- sent back by the office with a reason.
CREATE TABLE support_submissions (
    institution_code  text COLLATE "C" NOT NULL REFERENCES institutions,
    school_year       integer NOT NULL,
    province_code     text COLLATE "C" NOT NULL REFERENCES provinces,
    state             text NOT NULL CHECK (state IN ('submitted', 'returned')),
    submitted_at      timestamptz NOT NULL DEFAULT now(),
    submitted_by      bigint NOT NULL DEFAULT ambito_user_id(),
    returned_at       timestamptz,
    returned_by       bigint,
    return_reason     text,
    PRIMARY KEY (institution_code, school_year)
);
CREATE INDEX support_submissions_province ON support_submissions (province_code, school_year);
CREATE TRIGGER support_submissions_province BEFORE INSERT OR UPDATE ON support_submissions
    FOR EACH ROW EXECUTE FUNCTION ambito_province_of_institution();

SELECT ambito_school_tenant('classes', 'class');
SELECT ambito_school_tenant('pupils', 'pupil');
SELECT ambito_school_tenant('support_requests', 'support_request');
SELECT ambito_school_tenant('support_approvals', 'support_approval');
SELECT ambito_school_tenant('support_submissions', 'support_request');
GRANT USAGE ON SEQUENCE classes_id_seq, pupils_id_seq TO ambito_app;

-- The audit trail: who (user and membership) did what to which object, and
-- when; for changes the previous and new values. Append-only: the server's
-- role may insert and the office read, nobody updates or deletes. Rows
-- outlive their objects, so there are no foreign keys.
CREATE TABLE audit_events (
    id                bigserial PRIMARY KEY,
    at                timestamptz NOT NULL DEFAULT now(),
    user_id           bigint NOT NULL DEFAULT ambito_user_id(),
    membership_id     bigint DEFAULT (ambito_setting('ambito.membership_id'))::bigint,
    role              text NOT NULL DEFAULT ambito_setting('ambito.role'),
    action            text NOT NULL,
    object_kind       text NOT NULL,
    object_id         text,
    pupil_id          bigint,
    province_code     text COLLATE "C",
    institution_code  text COLLATE "C",
    fields            text[] NOT NULL DEFAULT '{}',
    previous          jsonb,
    current           jsonb
);
CREATE INDEX audit_events_pupil ON audit_events (pupil_id, id) WHERE pupil_id IS NOT NULL;
CREATE INDEX audit_events_user ON audit_events (user_id, id);
CREATE INDEX audit_events_province ON audit_events (province_code, id);
ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_events FORCE ROW LEVEL SECURITY;
GRANT SELECT, INSERT ON audit_events TO ambito_app;
GRANT USAGE ON SEQUENCE audit_events_id_seq TO ambito_app;
-- Anyone signed in records their own acts, never someone else's.
CREATE POLICY audit_insert ON audit_events FOR INSERT TO ambito_app WITH CHECK (
    user_id = (SELECT ambito_user_id())
);
CREATE POLICY audit_read ON audit_events FOR SELECT TO ambito_app USING (
    province_code = (SELECT ambito_setting('ambito.province'))
    AND (SELECT ambito_setting('ambito.scope.audit_event.read')) = 'province'
);
