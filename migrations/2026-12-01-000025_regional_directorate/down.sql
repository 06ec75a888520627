-- Only before any regional membership or IRC form exists.
DROP POLICY receipt_insert ON mobility_document_receipts;
CREATE POLICY receipt_insert ON mobility_document_receipts FOR INSERT TO ambito_app WITH CHECK (
    processing_province = (SELECT ambito_setting('ambito.province'))
    AND (SELECT ambito_setting('ambito.scope.mobility_application.write')) = 'province'
    AND recorded_by = (SELECT ambito_user_id())
);
DROP POLICY app_read ON mobility_applications;
DROP POLICY app_insert ON mobility_applications;
DROP POLICY app_update ON mobility_applications;
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
ALTER TABLE mobility_applications DROP COLUMN processing_region, DROP COLUMN diocese;
DROP POLICY teacher_read_region ON teachers;
DROP TABLE mobility_dioceses;
DROP FUNCTION ambito_region_provinces();
DROP TRIGGER memberships_known_region ON memberships;
DROP FUNCTION ambito_known_region();
DROP INDEX memberships_unique;
CREATE UNIQUE INDEX memberships_unique ON memberships
    (user_id, role, coalesce(province_code, institution_code, municipality_istat, hub_code, ''));
ALTER TABLE memberships DROP CONSTRAINT memberships_regional_check, DROP CONSTRAINT memberships_one_organisation;
ALTER TABLE memberships ADD CONSTRAINT memberships_check CHECK (
    num_nonnulls(province_code, institution_code, municipality_istat, hub_code) = CASE role WHEN 'teacher' THEN 0 ELSE 1 END);
ALTER TABLE memberships DROP CONSTRAINT memberships_role_check;
ALTER TABLE memberships ADD CONSTRAINT memberships_role_check
    CHECK (role IN ('provincial', 'school', 'head_teacher', 'municipality', 'cti_hub', 'teacher'));
ALTER TABLE memberships DROP COLUMN region;
