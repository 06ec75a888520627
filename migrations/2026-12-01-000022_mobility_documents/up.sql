-- Documents of a teacher's application (process 4, spec §8), the office's
-- record of documents delivered by hand, registered post or PEC (DOC-6),
-- and the office's review: its decision on each precedence and its
-- correction of the family score, each with a reason.
--
-- An application document is seen exactly where its application is: by
-- the teacher, and by the processing office once the form is submitted.
-- Health certificates are among them, so nobody else (no school) reads them.

-- What a document of a teacher's application is (spec §8), for both tables.
CREATE DOMAIN ambito_mobility_document_kind AS text CHECK (VALUE IN ('self_declaration',
    'medical_certificate', 'disability_certificate_104', 'invalidity_certificate', 'asl_certificate',
    'care_institute_certificate', 'rehab_structure_certificate', 'court_order_fostering',
    'court_order_guardianship', 'employer_declaration', 'spouse_cohabitation_declaration',
    'mandate_declaration', 'union_leave_declaration', 'title', 'paper_application_scan'));

ALTER TABLE attachments
    ADD COLUMN mobility_application_id bigint REFERENCES mobility_applications ON DELETE CASCADE,
    ADD COLUMN mobility_document_kind ambito_mobility_document_kind,
    -- DOC-4: the teacher confirms an insertion with the personal code.
    ADD COLUMN confirmed_at timestamptz,
    ADD CONSTRAINT attachments_mobility CHECK ((kind = 'application_document') = (mobility_application_id IS NOT NULL)),
    ADD CONSTRAINT attachments_mobility_kind
        CHECK ((kind = 'application_document') = (mobility_document_kind IS NOT NULL));
-- An application document has no school: its parent is the application.
ALTER TABLE attachments DROP CONSTRAINT attachments_parent;
ALTER TABLE attachments ADD CONSTRAINT attachments_parent CHECK (CASE kind
    WHEN 'enrolment_document' THEN enrolment_request_id IS NOT NULL AND institution_code IS NULL
    WHEN 'application_document' THEN enrolment_request_id IS NULL AND institution_code IS NULL
    ELSE enrolment_request_id IS NULL AND institution_code IS NOT NULL END);
CREATE INDEX attachments_mobility ON attachments (mobility_application_id) WHERE mobility_application_id IS NOT NULL;

CREATE OR REPLACE FUNCTION ambito_attachment_province() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.province_code := CASE
        WHEN NEW.institution_code IS NOT NULL
            THEN (SELECT province_code FROM institutions WHERE code = NEW.institution_code)
        WHEN NEW.mobility_application_id IS NOT NULL
            THEN (SELECT coalesce(processing_province, home_province) FROM mobility_applications
                  WHERE id = NEW.mobility_application_id)
        ELSE (SELECT province_code FROM enrolment_requests WHERE id = NEW.enrolment_request_id) END;
    RETURN NEW;
END
$$;

SELECT ambito_attachment_policies($p$
    (enrolment_request_id IS NULL AND admission_application_id IS NULL AND mobility_application_id IS NULL AND (
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
        AND EXISTS (SELECT 1 FROM admission_applications a WHERE a.id = attachments.admission_application_id))
    OR (mobility_application_id IS NOT NULL
        AND (SELECT ambito_setting('ambito.scope.mobility_application.%1$s')) IS NOT NULL
        AND EXISTS (SELECT 1 FROM mobility_applications m WHERE m.id = attachments.mobility_application_id))$p$);

-- DOC-6: a document the office received off line, with its channel and day.
CREATE TABLE mobility_document_receipts (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    application_id       bigint NOT NULL REFERENCES mobility_applications ON DELETE CASCADE,
    processing_province  text COLLATE "C" NOT NULL REFERENCES provinces,
    document_kind        ambito_mobility_document_kind NOT NULL,
    channel              text NOT NULL CHECK (channel IN ('online', 'hand', 'registered_post', 'pec')),
    received_on          date NOT NULL,
    precedence           text CHECK (length(precedence) <= 40),
    recorded_by          bigint NOT NULL DEFAULT ambito_user_id(),
    recorded_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mobility_document_receipts_application ON mobility_document_receipts (application_id, id);
ALTER TABLE mobility_document_receipts ENABLE ROW LEVEL SECURITY;
ALTER TABLE mobility_document_receipts FORCE ROW LEVEL SECURITY;
GRANT SELECT, INSERT ON mobility_document_receipts TO ambito_app;
-- Read wherever the application is read; recorded by the processing office.
CREATE POLICY receipt_read ON mobility_document_receipts FOR SELECT TO ambito_app USING (
    (SELECT ambito_setting('ambito.scope.mobility_application.read')) IS NOT NULL
    AND EXISTS (SELECT 1 FROM mobility_applications m WHERE m.id = mobility_document_receipts.application_id)
);
CREATE POLICY receipt_insert ON mobility_document_receipts FOR INSERT TO ambito_app WITH CHECK (
    processing_province = (SELECT ambito_setting('ambito.province'))
    AND (SELECT ambito_setting('ambito.scope.mobility_application.write')) = 'province'
    AND recorded_by = (SELECT ambito_user_id())
);
CREATE POLICY owner_all ON mobility_document_receipts FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);

-- The office's review (spec §10): a decision per precedence code
-- ({"recognised", "reason", "by", "at"}) and a corrected family score
-- ({"a", "b", "c", "d", "reason", "by", "at"}).
ALTER TABLE mobility_applications
    ADD COLUMN precedence_decisions jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(precedence_decisions) = 'object'),
    ADD COLUMN family_override jsonb CHECK (jsonb_typeof(family_override) = 'object');
