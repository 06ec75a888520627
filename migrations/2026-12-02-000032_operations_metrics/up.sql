-- What /metrics reports of the audit chain (issue 22): events committed but
-- not yet sealed into the hash chain, and the age of the oldest of them.
-- Every event below the seal horizon is sealed; those at or above it wait
-- for the next run of a sealer. The operator's role reads the count, never
-- an event.
CREATE FUNCTION ambito_audit_lag(OUT unsealed bigint, OUT oldest_seconds double precision)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT count(*), coalesce(extract(epoch FROM now() - min(e.at)), 0)::double precision
    FROM audit_events e
    WHERE e.xid >= (SELECT horizon FROM audit_seal_horizon)
$$;
REVOKE ALL ON FUNCTION ambito_audit_lag() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ambito_audit_lag() TO ambito_maint;

-- Login locks in force now (accounts and client addresses), for the same
-- scrape on the operator's role, which reads no throttle row itself.
CREATE FUNCTION ambito_login_locks() RETURNS bigint
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT count(*) FROM login_throttle WHERE locked_until > now()
$$;
REVOKE ALL ON FUNCTION ambito_login_locks() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ambito_login_locks() TO ambito_maint;
