-- Limited mode as seed 004 describes it: a period planned ahead, with the
-- account functions it stops and a message, that warns the users whose flows
-- it will stop and ends those flows when it starts. One period at a time.
-- The rows are the operator's, not a user's or a tenant's: no row security,
-- the authentication role reads and writes them (the CLI and the server's
-- watcher), requests never touch them.
CREATE TABLE limited_mode_periods (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    functions       text[] NOT NULL CHECK (
        cardinality(functions) > 0
        AND functions <@ ARRAY['registration', 'email-validation', 'email-change', 'external-password-recovery',
                               'personal-code-regeneration', 'revocation']),
    starts_at       timestamptz NOT NULL,
    ends_at         timestamptz CHECK (ends_at > starts_at),
    message         text NOT NULL DEFAULT '' CHECK (length(message) <= 2000),
    planned_at      timestamptz NOT NULL DEFAULT now(),
    -- Flows started up to this instant have been warned about.
    warned_through  timestamptz,
    -- When the flows in progress were ended (the start took effect).
    started_at      timestamptz,
    -- When the end was noticed and audited.
    closed_at       timestamptz,
    cancelled_at    timestamptz,
    EXCLUDE USING gist (tstzrange(starts_at, ends_at) WITH &&) WHERE (cancelled_at IS NULL)
);
GRANT SELECT, INSERT, UPDATE ON limited_mode_periods TO ambito_auth;

-- The switch of before (a list of functions in app_meta) becomes a period
-- that started now and has no end.
INSERT INTO limited_mode_periods (functions, starts_at, started_at)
    SELECT string_to_array(value, ','), now(), now() FROM app_meta WHERE key = 'limited_mode' AND value <> '';
DELETE FROM app_meta WHERE key = 'limited_mode';
