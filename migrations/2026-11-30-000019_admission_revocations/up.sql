-- A-22: an admission revoked after the final ranking because a declaration
-- was found false (sample checks, «decade dai benefici acquisiti»). The
-- placement leaves `admission_placements` (the pupil waits again, at the
-- corrected position, and may be called again) and is kept here as it was,
-- with who revoked it, when and why. School only, like the placements.
CREATE TABLE admission_revocations (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    application_id    bigint NOT NULL REFERENCES admission_applications,
    round_id          bigint NOT NULL REFERENCES admission_rounds,
    institution_code  text COLLATE "C" NOT NULL REFERENCES institutions,
    province_code     text COLLATE "C" NOT NULL REFERENCES provinces,
    site_code         text COLLATE "C" NOT NULL,
    time_model        text NOT NULL,
    via               text NOT NULL,
    placed_at         timestamptz NOT NULL,
    revoked_at        timestamptz NOT NULL,
    reason            text NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000),
    revoked_by        bigint NOT NULL DEFAULT ambito_user_id()
);
CREATE INDEX admission_revocations_round ON admission_revocations (round_id, id);
SELECT ambito_admissions_tenant('admission_revocations', 'admission_application');

-- Revoking moves a placement out: the school (with its head teacher) may
-- delete its own placements, and nothing else.
GRANT DELETE ON admission_placements TO ambito_app;
CREATE POLICY tenant_delete ON admission_placements FOR DELETE TO ambito_app USING (
    institution_code = (SELECT ambito_setting('ambito.school'))
    AND (SELECT ambito_setting('ambito.scope.admission_application.write')) = 'school');
