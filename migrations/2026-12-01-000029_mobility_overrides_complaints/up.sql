-- Process 4, allocation (issue 21): the office's overrides, complaints and
-- renunciations, and the outcome sheet for the office and schools.
--
-- An override puts a form on a line by hand, with a reason: the next run
-- of the phase places it before the engine shares out the other seats,
-- and the certificates of everyone who ranked that line higher name it.
-- It is withdrawn (never deleted) with a reason of its own.
CREATE TABLE mobility_overrides (
    id              bigserial PRIMARY KEY,
    campaign_year   integer NOT NULL REFERENCES mobility_campaigns,
    province_code   text COLLATE "C" NOT NULL REFERENCES provinces,
    phase           text NOT NULL CHECK (phase IN ('ut_ap_intra', 'ap_inter')),
    application_id  bigint NOT NULL REFERENCES mobility_applications,
    school_code     text COLLATE "C" NOT NULL,
    post_type       text NOT NULL,
    class_code      text COLLATE "C" NOT NULL DEFAULT '',
    chair_kind      text NOT NULL,
    reason          text NOT NULL CHECK (length(btrim(reason)) BETWEEN 5 AND 1000),
    created_by      bigint NOT NULL REFERENCES users,
    created_at      timestamptz NOT NULL,
    withdrawn_by    bigint REFERENCES users,
    withdrawn_at    timestamptz,
    withdrawal_reason text CHECK (length(btrim(withdrawal_reason)) BETWEEN 5 AND 1000),
    CHECK ((withdrawn_at IS NULL) = (withdrawal_reason IS NULL))
);
-- One standing override per form.
CREATE UNIQUE INDEX mobility_overrides_standing ON mobility_overrides (application_id) WHERE withdrawn_at IS NULL;
CREATE INDEX mobility_overrides_phase ON mobility_overrides (campaign_year, province_code, phase);

-- A complaint (reclamo) about a published outcome, recorded by the office
-- within the campaign's deadline (spec Ambiguity 21), and its decision.
CREATE TABLE mobility_complaints (
    id               bigserial PRIMARY KEY,
    run_id           bigint NOT NULL REFERENCES mobility_runs,
    application_id   bigint NOT NULL REFERENCES mobility_applications,
    province_code    text COLLATE "C" NOT NULL REFERENCES provinces,
    teacher_tax_code text COLLATE "C" NOT NULL,
    received_on      date NOT NULL,
    summary          text NOT NULL CHECK (length(btrim(summary)) BETWEEN 5 AND 4000),
    state            text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'upheld', 'rejected')),
    decision_reason  text CHECK (length(btrim(decision_reason)) BETWEEN 5 AND 4000),
    recorded_by      bigint NOT NULL REFERENCES users,
    recorded_at      timestamptz NOT NULL,
    decided_by       bigint REFERENCES users,
    decided_at       timestamptz,
    CHECK ((state = 'pending') = (decided_at IS NULL)),
    CHECK ((state = 'pending') = (decision_reason IS NULL))
);
CREATE INDEX mobility_complaints_application ON mobility_complaints (application_id);

-- Renouncing is explicit (issue 21): a teacher, or the office for a
-- written renunciation, renounces the post of an approved run. The next
-- run of the phase leaves the form out and shares its seat.
CREATE TABLE mobility_renunciations (
    application_id   bigint PRIMARY KEY REFERENCES mobility_applications,
    run_id           bigint NOT NULL REFERENCES mobility_runs,
    province_code    text COLLATE "C" NOT NULL REFERENCES provinces,
    teacher_tax_code text COLLATE "C" NOT NULL,
    renounced_at     timestamptz NOT NULL,
    recorded_by      bigint NOT NULL REFERENCES users
);

-- A re-run's outcome of a renounced form.
ALTER TABLE mobility_run_results DROP CONSTRAINT mobility_run_results_state_check;
ALTER TABLE mobility_run_results ADD CONSTRAINT mobility_run_results_state_check
    CHECK (state IN ('assigned', 'not_assigned', 'inadmissible', 'renounced', 'manual'));
ALTER TABLE mobility_run_results DROP CONSTRAINT mobility_run_results_check;
ALTER TABLE mobility_run_results ADD CONSTRAINT mobility_run_results_check
    CHECK ((state IN ('assigned', 'manual')) = (school_code IS NOT NULL));

ALTER TABLE mobility_overrides ENABLE ROW LEVEL SECURITY;
ALTER TABLE mobility_overrides FORCE ROW LEVEL SECURITY;
ALTER TABLE mobility_complaints ENABLE ROW LEVEL SECURITY;
ALTER TABLE mobility_complaints FORCE ROW LEVEL SECURITY;
ALTER TABLE mobility_renunciations ENABLE ROW LEVEL SECURITY;
ALTER TABLE mobility_renunciations FORCE ROW LEVEL SECURITY;
GRANT SELECT, INSERT, UPDATE ON mobility_overrides, mobility_complaints TO ambito_app;
GRANT SELECT, INSERT ON mobility_renunciations TO ambito_app;
GRANT USAGE ON SEQUENCE mobility_overrides_id_seq, mobility_complaints_id_seq TO ambito_app;

CREATE FUNCTION ambito_mobility_office_policies() RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
    office text := $p$province_code = (SELECT ambito_setting('ambito.province'))
        AND (SELECT ambito_setting('ambito.scope.mobility_allocation.%s')) = 'province'$p$;
    tbl text;
BEGIN
    FOREACH tbl IN ARRAY ARRAY['mobility_overrides', 'mobility_complaints', 'mobility_renunciations'] LOOP
        EXECUTE format('CREATE POLICY office_reads ON %s FOR SELECT TO ambito_app USING (%s)',
            tbl, format(office, 'read'));
        EXECUTE format('CREATE POLICY office_inserts ON %s FOR INSERT TO ambito_app WITH CHECK (%s)',
            tbl, format(office, 'write'));
        EXECUTE format('CREATE POLICY owner_all ON %s FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true)', tbl);
    END LOOP;
    FOREACH tbl IN ARRAY ARRAY['mobility_overrides', 'mobility_complaints'] LOOP
        EXECUTE format('CREATE POLICY office_updates ON %s FOR UPDATE TO ambito_app USING (%s) WITH CHECK (%s)',
            tbl, format(office, 'write'), format(office, 'write'));
    END LOOP;
END
$fn$;
SELECT ambito_mobility_office_policies();
DROP FUNCTION ambito_mobility_office_policies();

-- The teacher reads the complaints recorded about their forms, and reads
-- and makes their own renunciation of a published post.
CREATE POLICY teacher_reads ON mobility_complaints FOR SELECT TO ambito_app USING (
    teacher_tax_code = (SELECT ambito_own_tax_code())
    AND (SELECT ambito_setting('ambito.scope.mobility_allocation.read')) = 'own');
CREATE POLICY teacher_reads ON mobility_renunciations FOR SELECT TO ambito_app USING (
    teacher_tax_code = (SELECT ambito_own_tax_code())
    AND (SELECT ambito_setting('ambito.scope.mobility_allocation.read')) = 'own');
CREATE POLICY teacher_inserts ON mobility_renunciations FOR INSERT TO ambito_app WITH CHECK (
    teacher_tax_code = (SELECT ambito_own_tax_code())
    AND (SELECT ambito_setting('ambito.scope.mobility_allocation.write')) = 'own'
    AND ambito_mobility_run_approved(run_id));

-- The outcome sheet: per post, who takes it. The office of the run's
-- province reads every row of any of its runs; a school reads the posts
-- of its own sites in approved runs of its province, and nothing else.
-- Teachers' names come from the registry, which a school cannot read.
CREATE FUNCTION ambito_mobility_outcome_sheet(run bigint)
    RETURNS TABLE (application_id bigint, protocol_number text, last_name text, first_name text,
                   tax_code text, state text, school_code text, institution_code text, post_type text,
                   class_code text, chair_kind text, pref_position integer)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT x.application_id, a.protocol_number, t.last_name, t.first_name, x.teacher_tax_code, x.state,
           x.school_code, coalesce(s.institution_code, x.school_code), x.post_type, x.class_code,
           x.chair_kind, x.position
    FROM mobility_run_results x
    JOIN mobility_runs r ON r.id = x.run_id
    JOIN mobility_applications a ON a.id = x.application_id
    JOIN teachers t ON t.tax_code = x.teacher_tax_code
    LEFT JOIN sites s ON s.code = x.school_code
    WHERE x.run_id = $1
      AND r.province_code = (SELECT ambito_setting('ambito.province'))
      AND (((SELECT ambito_setting('ambito.scope.mobility_allocation.read')) = 'province')
        OR ((SELECT ambito_setting('ambito.scope.mobility_allocation.read')) = 'school'
            AND r.state = 'approved' AND x.state IN ('assigned', 'manual')
            AND coalesce(s.institution_code, x.school_code) = (SELECT ambito_setting('ambito.school'))))
    ORDER BY x.school_code, x.post_type, x.class_code, x.chair_kind, a.protocol_number
$$;
REVOKE ALL ON FUNCTION ambito_mobility_outcome_sheet(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ambito_mobility_outcome_sheet(bigint) TO ambito_app;

-- The approved run of a phase in the caller's province, for a school
-- (which cannot read runs): only its id.
CREATE FUNCTION ambito_mobility_approved_run(year integer, phase text) RETURNS bigint
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT r.id FROM mobility_runs r
    WHERE r.campaign_year = $1 AND r.phase = $2 AND r.state = 'approved'
      AND r.province_code = (SELECT ambito_setting('ambito.province'))
      AND (SELECT ambito_setting('ambito.scope.mobility_allocation.read')) IN ('province', 'school')
$$;
REVOKE ALL ON FUNCTION ambito_mobility_approved_run(integer, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ambito_mobility_approved_run(integer, text) TO ambito_app;
