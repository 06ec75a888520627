-- Idempotency keys (issue 22): a signed-in client's mutation sent with an
-- `Idempotency-Key` header claims (user, key) as the first statement of its
-- request's transaction. A duplicate in flight waits on the unique index
-- until the first commits (then replays its answer) or rolls back (then
-- runs). The answer is kept sealed under the key-encryption key, because a
-- mutation's answer may carry a secret (half a personal code) or personal
-- data, and is replayed for 24 hours.
CREATE TABLE idempotency_keys (
    id              uuid PRIMARY KEY,
    user_id         bigint NOT NULL DEFAULT ambito_user_id() REFERENCES users (id) ON DELETE CASCADE,
    key             text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_sha256  bytea NOT NULL CHECK (length(request_sha256) = 32),
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- The sealed answer and its wrapped data key: null only inside the
    -- transaction that claimed the key, which stores them before it commits.
    kek_id          text,
    wrapped_key     bytea,
    answer          bytea,
    UNIQUE (user_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
CREATE INDEX idempotency_keys_kek ON idempotency_keys (kek_id);

ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY;

-- A caller sees and claims only its own keys.
GRANT SELECT, INSERT, UPDATE ON idempotency_keys TO ambito_app;
CREATE POLICY own_keys ON idempotency_keys FOR ALL TO ambito_app
    USING (user_id = (SELECT ambito_user_id()))
    WITH CHECK (user_id = (SELECT ambito_user_id()));

-- Upkeep removes expired keys; key rotation re-wraps the answers' keys.
GRANT SELECT, UPDATE, DELETE ON idempotency_keys TO ambito_maint;
CREATE POLICY maint_all ON idempotency_keys FOR ALL TO ambito_maint USING (true) WITH CHECK (true);
