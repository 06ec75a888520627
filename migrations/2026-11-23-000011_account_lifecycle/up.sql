-- The account lifecycle of seed 004. A registration waits here until its
-- holder proves the address by the e-mailed link: no account exists before,
-- so nobody can hold an address they do not control. An e-mail change waits
-- here in the same way for the new address. Tokens are stored as SHA-256
-- only, are spent once and expire; this table is for authentication alone.
CREATE TABLE email_validations (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    purpose        text NOT NULL CHECK (purpose IN ('registration', 'email_change')),
    email          text NOT NULL CHECK (email = lower(email) AND email LIKE '%_@_%'),
    -- The account whose address changes.
    user_id        bigint REFERENCES users ON DELETE CASCADE,
    -- The password chosen at registration.
    password_hash  text,
    token_hash     bytea NOT NULL UNIQUE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    used_at        timestamptz,
    CHECK (CASE purpose
        WHEN 'registration' THEN user_id IS NULL AND password_hash IS NOT NULL
        ELSE user_id IS NOT NULL AND password_hash IS NULL END)
);
CREATE INDEX email_validations_user ON email_validations (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX email_validations_expiry ON email_validations (expires_at);

-- A revoked account keeps its row (the audit trail names it) but no longer
-- its holder's address, which is free for a new registration.
ALTER TABLE users ADD COLUMN revoked_at timestamptz;
