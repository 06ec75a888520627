-- Process 4, the intake (seed 003, spec teacher-applications.md): the
-- reference data the office loads (campaigns and their windows, classes of
-- competition, school districts, the surplus per province and class, the
-- teacher registry) and the teachers' applications for provisional
-- assignments (AP) and utilisations (UT).
--
-- Reference data other than the registry is public to every signed-in
-- caller (the forms are checked against it); the office writes its own
-- province's rows, and the national rows (campaigns, classes) as any
-- office. The registry and the applications are personal data: the office
-- of the holding province keeps the registry; an application is read by
-- its teacher and, once submitted, by the office it is routed to.

-- Row security of a reference table: everyone reads, an office writes
-- (`pred` narrows the rows it may write).
CREATE FUNCTION ambito_mobility_reference(tbl regclass, pred text) RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
    w text := format($p$(SELECT ambito_setting('ambito.scope.mobility_reference.write')) = 'province' AND (%s)$p$, pred);
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE ON %s TO ambito_app', tbl);
    EXECUTE format('CREATE POLICY everyone_reads ON %s FOR SELECT TO ambito_app USING (true)', tbl);
    EXECUTE format('CREATE POLICY office_inserts ON %s FOR INSERT TO ambito_app WITH CHECK (%s)', tbl, w);
    EXECUTE format('CREATE POLICY office_updates ON %s FOR UPDATE TO ambito_app USING (%s) WITH CHECK (%s)', tbl, w, w);
    EXECUTE format('CREATE POLICY owner_all ON %s FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true)', tbl);
END
$fn$;

-- A campaign: the target school year Y/Y+1, named by Y, with its windows
-- (spec §2) and the publication dates of the transfers per order.
CREATE TABLE mobility_campaigns (
    year        integer PRIMARY KEY CHECK (year BETWEEN 2000 AND 2100),
    windows     jsonb NOT NULL CHECK (jsonb_typeof(windows) = 'object'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
SELECT ambito_mobility_reference('mobility_campaigns', 'true');

CREATE TABLE classes_of_competition (
    code          text COLLATE "C" PRIMARY KEY CHECK (code ~ '^[A-Z0-9]{2,8}$'),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    school_order  text NOT NULL
        CHECK (school_order IN ('infanzia', 'primaria', 'secondaria_primo_grado', 'secondaria_secondo_grado'))
);
SELECT ambito_mobility_reference('classes_of_competition', 'true');

-- A school district: whole municipalities, or (in a city with several
-- districts) sites.
CREATE TABLE school_districts (
    code            text COLLATE "C" PRIMARY KEY CHECK (code ~ '^[A-Z0-9]{2,12}$'),
    province_code   text COLLATE "C" NOT NULL REFERENCES provinces,
    municipalities  text[] COLLATE "C" NOT NULL DEFAULT '{}',
    sites           text[] COLLATE "C" NOT NULL DEFAULT '{}',
    CHECK ((cardinality(municipalities) > 0) <> (cardinality(sites) > 0))
);
CREATE INDEX school_districts_municipalities ON school_districts USING gin (municipalities);
CREATE INDEX school_districts_sites ON school_districts USING gin (sites);
SELECT ambito_mobility_reference('school_districts',
    $$province_code = (SELECT ambito_setting('ambito.province'))$$);

-- The surplus (esubero) of a class of competition or post type in a province.
CREATE TABLE mobility_esubero (
    campaign_year   integer NOT NULL REFERENCES mobility_campaigns,
    province_code   text COLLATE "C" NOT NULL REFERENCES provinces,
    class_code      text COLLATE "C" NOT NULL CHECK (class_code ~ '^[A-Z0-9]{2,8}$'),
    count           integer NOT NULL CHECK (count BETWEEN 0 AND 100000),
    PRIMARY KEY (campaign_year, province_code, class_code)
);
SELECT ambito_mobility_reference('mobility_esubero',
    $$province_code = (SELECT ambito_setting('ambito.province'))$$);

-- The teacher registry: tenured staff, the post they hold and what the
-- rules read of them. `province_code` is the holding's province.
CREATE TABLE teachers (
    tax_code                      text COLLATE "C" PRIMARY KEY CHECK (tax_code ~ '^[A-Z0-9]{16}$'),
    first_name                    text NOT NULL CHECK (length(first_name) BETWEEN 1 AND 100),
    last_name                     text NOT NULL CHECK (length(last_name) BETWEEN 1 AND 100),
    email                         text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    category                      text NOT NULL CHECK (category IN ('teacher', 'educativo', 'irc', 'ata')),
    tenured                       boolean NOT NULL,
    school_order                  text NOT NULL
        CHECK (school_order IN ('infanzia', 'primaria', 'secondaria_primo_grado', 'secondaria_secondo_grado')),
    class_code                    text COLLATE "C" REFERENCES classes_of_competition,
    post_type                     text NOT NULL CHECK (post_type IN ('NN', 'EH', 'CH', 'DH', 'LINGUA', 'SPECIALE', 'IDD')),
    holding_kind                  text NOT NULL CHECK (holding_kind IN ('school', 'ambit', 'province')),
    holding_code                  text COLLATE "C" NOT NULL,
    province_code                 text COLLATE "C" NOT NULL REFERENCES provinces,
    legal_start                   date,
    economic_start                date,
    probation                     text CHECK (probation IN ('passed', 'not_done', 'not_finished', 'unfavourable')),
    qualifications                jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(qualifications) = 'array'),
    support_titles                jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(support_titles) = 'array'),
    support_constraint_satisfied  boolean NOT NULL DEFAULT false,
    hiring_source                 text CHECK (length(hiring_source) <= 40),
    hiring_phase                  text CHECK (length(hiring_phase) <= 10),
    merit_region                  text CHECK (length(merit_region) <= 60),
    updated_at                    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX teachers_email ON teachers (email);
CREATE INDEX teachers_province ON teachers (province_code, tax_code);

-- The tax code of the signed-in teacher: the registry row with the
-- account's address. It runs as the owner, to join the account to the
-- registry; it answers only about the caller.
CREATE FUNCTION ambito_own_tax_code() RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT t.tax_code FROM teachers t JOIN users u ON u.email = t.email WHERE u.id = ambito_user_id()
$$;
REVOKE ALL ON FUNCTION ambito_own_tax_code() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ambito_own_tax_code() TO ambito_app;

ALTER TABLE teachers ENABLE ROW LEVEL SECURITY;
ALTER TABLE teachers FORCE ROW LEVEL SECURITY;
GRANT SELECT, INSERT, UPDATE ON teachers TO ambito_app;
CREATE POLICY teacher_read ON teachers FOR SELECT TO ambito_app USING (
    (province_code = (SELECT ambito_setting('ambito.province'))
        AND (SELECT ambito_setting('ambito.scope.teacher_registry.read')) = 'province')
    OR (tax_code = (SELECT ambito_own_tax_code())
        AND (SELECT ambito_setting('ambito.scope.teacher_registry.read')) = 'own')
);
CREATE POLICY teacher_insert ON teachers FOR INSERT TO ambito_app WITH CHECK (
    province_code = (SELECT ambito_setting('ambito.province'))
    AND (SELECT ambito_setting('ambito.scope.teacher_registry.write')) = 'province'
);
CREATE POLICY teacher_update ON teachers FOR UPDATE TO ambito_app USING (
    province_code = (SELECT ambito_setting('ambito.province'))
    AND (SELECT ambito_setting('ambito.scope.teacher_registry.write')) = 'province'
) WITH CHECK (
    province_code = (SELECT ambito_setting('ambito.province'))
    AND (SELECT ambito_setting('ambito.scope.teacher_registry.write')) = 'province'
);
CREATE POLICY owner_all ON teachers FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);

-- An application. `input` is the form as entered; at submission the server
-- stores the registry row it checked, the assessment (preferences,
-- precedences, family score, warnings), a protocol number and the office
-- it is routed to (R-ROUTE-1: derived, never chosen).
CREATE SEQUENCE mobility_protocol_seq;
GRANT USAGE ON SEQUENCE mobility_protocol_seq TO ambito_app;
CREATE TABLE mobility_applications (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign_year        integer NOT NULL REFERENCES mobility_campaigns,
    teacher_tax_code     text COLLATE "C" NOT NULL REFERENCES teachers,
    kind                 text NOT NULL CHECK (kind IN ('ap', 'ut')),
    school_order         text NOT NULL
        CHECK (school_order IN ('infanzia', 'primaria', 'secondaria_primo_grado', 'secondaria_secondo_grado')),
    scope                text NOT NULL CHECK (scope IN ('provincial', 'interprovincial')),
    channel              text NOT NULL CHECK (channel IN ('online', 'paper')),
    state                text NOT NULL DEFAULT 'draft' CHECK (state IN ('draft', 'submitted', 'withdrawn')),
    home_province        text COLLATE "C" NOT NULL REFERENCES provinces,
    processing_province  text COLLATE "C" REFERENCES provinces,
    input                jsonb NOT NULL CHECK (jsonb_typeof(input) = 'object'),
    teacher_snapshot     jsonb,
    assessment           jsonb,
    protocol_number      text UNIQUE,
    submitted_at         timestamptz,
    received_on          date,
    withdrawn_at         timestamptz,
    created_by           bigint NOT NULL DEFAULT ambito_user_id(),
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CHECK (state = 'draft' OR (protocol_number IS NOT NULL AND submitted_at IS NOT NULL
                               AND assessment IS NOT NULL AND processing_province IS NOT NULL)),
    CHECK (channel = 'online' OR received_on IS NOT NULL)
);
-- ORG-4: one live form per teacher, campaign, kind and order.
CREATE UNIQUE INDEX mobility_applications_one_per_order
    ON mobility_applications (campaign_year, teacher_tax_code, kind, school_order) WHERE state <> 'withdrawn';
CREATE INDEX mobility_applications_office ON mobility_applications (processing_province, campaign_year, id);
CREATE INDEX mobility_applications_teacher ON mobility_applications (teacher_tax_code, id);

ALTER TABLE mobility_applications ENABLE ROW LEVEL SECURITY;
ALTER TABLE mobility_applications FORCE ROW LEVEL SECURITY;
GRANT SELECT, INSERT, UPDATE ON mobility_applications TO ambito_app;
-- The teacher reads their own forms (paper ones included) and writes the
-- online ones; the office reads and writes those routed to it, never a
-- draft (it is the teacher's until submitted).
CREATE FUNCTION ambito_mobility_application_policies() RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
    pred text := $p$
        (teacher_tax_code = (SELECT ambito_own_tax_code())
            AND (SELECT ambito_setting('ambito.scope.mobility_application.%1$s')) = 'own' AND %2$s)
        OR (processing_province = (SELECT ambito_setting('ambito.province'))
            AND (SELECT ambito_setting('ambito.scope.mobility_application.%1$s')) = 'province'
            AND state <> 'draft')$p$;
    r text := format(pred, 'read', 'true');
    w text := format(pred, 'write', $c$channel = 'online'$c$);
BEGIN
    EXECUTE format('CREATE POLICY app_read ON mobility_applications FOR SELECT TO ambito_app USING (%s)', r);
    EXECUTE format('CREATE POLICY app_insert ON mobility_applications FOR INSERT TO ambito_app WITH CHECK (%s)', w);
    EXECUTE format('CREATE POLICY app_update ON mobility_applications FOR UPDATE TO ambito_app USING (%s) WITH CHECK (%s)', w, w);
END
$fn$;
SELECT ambito_mobility_application_policies();
DROP FUNCTION ambito_mobility_application_policies();
CREATE POLICY owner_all ON mobility_applications FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);

-- A protocol number of the processing office: `BG-2016-000042`.
CREATE FUNCTION ambito_mobility_protocol(province text, year integer) RETURNS text LANGUAGE sql VOLATILE AS $$
    SELECT province || '-' || year || '-' || lpad(nextval('mobility_protocol_seq')::text, 6, '0')
$$;
GRANT EXECUTE ON FUNCTION ambito_mobility_protocol(text, integer) TO ambito_app;
