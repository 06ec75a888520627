DELETE FROM attachments WHERE enrolment_request_id IS NOT NULL;
DROP POLICY tenant_read ON attachments;
DROP POLICY tenant_insert ON attachments;
DROP POLICY tenant_update ON attachments;
DROP POLICY tenant_delete ON attachments;
DROP TRIGGER attachments_province ON attachments;
DROP FUNCTION ambito_attachment_province();
ALTER TABLE attachments DROP CONSTRAINT attachments_parent, DROP COLUMN enrolment_request_id,
    ALTER COLUMN institution_code SET NOT NULL;
CREATE TRIGGER attachments_province BEFORE INSERT OR UPDATE ON attachments
    FOR EACH ROW EXECUTE FUNCTION ambito_province_of_institution();
SELECT ambito_school_tenant('attachments', 'attachment');
