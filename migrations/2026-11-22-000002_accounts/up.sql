-- Accounts, memberships (role + organisation) and sessions.

CREATE TABLE users (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email                text NOT NULL CHECK (email = lower(email) AND email LIKE '%_@_%'),
    -- Null until the holder sets a first password (accounts are provisioned by the office).
    password_hash        text,
    disabled_at          timestamptz,
    password_changed_at  timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email ON users (email);

-- A user acts for exactly one membership per request. The organisation
-- column that is set depends on the role; a teacher acts for themselves.
CREATE TABLE memberships (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id             bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    role                text NOT NULL CHECK (role IN ('provincial', 'school', 'municipality', 'cti_hub', 'teacher')),
    province_code       text COLLATE "C" REFERENCES provinces,
    institution_code    text COLLATE "C" REFERENCES institutions,
    municipality_istat  text COLLATE "C" REFERENCES municipalities,
    hub_code            text COLLATE "C" REFERENCES hubs,
    created_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (num_nonnulls(province_code, institution_code, municipality_istat, hub_code) = CASE role WHEN 'teacher' THEN 0 ELSE 1 END),
    CHECK (role <> 'provincial' OR province_code IS NOT NULL),
    CHECK (role <> 'school' OR institution_code IS NOT NULL),
    CHECK (role <> 'municipality' OR municipality_istat IS NOT NULL),
    CHECK (role <> 'cti_hub' OR hub_code IS NOT NULL)
);
CREATE UNIQUE INDEX memberships_unique ON memberships
    (user_id, role, coalesce(province_code, institution_code, municipality_istat, hub_code, ''));

-- Only a SHA-256 of the bearer token is stored: a copy of this table opens no session.
-- Removing a membership or a user ends its sessions through the cascade.
CREATE TABLE sessions (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash     bytea NOT NULL UNIQUE,
    user_id        bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    membership_id  bigint NOT NULL REFERENCES memberships ON DELETE CASCADE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_seen_at   timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_membership ON sessions (membership_id);
