-- SC-U4: the school of service evaluates a utilisation's score (seed
-- L197). It sees only this section of its own staff's UT forms: who, the
-- score declared, its own validation. Never the form, its precedences or
-- its documents, which may hold health data.
CREATE TABLE mobility_ut_scores (
    application_id    bigint PRIMARY KEY REFERENCES mobility_applications ON DELETE CASCADE,
    institution_code  text COLLATE "C" NOT NULL REFERENCES institutions,
    province_code     text COLLATE "C" NOT NULL REFERENCES provinces,
    teacher_tax_code  text COLLATE "C" NOT NULL,
    teacher_name      text NOT NULL CHECK (length(teacher_name) BETWEEN 1 AND 201),
    declared          double precision CHECK (declared BETWEEN 0 AND 1000),
    validated         double precision CHECK (validated BETWEEN 0 AND 1000),
    note              text CHECK (length(note) <= 500),
    validated_by      bigint,
    validated_at      timestamptz,
    CHECK ((validated IS NULL) = (validated_at IS NULL))
);
CREATE INDEX mobility_ut_scores_school ON mobility_ut_scores (institution_code, application_id);
CREATE TRIGGER mobility_ut_scores_province BEFORE INSERT OR UPDATE ON mobility_ut_scores
    FOR EACH ROW EXECUTE FUNCTION ambito_province_of_institution();
ALTER TABLE mobility_ut_scores ENABLE ROW LEVEL SECURITY;
ALTER TABLE mobility_ut_scores FORCE ROW LEVEL SECURITY;
GRANT SELECT, INSERT, UPDATE ON mobility_ut_scores TO ambito_app;
-- The school its own staff's; whoever sees the application (the teacher,
-- the processing office) its section.
CREATE POLICY ut_read ON mobility_ut_scores FOR SELECT TO ambito_app USING (
    (institution_code = (SELECT ambito_setting('ambito.school'))
        AND (SELECT ambito_setting('ambito.scope.utilisation_score.read')) = 'school')
    OR ((SELECT ambito_setting('ambito.scope.mobility_application.read')) IS NOT NULL
        AND EXISTS (SELECT 1 FROM mobility_applications a WHERE a.id = mobility_ut_scores.application_id))
);
-- Written by the submission of the form (as the teacher or the office).
CREATE POLICY ut_insert ON mobility_ut_scores FOR INSERT TO ambito_app WITH CHECK (
    validated IS NULL
    AND (SELECT ambito_setting('ambito.scope.mobility_application.write')) IS NOT NULL
    AND EXISTS (SELECT 1 FROM mobility_applications a WHERE a.id = mobility_ut_scores.application_id AND a.kind = 'ut')
);
CREATE POLICY ut_resubmit ON mobility_ut_scores FOR UPDATE TO ambito_app USING (
    (SELECT ambito_setting('ambito.scope.mobility_application.write')) IS NOT NULL
    AND EXISTS (SELECT 1 FROM mobility_applications a WHERE a.id = mobility_ut_scores.application_id)
) WITH CHECK (validated IS NULL);
-- Validated by the school of service.
CREATE POLICY ut_validate ON mobility_ut_scores FOR UPDATE TO ambito_app USING (
    institution_code = (SELECT ambito_setting('ambito.school'))
    AND (SELECT ambito_setting('ambito.scope.utilisation_score.write')) = 'school'
) WITH CHECK (
    institution_code = (SELECT ambito_setting('ambito.school'))
    AND validated_by = (SELECT ambito_user_id())
);
CREATE POLICY owner_all ON mobility_ut_scores FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
