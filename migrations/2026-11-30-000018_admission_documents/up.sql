-- Documents of an admission application (process 3): the certification
-- under L. 104/92 and whatever else a family hands in. They are health data
-- of a minor (spec §7.1): the school of the application reads them, nobody
-- else, not even the office that sees non-resident applications in their
-- reduced form. So a document needs the caller's `admission_application`
-- scope to be the school, the application's institution to be the caller's,
-- and the application itself to be visible under its own row security.
ALTER TABLE attachments DROP CONSTRAINT attachments_kind_check;
ALTER TABLE attachments
    ADD CONSTRAINT attachments_kind_check CHECK (kind IN ('certification', 'signed_summary',
        'enrolment_document', 'application_document', 'admission_document')),
    ADD COLUMN admission_application_id bigint REFERENCES admission_applications ON DELETE CASCADE,
    ADD CONSTRAINT attachments_admission CHECK ((kind = 'admission_document') = (admission_application_id IS NOT NULL));
CREATE INDEX attachments_admission ON attachments (admission_application_id) WHERE admission_application_id IS NOT NULL;

-- The certification an application rests on is one of its own documents.
ALTER TABLE admission_applications
    ADD CONSTRAINT admission_applications_certification
    FOREIGN KEY (certification_attachment) REFERENCES attachments (id);

-- The four policies of `attachments` from one predicate (`%1$s` is the
-- action, read or write), for this migration and its reversal.
CREATE FUNCTION ambito_attachment_policies(pred text) RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
    r text := format(pred, 'read');
    w text := format(pred, 'write');
BEGIN
    DROP POLICY IF EXISTS tenant_read ON attachments;
    DROP POLICY IF EXISTS tenant_insert ON attachments;
    DROP POLICY IF EXISTS tenant_update ON attachments;
    DROP POLICY IF EXISTS tenant_delete ON attachments;
    EXECUTE format('CREATE POLICY tenant_read ON attachments FOR SELECT TO ambito_app USING (%s)', r);
    EXECUTE format('CREATE POLICY tenant_insert ON attachments FOR INSERT TO ambito_app WITH CHECK (%s)', w);
    EXECUTE format('CREATE POLICY tenant_update ON attachments FOR UPDATE TO ambito_app USING (%s) WITH CHECK (%s)', w, w);
    EXECUTE format('CREATE POLICY tenant_delete ON attachments FOR DELETE TO ambito_app USING (%s)', w);
END
$fn$;
REVOKE EXECUTE ON FUNCTION ambito_attachment_policies(text) FROM PUBLIC;

SELECT ambito_attachment_policies($p$
    (enrolment_request_id IS NULL AND admission_application_id IS NULL AND (
        (province_code = (SELECT ambito_setting('ambito.province'))
            AND (SELECT ambito_setting('ambito.scope.attachment.%1$s')) = 'province')
        OR (institution_code = (SELECT ambito_setting('ambito.school'))
            AND (SELECT ambito_setting('ambito.scope.attachment.%1$s')) = 'school')))
    OR (enrolment_request_id IS NOT NULL
        AND (SELECT ambito_setting('ambito.scope.enrolment_document.%1$s')) IS NOT NULL
        AND EXISTS (SELECT 1 FROM enrolment_requests r WHERE r.id = attachments.enrolment_request_id))
    OR (admission_application_id IS NOT NULL
        AND institution_code = (SELECT ambito_setting('ambito.school'))
        AND (SELECT ambito_setting('ambito.scope.admission_application.%1$s')) = 'school'
        AND EXISTS (SELECT 1 FROM admission_applications a WHERE a.id = attachments.admission_application_id))$p$);
