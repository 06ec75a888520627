-- The registry report's aggregate (issue 23, W3): counts of pupils and
-- hours per school year, school, site (with its municipality and ambit),
-- order, severity and ratio, kept up to date by every write to the tables
-- the report joins, inside the write's own transaction. The office's report
-- over a province then sums a few thousand cells of one table instead of
-- joining every pupil of the province with five others.
--
-- Each pupil's share is kept in `registry_report_pupils`, and a change to a
-- pupil, its class, its request or its approval takes the pupil's share out
-- of its cell and puts its share now back in: each trigger reads the
-- current state, so the order in which cascades fire (deleting a pupil
-- deletes its request) cannot count anything twice.
CREATE TABLE registry_report_pupils (
    pupil_id          bigint PRIMARY KEY,
    school_year       integer NOT NULL,
    province_code     text COLLATE "C" NOT NULL,
    institution_code  text COLLATE "C" NOT NULL,
    site_code         text COLLATE "C" NOT NULL,
    municipality_istat text COLLATE "C" NOT NULL,
    -- '': no ambit (a key column cannot be null for ON CONFLICT).
    ambit_code        text COLLATE "C" NOT NULL,
    school_order      text NOT NULL,
    severity          text NOT NULL,
    -- 0: no request.
    ratio             integer NOT NULL,
    requested_hours   integer NOT NULL,
    approved_hours    integer NOT NULL
);

CREATE TABLE registry_report_cells (
    school_year       integer NOT NULL,
    province_code     text COLLATE "C" NOT NULL,
    institution_code  text COLLATE "C" NOT NULL,
    site_code         text COLLATE "C" NOT NULL,
    municipality_istat text COLLATE "C" NOT NULL,
    ambit_code        text COLLATE "C" NOT NULL,
    school_order      text NOT NULL,
    severity          text NOT NULL,
    ratio             integer NOT NULL,
    -- A cell emptied by deletions stays, at zero, for the next pupil. (No
    -- CHECK >= 0: PostgreSQL checks the row an upsert proposes, a negative
    -- difference, before it finds the cell to add it to.)
    pupils            bigint NOT NULL,
    requested_hours   bigint NOT NULL,
    approved_hours    bigint NOT NULL,
    -- The site's municipality and ambit are in the key: a site moved to
    -- another municipality moves its pupils to other cells.
    PRIMARY KEY (school_year, institution_code, site_code, municipality_istat, ambit_code, school_order, severity,
                 ratio)
);
CREATE INDEX registry_report_cells_province ON registry_report_cells (province_code, school_year);

-- The pupils' shares are the owner's alone; request work reads the cells
-- of the scope in which it reads all four tables the report joins (every
-- role of policy.csv that reads pupils reads the other three alike).
ALTER TABLE registry_report_pupils ENABLE ROW LEVEL SECURITY;
ALTER TABLE registry_report_pupils FORCE ROW LEVEL SECURITY;
CREATE POLICY owner_all ON registry_report_pupils FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
ALTER TABLE registry_report_cells ENABLE ROW LEVEL SECURITY;
ALTER TABLE registry_report_cells FORCE ROW LEVEL SECURITY;
CREATE POLICY owner_all ON registry_report_cells FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
GRANT SELECT ON registry_report_cells TO ambito_app;
CREATE POLICY tenant_read ON registry_report_cells FOR SELECT TO ambito_app USING (
    (province_code = (SELECT ambito_setting('ambito.province'))
        AND (SELECT ambito_setting('ambito.scope.pupil.read')) = 'province'
        AND (SELECT ambito_setting('ambito.scope.class.read')) = 'province'
        AND (SELECT ambito_setting('ambito.scope.support_request.read')) = 'province'
        AND (SELECT ambito_setting('ambito.scope.support_approval.read')) = 'province')
    OR (institution_code = (SELECT ambito_setting('ambito.school'))
        AND (SELECT ambito_setting('ambito.scope.pupil.read')) = 'school'
        AND (SELECT ambito_setting('ambito.scope.class.read')) = 'school'
        AND (SELECT ambito_setting('ambito.scope.support_request.read')) = 'school'
        AND (SELECT ambito_setting('ambito.scope.support_approval.read')) = 'school'));

-- The triggers run as the owner: a school's write must move its pupil's
-- share whatever the school may read (approvals are the office's).
CREATE POLICY owner_read ON classes FOR SELECT TO CURRENT_USER USING (true);
CREATE POLICY owner_read ON support_requests FOR SELECT TO CURRENT_USER USING (true);
CREATE POLICY owner_read ON support_approvals FOR SELECT TO CURRENT_USER USING (true);

-- Puts the shares of these pupils as they are now in place of those counted.
CREATE FUNCTION ambito_registry_report_resync(ids bigint[]) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF cardinality(ids) = 0 THEN
        RETURN;
    END IF;
    -- The statement that fired this already holds the table's lock
    -- (ambito_registry_report_lock, below).
    -- Concurrent writes to one pupil (its class moved while its hours are
    -- requested) take their turns here, in pupil order. Each statement
    -- below then reads what the one before it committed: the share as
    -- counted, and the pupil as it is.
    PERFORM 1 FROM registry_report_pupils WHERE pupil_id = ANY (ids) ORDER BY pupil_id FOR UPDATE;
    -- One statement (its plan kept for the session): the shares now, the
    -- difference from those counted added to the cells, cell by cell in
    -- key order (concurrent writers lock the cells they share in one
    -- order), and the shares kept. The shares are updated in place, never
    -- deleted and inserted: the next writer waiting on the lock above then
    -- finds the row as this one left it.
    WITH shares AS (
        SELECT p.id AS pupil_id, p.school_year, p.province_code, p.institution_code, c.site_code,
               s.municipality_istat, coalesce(m.ambit_code, '') AS ambit_code, c.school_order, p.severity,
               coalesce(r.ratio, 0) AS ratio, coalesce(r.hours, 0) AS requested_hours,
               coalesce(a.hours, 0) AS approved_hours
        FROM pupils p
        JOIN classes c ON c.id = p.class_id
        JOIN sites s ON s.code = c.site_code
        JOIN municipalities m ON m.istat_code = s.municipality_istat
        LEFT JOIN support_requests r ON r.pupil_id = p.id
        LEFT JOIN support_approvals a ON a.pupil_id = p.id
        WHERE p.id = ANY (ids)
    ), counted AS (
        INSERT INTO registry_report_cells AS k (school_year, province_code, institution_code, site_code, municipality_istat, ambit_code, school_order, severity, ratio, pupils, requested_hours, approved_hours)
        SELECT school_year, province_code, institution_code, site_code, municipality_istat, ambit_code, school_order, severity, ratio, sum(n), sum(requested_hours), sum(approved_hours)
        FROM (SELECT school_year, province_code, institution_code, site_code, municipality_istat, ambit_code, school_order, severity, ratio, -1 AS n, -requested_hours AS requested_hours, -approved_hours AS approved_hours
              FROM registry_report_pupils WHERE pupil_id = ANY (ids)
              UNION ALL
              SELECT school_year, province_code, institution_code, site_code, municipality_istat, ambit_code, school_order, severity, ratio, 1, requested_hours, approved_hours FROM shares) d
        GROUP BY school_year, province_code, institution_code, site_code, municipality_istat, ambit_code, school_order, severity, ratio
        HAVING sum(n) <> 0 OR sum(requested_hours) <> 0 OR sum(approved_hours) <> 0
        ORDER BY school_year, institution_code, site_code, municipality_istat, ambit_code, school_order, severity,
                 ratio
        ON CONFLICT (school_year, institution_code, site_code, municipality_istat, ambit_code, school_order, severity,
                     ratio) DO UPDATE
            SET pupils = k.pupils + excluded.pupils,
                requested_hours = k.requested_hours + excluded.requested_hours,
                approved_hours = k.approved_hours + excluded.approved_hours
        RETURNING 1
    ), gone AS (
        DELETE FROM registry_report_pupils
        WHERE pupil_id = ANY (ids) AND pupil_id NOT IN (SELECT pupil_id FROM shares)
        RETURNING 1
    )
    INSERT INTO registry_report_pupils AS o SELECT * FROM shares
    ON CONFLICT (pupil_id) DO UPDATE
        SET school_year = excluded.school_year, province_code = excluded.province_code,
            institution_code = excluded.institution_code, site_code = excluded.site_code,
            municipality_istat = excluded.municipality_istat, ambit_code = excluded.ambit_code,
            school_order = excluded.school_order, severity = excluded.severity, ratio = excluded.ratio,
            requested_hours = excluded.requested_hours, approved_hours = excluded.approved_hours;
END
$$;

REVOKE ALL ON FUNCTION ambito_registry_report_resync(bigint[]) FROM PUBLIC;

-- One statement's changed rows (`changed`: the new rows of an insert or
-- update, the old of a delete) name the pupils to resync.
CREATE FUNCTION ambito_registry_report_changed() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF TG_TABLE_NAME = 'pupils' THEN
        PERFORM ambito_registry_report_resync(ARRAY(SELECT id FROM changed));
    ELSIF TG_TABLE_NAME IN ('support_requests', 'support_approvals') THEN
        PERFORM ambito_registry_report_resync(ARRAY(SELECT pupil_id FROM changed));
    ELSE
        -- A class moved to another site, a site to another municipality, a
        -- municipality to another ambit: pupils their writer did not see
        -- (another request's, not yet committed) must move too. The
        -- statement took the table in SHARE ROW EXCLUSIVE mode before it
        -- ran, so these pupils are read by statements that see them.
        IF TG_TABLE_NAME = 'classes' THEN
            PERFORM ambito_registry_report_resync(ARRAY(
                SELECT p.id FROM pupils p JOIN changed c ON p.class_id = c.id));
        ELSIF TG_TABLE_NAME = 'sites' THEN
            PERFORM ambito_registry_report_resync(ARRAY(
                SELECT p.id FROM pupils p JOIN classes c ON c.id = p.class_id JOIN changed s ON s.code = c.site_code));
        ELSE
            PERFORM ambito_registry_report_resync(ARRAY(
                SELECT p.id FROM pupils p JOIN classes c ON c.id = p.class_id JOIN sites s ON s.code = c.site_code
                JOIN changed m ON m.istat_code = s.municipality_istat));
        END IF;
    END IF;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION ambito_registry_report_changed() FROM PUBLIC;

-- Every write to the report's tables takes the shares' table first: a
-- write to pupils, requests or approvals in ROW EXCLUSIVE mode, a change of
-- classes or territory in SHARE ROW EXCLUSIVE mode, which waits for the
-- writes under way and holds the next ones until it commits, so that no
-- pupil is counted at a site or municipality the other did not see.
-- The table lock is taken before the statement locks any row: taken after,
-- a writer holding a request's row could queue behind a class change
-- waiting for another writer that waits for that row (a deadlock the
-- property test met).
CREATE FUNCTION ambito_registry_report_lock() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF TG_TABLE_NAME IN ('pupils', 'support_requests', 'support_approvals') THEN
        LOCK TABLE registry_report_pupils IN ROW EXCLUSIVE MODE;
    ELSE
        LOCK TABLE registry_report_pupils IN SHARE ROW EXCLUSIVE MODE;
    END IF;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION ambito_registry_report_lock() FROM PUBLIC;
CREATE TRIGGER pupils_report_lock BEFORE INSERT OR UPDATE OR DELETE ON pupils
    FOR EACH STATEMENT EXECUTE FUNCTION ambito_registry_report_lock();
CREATE TRIGGER support_requests_report_lock BEFORE INSERT OR UPDATE OR DELETE ON support_requests
    FOR EACH STATEMENT EXECUTE FUNCTION ambito_registry_report_lock();
CREATE TRIGGER support_approvals_report_lock BEFORE INSERT OR UPDATE OR DELETE ON support_approvals
    FOR EACH STATEMENT EXECUTE FUNCTION ambito_registry_report_lock();
CREATE TRIGGER classes_report_lock BEFORE UPDATE ON classes
    FOR EACH STATEMENT EXECUTE FUNCTION ambito_registry_report_lock();
CREATE TRIGGER sites_report_lock BEFORE UPDATE ON sites
    FOR EACH STATEMENT EXECUTE FUNCTION ambito_registry_report_lock();
CREATE TRIGGER municipalities_report_lock BEFORE UPDATE ON municipalities
    FOR EACH STATEMENT EXECUTE FUNCTION ambito_registry_report_lock();

-- PostgreSQL takes transition tables on triggers of one event only.
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['pupils', 'support_requests', 'support_approvals'] LOOP
        EXECUTE format('CREATE TRIGGER %1$s_report_insert AFTER INSERT ON %1$s REFERENCING NEW TABLE AS changed
            FOR EACH STATEMENT EXECUTE FUNCTION ambito_registry_report_changed()', t);
        EXECUTE format('CREATE TRIGGER %1$s_report_delete AFTER DELETE ON %1$s REFERENCING OLD TABLE AS changed
            FOR EACH STATEMENT EXECUTE FUNCTION ambito_registry_report_changed()', t);
    END LOOP;
    -- Keys never change: an update's new rows name the same pupils (and
    -- classes, sites, municipalities: the territory importers move a site
    -- to another municipality, a municipality to another ambit).
    FOREACH t IN ARRAY ARRAY['pupils', 'support_requests', 'support_approvals', 'classes', 'sites', 'municipalities'] LOOP
        EXECUTE format('CREATE TRIGGER %1$s_report_update AFTER UPDATE ON %1$s REFERENCING NEW TABLE AS changed
            FOR EACH STATEMENT EXECUTE FUNCTION ambito_registry_report_changed()', t);
    END LOOP;
END
$$;

-- The registry as it stands.
SELECT ambito_registry_report_resync(ARRAY(SELECT id FROM pupils));
