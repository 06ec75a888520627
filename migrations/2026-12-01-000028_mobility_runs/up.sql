-- Process 4, allocation (issue 21): the runs of a phase and their outcomes.
--
-- A run keeps the engine's whole input (candidates by pseudonymous code,
-- never by name, and the free posts) and the hashes of its input and
-- outcome, so `ambito mobility verify` can recompute it; the same hashes
-- go into the audit trail. A run is a proposal that only the office sees;
-- running the phase again before approval supersedes it; approval
-- publishes it to the teachers. Each application's outcome and
-- certificate are a row of their own, read by the office of the province
-- and, once the run is approved, by the application's teacher.
CREATE TABLE mobility_runs (
    id             bigserial PRIMARY KEY,
    campaign_year  integer NOT NULL REFERENCES mobility_campaigns,
    province_code  text COLLATE "C" NOT NULL REFERENCES provinces,
    phase          text NOT NULL CHECK (phase IN ('ut_ap_intra', 'ap_inter')),
    state          text NOT NULL DEFAULT 'proposal' CHECK (state IN ('proposal', 'approved', 'superseded')),
    input          jsonb NOT NULL,
    input_hash     text NOT NULL CHECK (input_hash ~ '^[0-9a-f]{64}$'),
    outcome_hash   text NOT NULL CHECK (outcome_hash ~ '^[0-9a-f]{64}$'),
    assigned_count integer NOT NULL CHECK (assigned_count >= 0),
    -- A re-run after approval: the approved run it revises, and who moved.
    revises        bigint REFERENCES mobility_runs,
    diff           jsonb NOT NULL DEFAULT '[]',
    created_by     bigint NOT NULL REFERENCES users,
    created_at     timestamptz NOT NULL,
    approved_by    bigint REFERENCES users,
    approved_at    timestamptz,
    CHECK ((state = 'approved') <= (approved_at IS NOT NULL))
);
-- One open proposal and one approved run per phase of a province.
CREATE UNIQUE INDEX mobility_runs_one_proposal ON mobility_runs (campaign_year, province_code, phase)
    WHERE state = 'proposal';
CREATE UNIQUE INDEX mobility_runs_one_approved ON mobility_runs (campaign_year, province_code, phase)
    WHERE state = 'approved';

CREATE TABLE mobility_run_results (
    run_id          bigint NOT NULL REFERENCES mobility_runs ON DELETE CASCADE,
    application_id  bigint NOT NULL REFERENCES mobility_applications,
    province_code   text COLLATE "C" NOT NULL,
    teacher_tax_code text COLLATE "C" NOT NULL,
    state           text NOT NULL CHECK (state IN ('assigned', 'not_assigned', 'inadmissible')),
    school_code     text COLLATE "C",
    post_type       text,
    class_code      text COLLATE "C",
    chair_kind      text,
    position        integer,
    -- [{position, code, lastAdmitted: {code, group, precedence, sectionE, score} | null}]
    certificate     jsonb NOT NULL DEFAULT '[]',
    PRIMARY KEY (run_id, application_id),
    CHECK ((state = 'assigned') = (school_code IS NOT NULL))
);
CREATE INDEX mobility_run_results_application ON mobility_run_results (application_id);

-- The published cutoffs of approved runs (France publishes them per area):
-- per preference code and post type, how many were assigned through it and
-- the weakest claim among them. Fewer than 3: the score and precedence are
-- not stored at all.
CREATE TABLE mobility_cutoffs (
    run_id        bigint NOT NULL REFERENCES mobility_runs ON DELETE CASCADE,
    campaign_year integer NOT NULL,
    province_code text COLLATE "C" NOT NULL,
    phase         text NOT NULL,
    code          text COLLATE "C" NOT NULL,
    post_type     text NOT NULL,
    suppressed    boolean NOT NULL,
    last_score    double precision,
    precedence    text,
    PRIMARY KEY (run_id, code, post_type),
    CHECK (suppressed <= (last_score IS NULL AND precedence IS NULL))
);
CREATE INDEX mobility_cutoffs_province ON mobility_cutoffs (campaign_year, province_code);

ALTER TABLE mobility_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE mobility_runs FORCE ROW LEVEL SECURITY;
ALTER TABLE mobility_run_results ENABLE ROW LEVEL SECURITY;
ALTER TABLE mobility_run_results FORCE ROW LEVEL SECURITY;
GRANT SELECT, INSERT, UPDATE ON mobility_runs TO ambito_app;
GRANT USAGE ON SEQUENCE mobility_runs_id_seq TO ambito_app;
GRANT SELECT, INSERT ON mobility_run_results TO ambito_app;

CREATE FUNCTION ambito_mobility_run_policies() RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
    office text := $p$province_code = (SELECT ambito_setting('ambito.province'))
        AND (SELECT ambito_setting('ambito.scope.mobility_allocation.%s')) = 'province'$p$;
BEGIN
    EXECUTE format('CREATE POLICY office_reads ON mobility_runs FOR SELECT TO ambito_app USING (%s)',
        format(office, 'read'));
    EXECUTE format('CREATE POLICY office_inserts ON mobility_runs FOR INSERT TO ambito_app WITH CHECK (%s)',
        format(office, 'write'));
    EXECUTE format('CREATE POLICY office_updates ON mobility_runs FOR UPDATE TO ambito_app USING (%s) WITH CHECK (%s)',
        format(office, 'write'), format(office, 'write'));
    EXECUTE format('CREATE POLICY office_reads ON mobility_run_results FOR SELECT TO ambito_app USING (%s)',
        format(office, 'read'));
    EXECUTE format('CREATE POLICY office_inserts ON mobility_run_results FOR INSERT TO ambito_app WITH CHECK (%s)',
        format(office, 'write'));
END
$fn$;
SELECT ambito_mobility_run_policies();
DROP FUNCTION ambito_mobility_run_policies();
-- The teacher reads their own outcome once the office approved the run; a
-- proposal is the office's alone.
CREATE FUNCTION ambito_mobility_run_approved(run bigint) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM mobility_runs r WHERE r.id = run AND r.state = 'approved')
$$;
REVOKE ALL ON FUNCTION ambito_mobility_run_approved(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ambito_mobility_run_approved(bigint) TO ambito_app;
CREATE POLICY teacher_reads ON mobility_run_results FOR SELECT TO ambito_app USING (
    teacher_tax_code = (SELECT ambito_own_tax_code())
    AND (SELECT ambito_setting('ambito.scope.mobility_allocation.read')) = 'own'
    AND ambito_mobility_run_approved(run_id)
);
CREATE POLICY owner_all ON mobility_runs FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY owner_all ON mobility_run_results FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);

-- Cutoffs are published data: everyone reads them; the office writes its own.
SELECT ambito_mobility_reference('mobility_cutoffs',
    $$province_code = (SELECT ambito_setting('ambito.province'))$$);
-- An approved re-run replaces the phase's cutoffs whole.
GRANT DELETE ON mobility_cutoffs TO ambito_app;
CREATE POLICY office_deletes ON mobility_cutoffs FOR DELETE TO ambito_app USING (
    (SELECT ambito_setting('ambito.scope.mobility_reference.write')) = 'province'
    AND province_code = (SELECT ambito_setting('ambito.province')));
-- A superseded proposal's outcomes go (its input and hashes stay).
GRANT DELETE ON mobility_run_results TO ambito_app;
CREATE POLICY office_deletes ON mobility_run_results FOR DELETE TO ambito_app USING (
    province_code = (SELECT ambito_setting('ambito.province'))
    AND (SELECT ambito_setting('ambito.scope.mobility_allocation.write')) = 'province');
-- `ambito mobility verify` reads every province's runs (inputs are
-- pseudonymous: codes, scores, dates of birth, no names).
GRANT SELECT ON mobility_runs TO ambito_maint;
CREATE POLICY maint_read ON mobility_runs FOR SELECT TO ambito_maint USING (true);
-- The addresses to e-mail an approved run's outcomes to: the office that
-- approved it reaches the teachers of the forms routed to it, including
-- those whose registry row another province keeps (interprovincial forms).
CREATE FUNCTION ambito_mobility_outcome_addresses(run bigint)
    RETURNS TABLE (application_id bigint, email text, protocol_number text)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT x.application_id, t.email, a.protocol_number
    FROM mobility_run_results x
    JOIN mobility_runs r ON r.id = x.run_id
    JOIN mobility_applications a ON a.id = x.application_id
    JOIN teachers t ON t.tax_code = x.teacher_tax_code
    WHERE x.run_id = run AND r.state = 'approved'
      AND r.province_code = (SELECT ambito_setting('ambito.province'))
      AND (SELECT ambito_setting('ambito.scope.mobility_allocation.write')) = 'province'
$$;
REVOKE ALL ON FUNCTION ambito_mobility_outcome_addresses(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ambito_mobility_outcome_addresses(bigint) TO ambito_app;
