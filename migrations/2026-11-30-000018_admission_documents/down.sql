-- Back to the policies of migration 000010, which do not know the column.
SELECT ambito_attachment_policies($p$
    (enrolment_request_id IS NULL AND (
        (province_code = (SELECT ambito_setting('ambito.province'))
            AND (SELECT ambito_setting('ambito.scope.attachment.%1$s')) = 'province')
        OR (institution_code = (SELECT ambito_setting('ambito.school'))
            AND (SELECT ambito_setting('ambito.scope.attachment.%1$s')) = 'school')))
    OR (enrolment_request_id IS NOT NULL
        AND (SELECT ambito_setting('ambito.scope.enrolment_document.%1$s')) IS NOT NULL
        AND EXISTS (SELECT 1 FROM enrolment_requests r WHERE r.id = attachments.enrolment_request_id))$p$);
DROP FUNCTION ambito_attachment_policies(text);
ALTER TABLE admission_applications DROP CONSTRAINT admission_applications_certification;
DELETE FROM attachments WHERE kind = 'admission_document';
ALTER TABLE attachments DROP COLUMN admission_application_id;
ALTER TABLE attachments DROP CONSTRAINT attachments_kind_check;
ALTER TABLE attachments ADD CONSTRAINT attachments_kind_check CHECK (kind IN ('certification', 'signed_summary',
    'enrolment_document', 'application_document'));
