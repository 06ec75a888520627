-- Process 3: admission rounds (seed 002, spec admissions.md). A school
-- institution keeps, per order and school year, a round: its sites and
-- places, its time models, its approved points table, the municipal street
-- list, and the applications the secretariat registers from the national
-- portal. The ranking is computed by the pure engine, never stored as
-- truth: what is stored are the inputs and, once published, snapshots.
--
-- Every row carries its institution and province (set by a trigger from the
-- institution), so the policies are indexed equality tests, as in process 1.

-- The head teacher (Dirigente) acts for an institution in a role of its own:
-- the acts the regulation gives the Dirigente need it.
ALTER TABLE memberships DROP CONSTRAINT memberships_role_check;
ALTER TABLE memberships ADD CONSTRAINT memberships_role_check
    CHECK (role IN ('provincial', 'school', 'head_teacher', 'municipality', 'cti_hub', 'teacher'));
ALTER TABLE memberships ADD CONSTRAINT memberships_head_teacher_check
    CHECK (role <> 'head_teacher' OR institution_code IS NOT NULL);

-- Row security of an admissions table for object kind `kind`: the office
-- its province, a school or its head teacher their own institution.
CREATE FUNCTION ambito_admissions_tenant(tbl regclass, kind text) RETURNS void LANGUAGE plpgsql AS $fn$
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
    EXECUTE format('GRANT SELECT, INSERT, UPDATE ON %s TO ambito_app', tbl);
    EXECUTE format('CREATE POLICY tenant_read ON %s FOR SELECT TO ambito_app USING (%s)', tbl, r);
    EXECUTE format('CREATE POLICY tenant_insert ON %s FOR INSERT TO ambito_app WITH CHECK (%s)', tbl, w);
    EXECUTE format('CREATE POLICY tenant_update ON %s FOR UPDATE TO ambito_app USING (%s) WITH CHECK (%s)', tbl, w, w);
    EXECUTE format('CREATE TRIGGER %s_province BEFORE INSERT OR UPDATE ON %s
                    FOR EACH ROW EXECUTE FUNCTION ambito_province_of_institution()', tbl, tbl);
    -- The owner (migrations, demo data) works on every row.
    EXECUTE format('CREATE POLICY owner_all ON %s FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true)', tbl);
END
$fn$;

-- A points table, versioned per institution and order. Approved versions are
-- immutable (R-PTS-1); the criteria are kept with the version.
CREATE TABLE points_tables (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    institution_code   text COLLATE "C" NOT NULL REFERENCES institutions,
    province_code      text COLLATE "C" NOT NULL REFERENCES provinces,
    school_order       text NOT NULL CHECK (school_order IN ('infanzia', 'primaria', 'secondaria_primo_grado')),
    version            integer NOT NULL CHECK (version > 0),
    criteria           jsonb NOT NULL CHECK (jsonb_typeof(criteria) = 'array'),
    status             text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'approved')),
    council_date       date,
    resolution_number  text CHECK (length(resolution_number) BETWEEN 1 AND 50),
    published_url      text CHECK (length(published_url) <= 500),
    created_at         timestamptz NOT NULL DEFAULT now(),
    approved_at        timestamptz,
    UNIQUE (institution_code, school_order, version),
    CHECK (status = 'draft' OR (council_date IS NOT NULL AND resolution_number IS NOT NULL AND approved_at IS NOT NULL))
);
CREATE INDEX points_tables_province ON points_tables (province_code, id);
CREATE FUNCTION ambito_points_table_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'approved' THEN
        RAISE EXCEPTION 'POINTS_TABLE_FROZEN: an approved points table never changes' USING ERRCODE = 'check_violation';
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$$;
CREATE TRIGGER points_tables_frozen BEFORE UPDATE OR DELETE ON points_tables
    FOR EACH ROW EXECUTE FUNCTION ambito_points_table_frozen();
SELECT ambito_admissions_tenant('points_tables', 'points_table');

-- An admission round: one institution, order and school year.
CREATE TABLE admission_rounds (
    id                              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    institution_code                text COLLATE "C" NOT NULL REFERENCES institutions,
    province_code                   text COLLATE "C" NOT NULL REFERENCES provinces,
    school_order                    text NOT NULL CHECK (school_order IN ('infanzia', 'primaria', 'secondaria_primo_grado')),
    school_year                     integer NOT NULL CHECK (school_year BETWEEN 200001 AND 210000),
    window_opens_at                 timestamptz NOT NULL,
    window_closes_at                timestamptz NOT NULL CHECK (window_closes_at > window_opens_at),
    mandatory_born_by               date NOT NULL,
    early_born_by                   date NOT NULL CHECK (early_born_by >= mandatory_born_by),
    resident_municipalities         text[] NOT NULL CHECK (cardinality(resident_municipalities) > 0),
    points_table_id                 bigint NOT NULL REFERENCES points_tables,
    time_models                     jsonb NOT NULL CHECK (jsonb_typeof(time_models) = 'array'),
    default_time_model              text NOT NULL,
    min_pupils_per_time_model       integer NOT NULL CHECK (min_pupils_per_time_model BETWEEN 1 AND 40),
    redistribute_beyond_preferences boolean NOT NULL DEFAULT true,
    provisional_due_on              date NOT NULL,
    final_due_on                    date NOT NULL,
    waiting_list_closes_at          timestamptz NOT NULL,
    enrolment_documents_due_on      date,
    draw_seed_hash                  text CHECK (draw_seed_hash ~ '^[0-9a-f]{64}$'),
    draw_seed                       text CHECK (length(draw_seed) BETWEEN 1 AND 200),
    draw_seed_set_at                timestamptz,
    published_at                    timestamptz,
    complaint_deadline              timestamptz,
    approved_at                     timestamptz,
    posted_until                    timestamptz,
    created_at                      timestamptz NOT NULL DEFAULT now(),
    version                         integer NOT NULL DEFAULT 1,
    UNIQUE (institution_code, school_order, school_year)
);
CREATE INDEX admission_rounds_province ON admission_rounds (province_code, school_year, id);
SELECT ambito_admissions_tenant('admission_rounds', 'admission_round');

-- The round's sites, in the round's order, with their places.
CREATE TABLE admission_round_sites (
    round_id          bigint NOT NULL REFERENCES admission_rounds ON DELETE CASCADE,
    site_code         text COLLATE "C" NOT NULL REFERENCES sites,
    institution_code  text COLLATE "C" NOT NULL REFERENCES institutions,
    province_code     text COLLATE "C" NOT NULL REFERENCES provinces,
    position          integer NOT NULL,
    places            integer NOT NULL CHECK (places BETWEEN 0 AND 1000),
    PRIMARY KEY (round_id, site_code),
    -- Deferred: a reorder moves positions through each other.
    UNIQUE (round_id, position) DEFERRABLE INITIALLY DEFERRED
);
SELECT ambito_admissions_tenant('admission_round_sites', 'admission_round');

-- Optional caps of a time model at a site (R-TM-5).
CREATE TABLE admission_time_model_caps (
    round_id          bigint NOT NULL REFERENCES admission_rounds ON DELETE CASCADE,
    site_code         text COLLATE "C" NOT NULL,
    model             text NOT NULL,
    max_pupils        integer NOT NULL CHECK (max_pupils BETWEEN 0 AND 1000),
    institution_code  text COLLATE "C" NOT NULL REFERENCES institutions,
    province_code     text COLLATE "C" NOT NULL REFERENCES provinces,
    PRIMARY KEY (round_id, site_code, model),
    FOREIGN KEY (round_id, site_code) REFERENCES admission_round_sites ON DELETE CASCADE
);
SELECT ambito_admissions_tenant('admission_time_model_caps', 'admission_round');

-- The municipal street list of a round: which site's catchment an address
-- is in. Streets are stored normalised for matching, and as given.
CREATE TABLE admission_stradario (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    round_id          bigint NOT NULL REFERENCES admission_rounds ON DELETE CASCADE,
    institution_code  text COLLATE "C" NOT NULL REFERENCES institutions,
    province_code     text COLLATE "C" NOT NULL REFERENCES provinces,
    street            text NOT NULL CHECK (length(street) BETWEEN 1 AND 200),
    street_key        text NOT NULL,
    from_number       integer CHECK (from_number >= 0),
    to_number         integer CHECK (to_number >= from_number),
    parity            text NOT NULL CHECK (parity IN ('all', 'odd', 'even')),
    site_code         text COLLATE "C" NOT NULL,
    FOREIGN KEY (round_id, site_code) REFERENCES admission_round_sites ON DELETE CASCADE
);
CREATE INDEX admission_stradario_round ON admission_stradario (round_id, street_key);
SELECT ambito_admissions_tenant('admission_stradario', 'admission_round');
-- A round's sites, caps and street list are replaced whole by the school.
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['admission_round_sites', 'admission_time_model_caps', 'admission_stradario'] LOOP
        EXECUTE format('GRANT DELETE ON %I TO ambito_app', t);
        EXECUTE format($p$CREATE POLICY tenant_delete ON %I FOR DELETE TO ambito_app USING (
            institution_code = (SELECT ambito_setting('ambito.school'))
            AND (SELECT ambito_setting('ambito.scope.admission_round.write')) = 'school')$p$, t);
    END LOOP;
END
$$;

-- An application, as the family made it on the national portal.
CREATE TABLE admission_applications (
    id                        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    round_id                  bigint NOT NULL REFERENCES admission_rounds,
    institution_code          text COLLATE "C" NOT NULL REFERENCES institutions,
    province_code             text COLLATE "C" NOT NULL REFERENCES provinces,
    external_ref              text NOT NULL CHECK (length(external_ref) BETWEEN 1 AND 50),
    public_code               text COLLATE "C" NOT NULL CHECK (public_code ~ '^[0-9A-HJKMNP-TV-Z]{8}$'),
    first_name                text NOT NULL CHECK (length(first_name) BETWEEN 1 AND 100),
    last_name                 text NOT NULL CHECK (length(last_name) BETWEEN 1 AND 100),
    tax_code                  text COLLATE "C" NOT NULL CHECK (tax_code ~ '^[A-Z0-9]{16}$'),
    birth_date                date NOT NULL,
    sex                       text NOT NULL CHECK (sex IN ('F', 'M')),
    residence_municipality    text COLLATE "C" NOT NULL,
    street                    text CHECK (length(street) <= 200),
    house_number              text CHECK (length(house_number) <= 20),
    catchment_site            text COLLATE "C",
    catchment_resolution      text NOT NULL CHECK (catchment_resolution IN ('stradario', 'manual', 'unresolved', 'not_resident')),
    catchment_reason          text CHECK (length(catchment_reason) <= 500),
    submitted_at              timestamptz NOT NULL,
    site_preferences          text[] NOT NULL CHECK (cardinality(site_preferences) > 0),
    time_model_preferences    text[] NOT NULL CHECK (cardinality(time_model_preferences) > 0),
    disability_declared       boolean NOT NULL DEFAULT false,
    disability_certified_on   date,
    certification_attachment  uuid,
    disability_verified       boolean NOT NULL DEFAULT false,
    inclusion_assessment      text NOT NULL DEFAULT 'pending' CHECK (inclusion_assessment IN ('pending', 'confirmed', 'not_confirmed')),
    status                    text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'withdrawn', 'transferred', 'not_accepted')),
    status_at                 timestamptz,
    created_at                timestamptz NOT NULL DEFAULT now(),
    version                   integer NOT NULL DEFAULT 1,
    UNIQUE (round_id, external_ref),
    UNIQUE (round_id, public_code),
    UNIQUE (round_id, tax_code),
    CHECK (NOT disability_verified OR disability_certified_on IS NOT NULL)
);
CREATE INDEX admission_applications_round ON admission_applications (round_id, id);
CREATE INDEX admission_applications_province ON admission_applications (province_code, id);
SELECT ambito_admissions_tenant('admission_applications', 'admission_application');

-- What a family claims of the points table, and what the school found.
CREATE TABLE admission_claims (
    application_id    bigint NOT NULL REFERENCES admission_applications ON DELETE CASCADE,
    criterion         text NOT NULL,
    quantity          integer NOT NULL DEFAULT 1 CHECK (quantity BETWEEN 0 AND 100),
    status            text NOT NULL DEFAULT 'declared' CHECK (status IN ('declared', 'verified', 'rejected')),
    reason            text CHECK (length(reason) <= 500),
    checked_at        timestamptz,
    institution_code  text COLLATE "C" NOT NULL REFERENCES institutions,
    province_code     text COLLATE "C" NOT NULL REFERENCES provinces,
    PRIMARY KEY (application_id, criterion)
);
SELECT ambito_admissions_tenant('admission_claims', 'admission_application');

-- A published ranking: inputs and outcome as they were, with their hashes
-- chained into the audit trail. Never rewritten.
CREATE TABLE admission_snapshots (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    round_id          bigint NOT NULL REFERENCES admission_rounds,
    institution_code  text COLLATE "C" NOT NULL REFERENCES institutions,
    province_code     text COLLATE "C" NOT NULL REFERENCES provinces,
    stage             text NOT NULL CHECK (stage IN ('provisional', 'final')),
    at                timestamptz NOT NULL,
    inputs            jsonb NOT NULL,
    outcome           jsonb NOT NULL,
    public_version    jsonb NOT NULL,
    inputs_hash       text NOT NULL,
    outcome_hash      text NOT NULL,
    UNIQUE (round_id, stage)
);
SELECT ambito_admissions_tenant('admission_snapshots', 'admission_round');
-- `ambito admissions verify` recomputes every snapshot, as the maintenance role.
GRANT SELECT ON admission_snapshots TO ambito_maint;
CREATE POLICY maint_read ON admission_snapshots FOR SELECT TO ambito_maint USING (true);

GRANT USAGE ON SEQUENCE points_tables_id_seq, admission_rounds_id_seq, admission_stradario_id_seq,
    admission_applications_id_seq, admission_snapshots_id_seq TO ambito_app;
