-- Attachments: encrypted documents of a parent row (a pupil's certification,
-- a school's signed summary, …), stored as sealed objects in object storage.
-- A row carries its parent's institution and province, so it inherits the
-- parent's scope through the same row security as every tenant table.
--
-- Life of a row: `pending` while its bytes arrive (possibly over several
-- resumed requests, each stored as a part object), `committed` once the
-- whole file is sealed in one object, `archived` once the office exported it
-- for legal preservation and it left the live store.
CREATE TABLE attachments (
    id                uuid PRIMARY KEY,
    -- The sealed file's own id, bound into its encryption: the row's id for
    -- an upload, the original's for a document attached again elsewhere.
    blob_id           uuid NOT NULL,
    institution_code  text COLLATE "C" NOT NULL REFERENCES institutions,
    province_code     text COLLATE "C" NOT NULL REFERENCES provinces,
    kind              text NOT NULL CHECK (kind IN ('certification', 'signed_summary',
                          'enrolment_document', 'application_document')),
    -- Which of a pupil's certification documents this is, when the uploader said.
    document_type     text CHECK (document_type IN ('verbale_accertamento', 'diagnosi_funzionale',
                          'profilo_funzionamento', 'pei')),
    pupil_id          bigint REFERENCES pupils ON DELETE CASCADE,
    school_year       integer,
    file_name         text NOT NULL CHECK (length(file_name) BETWEEN 1 AND 200),
    content_type      text NOT NULL,
    size              bigint NOT NULL CHECK (size >= 0),
    state             text NOT NULL CHECK (state IN ('pending', 'committed', 'archived')),
    -- Bytes acknowledged so far, and the objects holding them while pending.
    received          bigint NOT NULL DEFAULT 0 CHECK (received BETWEEN 0 AND size),
    parts             text[] NOT NULL DEFAULT '{}',
    object_key        text,
    sha256            bytea CHECK (length(sha256) = 32),
    kek_id            text NOT NULL,
    wrapped_key       bytea NOT NULL,
    uploaded_by       bigint NOT NULL DEFAULT ambito_user_id(),
    created_at        timestamptz NOT NULL DEFAULT now(),
    committed_at      timestamptz,
    archived_at       timestamptz,
    CHECK (state <> 'committed' OR (object_key IS NOT NULL AND sha256 IS NOT NULL AND received = size)),
    CHECK (kind <> 'certification' OR pupil_id IS NOT NULL),
    CHECK (kind = 'certification' OR document_type IS NULL),
    CHECK (kind <> 'signed_summary' OR school_year IS NOT NULL)
);
CREATE INDEX attachments_institution ON attachments (institution_code, id);
CREATE INDEX attachments_province ON attachments (province_code, id);
CREATE INDEX attachments_pupil ON attachments (pupil_id) WHERE pupil_id IS NOT NULL;
CREATE INDEX attachments_summary ON attachments (institution_code, school_year) WHERE kind = 'signed_summary';
CREATE INDEX attachments_uploader ON attachments (uploaded_by, created_at DESC);
CREATE INDEX attachments_pending ON attachments (created_at) WHERE state = 'pending';
CREATE INDEX attachments_object ON attachments (object_key);
CREATE INDEX attachments_kek ON attachments (kek_id);
CREATE TRIGGER attachments_province BEFORE INSERT OR UPDATE ON attachments
    FOR EACH ROW EXECUTE FUNCTION ambito_province_of_institution();
SELECT ambito_school_tenant('attachments', 'attachment');
