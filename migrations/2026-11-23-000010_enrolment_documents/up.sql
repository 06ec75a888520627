-- Documents of refugee minors' enrolment requests. Such a document belongs
-- to its request, not to a school: it is visible exactly where the request
-- is, because the EXISTS below reads `enrolment_requests` under that table's
-- own row security, and only to the roles that the `enrolment_document`
-- policy lines name (the office monitors without the minors' papers).
ALTER TABLE attachments
    ALTER COLUMN institution_code DROP NOT NULL,
    ADD COLUMN enrolment_request_id bigint REFERENCES enrolment_requests ON DELETE CASCADE,
    ADD CONSTRAINT attachments_parent CHECK (CASE kind
        WHEN 'enrolment_document' THEN enrolment_request_id IS NOT NULL AND institution_code IS NULL
        ELSE enrolment_request_id IS NULL AND institution_code IS NOT NULL END);
CREATE INDEX attachments_enrolment ON attachments (enrolment_request_id) WHERE enrolment_request_id IS NOT NULL;

-- The province comes from the parent: the institution, or the request.
CREATE FUNCTION ambito_attachment_province() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.province_code := CASE WHEN NEW.institution_code IS NOT NULL
        THEN (SELECT province_code FROM institutions WHERE code = NEW.institution_code)
        ELSE (SELECT province_code FROM enrolment_requests WHERE id = NEW.enrolment_request_id) END;
    RETURN NEW;
END
$$;
DROP TRIGGER attachments_province ON attachments;
CREATE TRIGGER attachments_province BEFORE INSERT OR UPDATE ON attachments
    FOR EACH ROW EXECUTE FUNCTION ambito_attachment_province();

DROP POLICY tenant_read ON attachments;
DROP POLICY tenant_insert ON attachments;
DROP POLICY tenant_update ON attachments;
DROP POLICY tenant_delete ON attachments;

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
