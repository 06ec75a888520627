-- Process 4, IRC (seed 003 L83): «le domande ... degli insegnanti di
-- religione cattolica devono essere presentate alle Direzioni regionali
-- competenti (ossia alle Direzioni Regionali nel cui territorio è ubicata la
-- Diocesi richiesta)». A regional directorate acts in a role of its own,
-- `regional`, for a region (the ISTAT region name the provinces carry). The
-- forms routed to it carry `processing_region`, and no provincial office
-- reads them: the province column of such a form is the see of its
-- diocese, kept for protocol numbers and the audit trail.

ALTER TABLE memberships ADD COLUMN region text CHECK (length(region) BETWEEN 1 AND 60);
ALTER TABLE memberships DROP CONSTRAINT memberships_role_check;
ALTER TABLE memberships ADD CONSTRAINT memberships_role_check
    CHECK (role IN ('provincial', 'school', 'head_teacher', 'municipality', 'cti_hub', 'teacher', 'regional'));
DO $$
DECLARE c text;
BEGIN
    -- The unnamed check of 000002 that counts the organisation columns.
    SELECT conname INTO STRICT c FROM pg_constraint
     WHERE conrelid = 'memberships'::regclass AND contype = 'c'
       AND pg_get_constraintdef(oid) LIKE '%num_nonnulls%';
    EXECUTE format('ALTER TABLE memberships DROP CONSTRAINT %I', c);
END
$$;
ALTER TABLE memberships ADD CONSTRAINT memberships_one_organisation CHECK (
    num_nonnulls(province_code, institution_code, municipality_istat, hub_code, region)
        = CASE role WHEN 'teacher' THEN 0 ELSE 1 END);
ALTER TABLE memberships ADD CONSTRAINT memberships_regional_check CHECK ((role = 'regional') = (region IS NOT NULL));
DROP INDEX memberships_unique;
CREATE UNIQUE INDEX memberships_unique ON memberships
    (user_id, role, coalesce(province_code, institution_code, municipality_istat, hub_code, region, ''));

-- A region is one the territory knows.
CREATE FUNCTION ambito_known_region() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.region IS NOT NULL AND NOT EXISTS (SELECT 1 FROM provinces WHERE region = NEW.region) THEN
        RAISE EXCEPTION 'unknown region' USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER memberships_known_region BEFORE INSERT OR UPDATE ON memberships
    FOR EACH ROW EXECUTE FUNCTION ambito_known_region();

-- The provinces of the caller's region, for the policies below.
CREATE FUNCTION ambito_region_provinces() RETURNS SETOF text LANGUAGE sql STABLE AS $$
    SELECT code FROM provinces WHERE region = (SELECT ambito_setting('ambito.region'))
$$;

-- The dioceses an IRC form may request, each with its see (the province
-- of its seat): the region of the see is the directorate's.
CREATE TABLE mobility_dioceses (
    code           text COLLATE "C" PRIMARY KEY CHECK (code ~ '^[A-Z0-9]{2,12}$'),
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    province_code  text COLLATE "C" NOT NULL REFERENCES provinces
);
SELECT ambito_mobility_reference('mobility_dioceses',
    $$province_code = (SELECT ambito_setting('ambito.province'))$$);

-- The registry of the region's provinces, for the directorate that records
-- their IRC teachers' forms.
CREATE POLICY teacher_read_region ON teachers FOR SELECT TO ambito_app USING (
    province_code IN (SELECT ambito_region_provinces())
    AND (SELECT ambito_setting('ambito.scope.teacher_registry.read')) = 'region'
);

ALTER TABLE mobility_applications
    ADD COLUMN diocese text COLLATE "C" REFERENCES mobility_dioceses,
    ADD COLUMN processing_region text,
    ADD CONSTRAINT mobility_applications_region CHECK (processing_region IS NULL OR diocese IS NOT NULL);
CREATE INDEX mobility_applications_region ON mobility_applications (processing_region, campaign_year, id)
    WHERE processing_region IS NOT NULL;

-- As in 000021, with the region's branch: a form routed to a region is
-- read and written by its directorate, never by the office of its see.
DROP POLICY app_read ON mobility_applications;
DROP POLICY app_insert ON mobility_applications;
DROP POLICY app_update ON mobility_applications;
CREATE FUNCTION ambito_mobility_application_policies() RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
    pred text := $p$
        (teacher_tax_code = (SELECT ambito_own_tax_code())
            AND (SELECT ambito_setting('ambito.scope.mobility_application.%1$s')) = 'own' AND %2$s)
        OR (processing_province = (SELECT ambito_setting('ambito.province')) AND processing_region IS NULL
            AND (SELECT ambito_setting('ambito.scope.mobility_application.%1$s')) = 'province'
            AND state <> 'draft')
        OR (processing_region = (SELECT ambito_setting('ambito.region'))
            AND (SELECT ambito_setting('ambito.scope.mobility_application.%1$s')) = 'region'
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

-- Receipts are recorded by whichever office the form is routed to.
DROP POLICY receipt_insert ON mobility_document_receipts;
CREATE POLICY receipt_insert ON mobility_document_receipts FOR INSERT TO ambito_app WITH CHECK (
    (SELECT ambito_setting('ambito.scope.mobility_application.write')) IN ('province', 'region')
    AND EXISTS (SELECT 1 FROM mobility_applications m
                 WHERE m.id = mobility_document_receipts.application_id
                   AND m.processing_province = mobility_document_receipts.processing_province)
    AND recorded_by = (SELECT ambito_user_id())
);
