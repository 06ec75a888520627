ALTER TABLE mobility_applications DROP COLUMN precedence_decisions, DROP COLUMN family_override;
DROP TABLE mobility_document_receipts;
DELETE FROM attachments WHERE kind = 'application_document';
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
CREATE OR REPLACE FUNCTION ambito_attachment_province() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.province_code := CASE WHEN NEW.institution_code IS NOT NULL
        THEN (SELECT province_code FROM institutions WHERE code = NEW.institution_code)
        ELSE (SELECT province_code FROM enrolment_requests WHERE id = NEW.enrolment_request_id) END;
    RETURN NEW;
END
$$;
DROP INDEX attachments_mobility;
ALTER TABLE attachments DROP CONSTRAINT attachments_parent;
ALTER TABLE attachments ADD CONSTRAINT attachments_parent CHECK (CASE kind
    WHEN 'enrolment_document' THEN enrolment_request_id IS NOT NULL AND institution_code IS NULL
    ELSE enrolment_request_id IS NULL AND institution_code IS NOT NULL END);
ALTER TABLE attachments DROP COLUMN mobility_application_id, DROP COLUMN mobility_document_kind,
    DROP COLUMN confirmed_at;
DROP DOMAIN ambito_mobility_document_kind;
