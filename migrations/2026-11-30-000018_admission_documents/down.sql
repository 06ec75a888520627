DROP POLICY tenant_read ON attachments;
DROP POLICY tenant_insert ON attachments;
DROP POLICY tenant_update ON attachments;
DROP POLICY tenant_delete ON attachments;
ALTER TABLE admission_applications DROP CONSTRAINT admission_applications_certification;
DELETE FROM attachments WHERE kind = 'admission_document';
ALTER TABLE attachments DROP COLUMN admission_application_id;
ALTER TABLE attachments DROP CONSTRAINT attachments_kind_check;
ALTER TABLE attachments ADD CONSTRAINT attachments_kind_check CHECK (kind IN ('certification', 'signed_summary',
    'enrolment_document', 'application_document'));

DO $do$
DECLARE
    pred text := $p$
        (enrolment_request_id IS NULL AND (
            (province_code = (SELECT ambito_setting('ambito.province'))
                AND (SELECT ambito_setting('ambito.scope.attachment.%1$s')) = 'province')
            OR (institution_code = (SELECT ambito_setting('ambito.school'))
                AND (SELECT ambito_setting('ambito.scope.attachment.%1$s')) = 'school')))
        OR (enrolment_request_id IS NOT NULL
            AND (SELECT ambito_setting('ambito.scope.enrolment_document.%1$s')) IS NOT NULL
            AND EXISTS (SELECT 1 FROM enrolment_requests r WHERE r.id = attachments.enrolment_request_id))$p$;
    r text := format(pred, 'read');
    w text := format(pred, 'write');
BEGIN
    EXECUTE format('CREATE POLICY tenant_read ON attachments FOR SELECT TO ambito_app USING (%s)', r);
    EXECUTE format('CREATE POLICY tenant_insert ON attachments FOR INSERT TO ambito_app WITH CHECK (%s)', w);
    EXECUTE format('CREATE POLICY tenant_update ON attachments FOR UPDATE TO ambito_app USING (%s) WITH CHECK (%s)', w, w);
    EXECUTE format('CREATE POLICY tenant_delete ON attachments FOR DELETE TO ambito_app USING (%s)', w);
END
$do$;
