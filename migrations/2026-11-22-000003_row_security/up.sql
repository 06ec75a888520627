-- Row security. Request work runs as `ambito_app`, a role without BYPASSRLS
-- that owns nothing, inside a transaction that states the caller's scope in
-- transaction-local settings (see src/authz/). Tenant tables enable and
-- force row-level security; reference data (the territory) stays readable.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ambito_app') THEN
        CREATE ROLE ambito_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
END
$$;
GRANT ambito_app TO CURRENT_USER;
GRANT USAGE ON SCHEMA public TO ambito_app;
GRANT SELECT ON provinces, territorial_ambits, municipalities, institutions, sites, hubs, hub_sites TO ambito_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON users, memberships, sessions TO ambito_app;

-- A setting of the current transaction, NULL when unset or empty. Policies
-- call it inside a sub-select so that it runs once per statement.
CREATE FUNCTION ambito_setting(name text) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT nullif(current_setting(name, true), '') $$;

-- Memberships carry the province they belong to, so that the office's scope
-- is an indexed equality test.
ALTER TABLE memberships ADD COLUMN scope_province text COLLATE "C" REFERENCES provinces;
CREATE FUNCTION memberships_scope_province() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.scope_province := CASE
        WHEN NEW.province_code IS NOT NULL THEN NEW.province_code
        WHEN NEW.institution_code IS NOT NULL THEN (SELECT province_code FROM institutions WHERE code = NEW.institution_code)
        WHEN NEW.municipality_istat IS NOT NULL THEN (SELECT province_code FROM municipalities WHERE istat_code = NEW.municipality_istat)
        WHEN NEW.hub_code IS NOT NULL THEN (SELECT province_code FROM hubs WHERE code = NEW.hub_code)
    END;
    RETURN NEW;
END
$$;
CREATE TRIGGER memberships_scope_province BEFORE INSERT OR UPDATE ON memberships
    FOR EACH ROW EXECUTE FUNCTION memberships_scope_province();
UPDATE memberships SET role = role;
CREATE INDEX memberships_scope_province ON memberships (scope_province);
CREATE INDEX memberships_user ON memberships (user_id);

ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
ALTER TABLE memberships FORCE ROW LEVEL SECURITY;

-- Reading: `own` sees the user's memberships, `province` those of the province.
CREATE POLICY memberships_read ON memberships FOR SELECT TO ambito_app USING (
    (user_id = (SELECT ambito_setting('ambito.user_id'))::bigint
        AND (SELECT ambito_setting('ambito.scope.membership.read')) = 'own')
    OR (scope_province = (SELECT ambito_setting('ambito.province'))
        AND (SELECT ambito_setting('ambito.scope.membership.read')) = 'province')
);

-- Writing: only within a `province` scope, and the row must stay in it.
CREATE POLICY memberships_insert ON memberships FOR INSERT TO ambito_app WITH CHECK (
    scope_province = (SELECT ambito_setting('ambito.province'))
    AND (SELECT ambito_setting('ambito.scope.membership.write')) = 'province'
);
CREATE POLICY memberships_update ON memberships FOR UPDATE TO ambito_app
    USING (scope_province = (SELECT ambito_setting('ambito.province'))
           AND (SELECT ambito_setting('ambito.scope.membership.write')) = 'province')
    WITH CHECK (scope_province = (SELECT ambito_setting('ambito.province'))
           AND (SELECT ambito_setting('ambito.scope.membership.write')) = 'province');
CREATE POLICY memberships_delete ON memberships FOR DELETE TO ambito_app USING (
    scope_province = (SELECT ambito_setting('ambito.province'))
    AND (SELECT ambito_setting('ambito.scope.membership.write')) = 'province'
);
