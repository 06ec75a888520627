-- Enabling in person and the personal code (seed 004). A registered teacher
-- can sign in but submits nothing until a school secretariat or the office
-- has seen an identity document in person; enabling creates the personal
-- code, a second secret that confirms applications, stored as an argon2id
-- hash only. The province that enabled the account is the teacher's until
-- the teacher registry (process 4) says otherwise: staff of another province
-- cannot enable it again.
ALTER TABLE users
    ADD COLUMN enabled_at timestamptz,
    ADD COLUMN enabled_province text COLLATE "C" REFERENCES provinces,
    ADD COLUMN personal_code_hash text,
    ADD COLUMN personal_code_set_at timestamptz;
-- A signed-in user reads whether its own account is enabled.
GRANT SELECT (enabled_at) ON users TO ambito_app;

-- Who checked which document, and when: one row per enabling.
CREATE TABLE account_enablings (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id             bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    province_code       text COLLATE "C" NOT NULL REFERENCES provinces,
    institution_code    text COLLATE "C" REFERENCES institutions,
    enabled_by          bigint NOT NULL DEFAULT ambito_user_id(),
    membership_id       bigint NOT NULL DEFAULT (ambito_setting('ambito.membership_id'))::bigint,
    document_kind       text NOT NULL CHECK (document_kind IN ('carta_identita', 'passaporto', 'patente')),
    document_last4      text NOT NULL CHECK (document_last4 ~ '^[A-Z0-9]{4}$'),
    checked_on          date NOT NULL,
    at                  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX account_enablings_user ON account_enablings (user_id, id);
CREATE INDEX account_enablings_province ON account_enablings (province_code, id);
ALTER TABLE account_enablings ENABLE ROW LEVEL SECURITY;
ALTER TABLE account_enablings FORCE ROW LEVEL SECURITY;
GRANT SELECT, INSERT ON account_enablings TO ambito_app;
GRANT SELECT ON account_enablings TO ambito_auth;
CREATE POLICY enabling_read ON account_enablings FOR SELECT TO ambito_app USING (
    province_code = (SELECT ambito_setting('ambito.province'))
    AND (SELECT ambito_setting('ambito.scope.account_enabling.read')) = 'province'
);
CREATE POLICY enabling_insert ON account_enablings FOR INSERT TO ambito_app WITH CHECK (
    province_code = (SELECT ambito_setting('ambito.province'))
    AND enabled_by = (SELECT ambito_user_id())
    AND (SELECT ambito_setting('ambito.scope.account_enabling.write')) IN ('province', 'school')
    AND (institution_code IS NOT DISTINCT FROM (SELECT ambito_setting('ambito.school'))
         OR (SELECT ambito_setting('ambito.scope.account_enabling.write')) = 'province')
);
CREATE POLICY auth_read ON account_enablings FOR SELECT TO ambito_auth USING (true);

-- The personal account (a teacher's, acting for itself, not revoked or
-- disabled) with this address, if staff of the caller's province may enable
-- it: the caller must hold the enabling scope, and the account must not
-- belong to another province already. NULL otherwise (not found).
CREATE FUNCTION ambito_enablable_account(p_email text) RETURNS bigint
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT u.id FROM users u
    WHERE u.email = p_email AND u.disabled_at IS NULL AND u.revoked_at IS NULL
      AND ambito_setting('ambito.scope.account_enabling.write') IN ('province', 'school')
      AND ambito_setting('ambito.province') IS NOT NULL
      AND (u.enabled_province IS NULL OR u.enabled_province = ambito_setting('ambito.province'))
      AND EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = u.id AND m.role = 'teacher')
      AND NOT EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = u.id AND m.role <> 'teacher')
$$;
-- Enables the account found by ambito_enablable_account with a new personal
-- code (its hash), under the same checks; returns when, or NULL.
CREATE FUNCTION ambito_enable_account(p_user bigint, p_code_hash text) RETURNS timestamptz
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE done timestamptz;
BEGIN
    UPDATE users SET enabled_at = now(), enabled_province = ambito_setting('ambito.province'),
                     personal_code_hash = p_code_hash, personal_code_set_at = now()
    WHERE id = p_user AND id = ambito_enablable_account(email)
    RETURNING enabled_at INTO done;
    RETURN done;
END
$$;
REVOKE ALL ON FUNCTION ambito_enablable_account(text), ambito_enable_account(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ambito_enablable_account(text), ambito_enable_account(bigint, text) TO ambito_app;

-- Regenerating the personal code goes through an e-mailed single-use link.
ALTER TABLE email_validations DROP CONSTRAINT email_validations_purpose_check;
ALTER TABLE email_validations ADD CONSTRAINT email_validations_purpose_check
    CHECK (purpose IN ('registration', 'email_change', 'personal_code'));
ALTER TABLE email_validations DROP CONSTRAINT email_validations_check;
ALTER TABLE email_validations ADD CONSTRAINT email_validations_check CHECK (CASE purpose
    WHEN 'registration' THEN user_id IS NULL AND password_hash IS NOT NULL
    ELSE user_id IS NOT NULL AND password_hash IS NULL END);
