-- Least privilege (security review, 2026-11-30). The server logs in as a
-- role that owns nothing, is no superuser and has no BYPASSRLS, and works
-- through one of these roles, none of which can log in:
--   ambito_app    request work, under row security with the caller's scope;
--   ambito_auth   authentication and the account lifecycle: accounts,
--                 sessions, throttles, e-mailed tokens, limited mode;
--   ambito_maint  the operator's commands and the server's own upkeep:
--                 documents (janitor, verify, key rotation, archive), the
--                 territory importers, sealing and verifying the audit chain.
-- The role the migrations run as (the owner) keeps the tables. The
-- SECURITY DEFINER functions run as the owner, check the caller's scope
-- before they answer, and take only what they need.
DO $$
DECLARE r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['ambito_auth', 'ambito_maint'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE', r);
        END IF;
    END LOOP;
    -- The embedded cluster's login role; elsewhere the DBA grants these
    -- roles to the login role they made (README, "Roles in PostgreSQL").
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ambito_server') THEN
        GRANT ambito_app, ambito_auth, ambito_maint TO ambito_server;
    END IF;
END
$$;
GRANT USAGE ON SCHEMA public TO ambito_auth, ambito_maint;
DROP FUNCTION IF EXISTS ambito_school_tenant(regclass, text);

-- Everyone may read which migrations ran: a server that does not migrate
-- checks that the schema is the one it was built for.
GRANT SELECT ON __diesel_schema_migrations TO ambito_app, ambito_auth, ambito_maint;

-- The session a request runs in, for the policy on `sessions`.
CREATE FUNCTION ambito_session_id() RETURNS bigint
    LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT ambito_setting('ambito.session_id')::bigint $$;

------------------------------------------------------------------------------
-- Authentication's tables: forced row security. ambito_auth sees every row
-- (it must find an account before anyone is signed in); request work sees
-- only what its caller may.
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
ALTER TABLE sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE sessions FORCE ROW LEVEL SECURITY;
ALTER TABLE login_throttle ENABLE ROW LEVEL SECURITY;
ALTER TABLE login_throttle FORCE ROW LEVEL SECURITY;
ALTER TABLE password_resets ENABLE ROW LEVEL SECURITY;
ALTER TABLE password_resets FORCE ROW LEVEL SECURITY;
ALTER TABLE email_validations ENABLE ROW LEVEL SECURITY;
ALTER TABLE email_validations FORCE ROW LEVEL SECURITY;

GRANT SELECT, INSERT, UPDATE, DELETE ON users, memberships, sessions, login_throttle, password_resets,
    email_validations TO ambito_auth;
GRANT SELECT, INSERT, UPDATE, DELETE ON app_meta TO ambito_auth;
GRANT SELECT ON provinces, territorial_ambits, municipalities, institutions, sites, hubs, hub_sites TO ambito_auth;
GRANT USAGE ON SEQUENCE users_id_seq, memberships_id_seq, sessions_id_seq, password_resets_id_seq,
    email_validations_id_seq TO ambito_auth;
CREATE POLICY auth_all ON users FOR ALL TO ambito_auth USING (true) WITH CHECK (true);
CREATE POLICY auth_all ON memberships FOR ALL TO ambito_auth USING (true) WITH CHECK (true);
CREATE POLICY auth_all ON sessions FOR ALL TO ambito_auth USING (true) WITH CHECK (true);
CREATE POLICY auth_all ON login_throttle FOR ALL TO ambito_auth USING (true) WITH CHECK (true);
CREATE POLICY auth_all ON password_resets FOR ALL TO ambito_auth USING (true) WITH CHECK (true);
CREATE POLICY auth_all ON email_validations FOR ALL TO ambito_auth USING (true) WITH CHECK (true);

-- Request work sees its own account and those that hold a membership it may
-- see (the office's list of its province's accounts). It creates accounts
-- only through ambito_account_for, below.
REVOKE INSERT ON users FROM ambito_app;
CREATE POLICY app_read ON users FOR SELECT TO ambito_app USING (
    id = (SELECT ambito_user_id())
    OR EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = users.id)
);
-- A request reaches its own session only: to end it, or to switch the
-- membership it acts as to another of the same user's.
CREATE POLICY app_own ON sessions FOR SELECT TO ambito_app USING (id = (SELECT ambito_session_id()));
CREATE POLICY app_end ON sessions FOR DELETE TO ambito_app USING (id = (SELECT ambito_session_id()));
CREATE POLICY app_switch ON sessions FOR UPDATE TO ambito_app
    USING (id = (SELECT ambito_session_id()))
    WITH CHECK (id = (SELECT ambito_session_id()) AND user_id = (SELECT ambito_user_id()));

-- The account with this address, made (without a password) if there is
-- none, for the office provisioning its province's organisations. The
-- caller must hold the province scope for accounts. No unique violation is
-- ever raised, so no address reaches the server log.
CREATE FUNCTION ambito_account_for(p_email text) RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE found bigint;
BEGIN
    IF ambito_setting('ambito.scope.account.write') IS DISTINCT FROM 'province'
        OR ambito_setting('ambito.province') IS NULL THEN
        RAISE EXCEPTION 'not allowed' USING ERRCODE = '42501';
    END IF;
    SELECT id INTO found FROM users WHERE email = p_email;
    IF found IS NULL THEN
        INSERT INTO users (email) VALUES (p_email) ON CONFLICT DO NOTHING RETURNING id INTO found;
        IF found IS NULL THEN
            SELECT id INTO found FROM users WHERE email = p_email;
        END IF;
    END IF;
    RETURN found;
END
$$;
REVOKE ALL ON FUNCTION ambito_account_for(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ambito_account_for(text) TO ambito_app;

------------------------------------------------------------------------------
-- Side tables read only through SECURITY DEFINER functions: forced row
-- security too, open to the owner alone (whose functions check the caller).
ALTER TABLE enrolment_identity_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE enrolment_identity_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY owner_all ON enrolment_identity_keys FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
ALTER TABLE audit_event_pupils ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_event_pupils FORCE ROW LEVEL SECURITY;
CREATE POLICY owner_all ON audit_event_pupils FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY owner_read ON audit_events FOR SELECT TO CURRENT_USER USING (true);
CREATE POLICY owner_all ON users FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);

-- Duplicates of a request: only for a caller who reads requests across a
-- territory or the province, and only within the caller's province.
CREATE OR REPLACE FUNCTION ambito_enrolment_duplicates(p_request bigint) RETURNS bigint[]
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT coalesce(array_agg(o.request_id ORDER BY o.request_id), '{}')
    FROM enrolment_identity_keys k
    JOIN enrolment_identity_keys o ON o.province_code = k.province_code AND o.identity = k.identity
        AND o.request_id <> k.request_id
    WHERE k.request_id = p_request
      AND k.province_code = ambito_setting('ambito.province')
      AND ambito_setting('ambito.scope.enrolment_request.read') IN ('territory', 'province')
$$;
-- The events naming a pupil: only for a caller who reads the audit trail of
-- the province, and only the events of that province.
CREATE OR REPLACE FUNCTION ambito_audit_events_naming(p_pupil bigint) RETURNS bigint[]
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT coalesce(array_agg(p.event_id), '{}')
    FROM audit_event_pupils p JOIN audit_events e ON e.id = p.event_id
    WHERE p.pupil_id = p_pupil
      AND e.province_code = ambito_setting('ambito.province')
      AND ambito_setting('ambito.scope.audit_event.read') = 'province'
$$;

------------------------------------------------------------------------------
-- The operator's role: documents across tenants, the territory.
GRANT SELECT, UPDATE, DELETE ON attachments TO ambito_maint;
CREATE POLICY maint_all ON attachments FOR ALL TO ambito_maint USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE, DELETE ON provinces, territorial_ambits, municipalities, institutions, sites, hubs,
    hub_sites TO ambito_maint;
GRANT SELECT ON app_meta TO ambito_maint;

------------------------------------------------------------------------------
-- The audit trail is append-only for every role but a superuser, and a
-- hash chain makes any change visible: each sealed event carries the hash
-- of the one before it. One global chain: a single sealer appends to it,
-- so no writer waits for another (a chain per province would only spread
-- a contention that sealing after commit does not have), and one walk
-- checks the whole trail.
--
-- Sealing runs after commit: an event is sealed once every transaction
-- that could still commit an earlier one has ended (its xid is below the
-- oldest running transaction's). So writers never wait on the chain and
-- readers are never blocked; the order of the chain is the order of sealing.
ALTER TABLE audit_events ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX audit_events_xid ON audit_events (xid);

CREATE TABLE audit_seals (
    seq        bigint PRIMARY KEY,
    event_id   bigint NOT NULL UNIQUE REFERENCES audit_events,
    hash       bytea NOT NULL
);
-- How far sealing has gone: every event with an xid below it is sealed.
CREATE TABLE audit_seal_horizon (
    only_row  boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    horizon   xid8 NOT NULL
);
INSERT INTO audit_seal_horizon (horizon) VALUES ('0'::xid8);
ALTER TABLE audit_seals ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_seals FORCE ROW LEVEL SECURITY;
CREATE POLICY owner_all ON audit_seals FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
REVOKE ALL ON audit_seals, audit_seal_horizon FROM PUBLIC;

-- What is hashed of an event: every column, named one by one (a column
-- added later must not change the hash of events sealed before it), as
-- JSON, with times in UTC.
CREATE FUNCTION ambito_audit_canonical(e audit_events) RETURNS bytea
    LANGUAGE sql STABLE SET search_path = public, pg_temp SET TimeZone = 'UTC' AS $$
    SELECT convert_to(jsonb_build_array(e.id, e.at, e.user_id, e.membership_id, e.role, e.action, e.object_kind,
        e.object_id, e.province_code, e.institution_code, e.fields, e.previous, e.current, e.pupil_ids,
        e.xid::text)::text, 'UTF8')
$$;

CREATE FUNCTION ambito_audit_seal() RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    upto xid8 := pg_snapshot_xmin(pg_current_snapshot());
    since xid8;
    last_seq bigint;
    last_hash bytea;
    e audit_events;
    n bigint := 0;
BEGIN
    -- One sealer at a time, across every server process (the lock is all
    -- the serialising needed: no row lock, so an idle run writes nothing).
    PERFORM pg_advisory_xact_lock(7405121);
    SELECT horizon INTO since FROM audit_seal_horizon;
    IF upto <= since THEN
        RETURN 0;
    END IF;
    SELECT seq, hash INTO last_seq, last_hash FROM audit_seals ORDER BY seq DESC LIMIT 1;
    last_seq := coalesce(last_seq, 0);
    last_hash := coalesce(last_hash, '\x'::bytea);
    FOR e IN SELECT * FROM audit_events WHERE xid >= since AND xid < upto ORDER BY id LOOP
        last_seq := last_seq + 1;
        last_hash := sha256(last_hash || ambito_audit_canonical(e));
        INSERT INTO audit_seals (seq, event_id, hash) VALUES (last_seq, e.id, last_hash);
        n := n + 1;
    END LOOP;
    -- An idle server writes nothing: with no event in the range, the next
    -- run scans the same (empty) range of the xid index again.
    IF n > 0 THEN
        UPDATE audit_seal_horizon SET horizon = upto;
    END IF;
    RETURN n;
END
$$;

-- Walks the chain and names the first broken link: an event changed after
-- it was sealed, a seal removed or reordered, or an event deleted.
CREATE FUNCTION ambito_audit_verify(OUT sealed bigint, OUT broken_seq bigint, OUT broken_event bigint,
        OUT problem text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    s record;
    expect_seq bigint := 0;
    h bytea := '\x'::bytea;
    e audit_events;
    upto xid8;
BEGIN
    sealed := 0;
    FOR s IN SELECT seq, event_id, hash FROM audit_seals ORDER BY seq LOOP
        expect_seq := expect_seq + 1;
        IF s.seq <> expect_seq THEN
            broken_seq := expect_seq; broken_event := s.event_id;
            problem := format('seal %s is missing', expect_seq);
            RETURN;
        END IF;
        SELECT * INTO e FROM audit_events WHERE id = s.event_id;
        IF NOT FOUND THEN
            broken_seq := s.seq; broken_event := s.event_id;
            problem := format('event %s is gone', s.event_id);
            RETURN;
        END IF;
        h := sha256(h || ambito_audit_canonical(e));
        IF h <> s.hash THEN
            broken_seq := s.seq; broken_event := s.event_id;
            problem := format('event %s was changed after it was sealed', s.event_id);
            RETURN;
        END IF;
        sealed := sealed + 1;
    END LOOP;
    SELECT horizon INTO upto FROM audit_seal_horizon;
    SELECT a.id INTO broken_event FROM audit_events a
        WHERE a.xid < upto AND NOT EXISTS (SELECT 1 FROM audit_seals x WHERE x.event_id = a.id)
        ORDER BY a.id LIMIT 1;
    IF broken_event IS NOT NULL THEN
        problem := format('event %s has no seal', broken_event);
    END IF;
END
$$;
REVOKE ALL ON FUNCTION ambito_audit_seal(), ambito_audit_verify() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ambito_audit_seal(), ambito_audit_verify() TO ambito_maint;

-- Nobody changes or removes an event or a seal: not the server's roles, not
-- the owner. (A superuser can still disable triggers; the chain shows it.)
CREATE FUNCTION ambito_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = '42501';
END
$$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION ambito_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION ambito_append_only();
CREATE TRIGGER audit_seals_append_only BEFORE UPDATE OR DELETE ON audit_seals
    FOR EACH ROW EXECUTE FUNCTION ambito_append_only();
CREATE TRIGGER audit_seals_no_truncate BEFORE TRUNCATE ON audit_seals
    FOR EACH STATEMENT EXECUTE FUNCTION ambito_append_only();

-- An event names the province and school of the caller: a request cannot
-- write into another province's trail.
DROP POLICY audit_insert ON audit_events;
CREATE POLICY audit_insert ON audit_events FOR INSERT TO ambito_app WITH CHECK (
    user_id = (SELECT ambito_user_id())
    AND membership_id IS NOT DISTINCT FROM (SELECT ambito_setting('ambito.membership_id'))::bigint
    AND role = (SELECT ambito_setting('ambito.role'))
    AND (province_code IS NULL OR province_code = (SELECT ambito_setting('ambito.province')))
);
-- Authentication records account events (provisioning by the command line,
-- grants, revocations) under no caller's scope.
GRANT INSERT ON audit_events TO ambito_auth;
GRANT USAGE ON SEQUENCE audit_events_id_seq TO ambito_auth;
CREATE POLICY auth_insert ON audit_events FOR INSERT TO ambito_auth WITH CHECK (true);

-- Whether a tax code is registered in the province and year, for a caller
-- who writes pupils there: checked before a write, so that no unique
-- violation (whose detail names the tax code) reaches the server log.
CREATE POLICY owner_read ON pupils FOR SELECT TO CURRENT_USER USING (true);
CREATE FUNCTION ambito_pupil_registered(p_province text, p_year integer, p_tax_code text, p_except bigint)
    RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT p_province = ambito_setting('ambito.province')
       AND ambito_setting('ambito.scope.pupil.write') IS NOT NULL
       AND EXISTS (SELECT 1 FROM pupils
                   WHERE province_code = p_province AND school_year = p_year AND tax_code = p_tax_code
                     AND id IS DISTINCT FROM p_except)
$$;
REVOKE ALL ON FUNCTION ambito_pupil_registered(text, integer, text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ambito_pupil_registered(text, integer, text, bigint) TO ambito_app;
