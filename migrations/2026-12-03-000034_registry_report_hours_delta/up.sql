-- A change of a request's or an approval's hours alone moves only hours:
-- the difference goes straight to the pupil's cell and share, without the
-- six-way join that recomputes the share (W4, a school updating its
-- requests, paid 30% of its throughput for that join). A request whose
-- ratio changed, or a pupil with no share, takes the full resync as before.
-- The property test of the cells covers both paths (tests/it/registry_report.rs).

-- Applies new hours of these pupils (requested with their ratio, or
-- approved; null where the write did not set them) as differences from
-- their shares; the pupils this cannot serve are resynced.
CREATE FUNCTION ambito_registry_report_hours(ids bigint[], ratios integer[], requested integer[], approved integer[])
    RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    rest bigint[];
BEGIN
    -- An upsert that inserted fires the update's trigger too, with no rows.
    IF cardinality(ids) = 0 THEN
        RETURN;
    END IF;
    -- The shares in pupil order, as the resync takes them; the next
    -- statement reads them as the writer before this one left them.
    PERFORM 1 FROM registry_report_pupils WHERE pupil_id = ANY (ids) ORDER BY pupil_id FOR UPDATE;
    -- The differences, then the cells in key order (concurrent writers lock
    -- the cells they share in one order) and the shares. A share counted
    -- under another ratio is left to the resync.
    WITH d AS (
        SELECT o.pupil_id, o.school_year, o.province_code, o.institution_code, o.site_code, o.municipality_istat,
               o.ambit_code, o.school_order, o.severity, o.ratio,
               coalesce(c.requested - o.requested_hours, 0) AS dr, coalesce(c.approved - o.approved_hours, 0) AS da
        FROM registry_report_pupils o
        JOIN unnest(ids, ratios, requested, approved) AS c(pupil_id, ratio, requested, approved)
          ON c.pupil_id = o.pupil_id
        WHERE c.ratio IS NULL OR c.ratio = o.ratio
    ), cells AS (
        INSERT INTO registry_report_cells AS k (school_year, province_code, institution_code, site_code, municipality_istat, ambit_code, school_order, severity, ratio, pupils, requested_hours, approved_hours)
        SELECT school_year, province_code, institution_code, site_code, municipality_istat, ambit_code, school_order, severity, ratio, 0, sum(dr), sum(da)
        FROM d
        GROUP BY school_year, province_code, institution_code, site_code, municipality_istat, ambit_code, school_order, severity, ratio
        HAVING sum(dr) <> 0 OR sum(da) <> 0
        ORDER BY school_year, institution_code, site_code, municipality_istat, ambit_code, school_order, severity,
                 ratio
        ON CONFLICT (school_year, institution_code, site_code, municipality_istat, ambit_code, school_order, severity,
                     ratio) DO UPDATE
            SET requested_hours = k.requested_hours + excluded.requested_hours,
                approved_hours = k.approved_hours + excluded.approved_hours
    ), shares AS (
        UPDATE registry_report_pupils o
        SET requested_hours = o.requested_hours + d.dr, approved_hours = o.approved_hours + d.da
        FROM d WHERE o.pupil_id = d.pupil_id AND (d.dr <> 0 OR d.da <> 0)
    )
    -- (Both writes above run to completion, read or not.)
    SELECT ARRAY(SELECT unnest(ids) EXCEPT SELECT pupil_id FROM d) INTO rest;
    IF cardinality(rest) > 0 THEN
        PERFORM ambito_registry_report_resync(rest);
    END IF;
END
$$;
REVOKE ALL ON FUNCTION ambito_registry_report_hours(bigint[], integer[], integer[], integer[]) FROM PUBLIC;

-- The updates of requests and approvals take this path; their inserts and
-- deletes, and every other table's writes, keep ambito_registry_report_changed.
CREATE FUNCTION ambito_registry_report_hours_changed() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    -- An update changes hours (or a request's ratio): its pupil, and
    -- everything else the cells count by, stay.
    IF TG_TABLE_NAME = 'support_requests' THEN
        PERFORM ambito_registry_report_hours(ARRAY(SELECT pupil_id FROM changed ORDER BY pupil_id),
            ARRAY(SELECT ratio FROM changed ORDER BY pupil_id), ARRAY(SELECT hours FROM changed ORDER BY pupil_id),
            NULL);
    ELSE
        PERFORM ambito_registry_report_hours(ARRAY(SELECT pupil_id FROM changed ORDER BY pupil_id), NULL, NULL,
            ARRAY(SELECT hours FROM changed ORDER BY pupil_id));
    END IF;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION ambito_registry_report_hours_changed() FROM PUBLIC;

DROP TRIGGER support_requests_report_update ON support_requests;
CREATE TRIGGER support_requests_report_update AFTER UPDATE ON support_requests REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION ambito_registry_report_hours_changed();
DROP TRIGGER support_approvals_report_update ON support_approvals;
CREATE TRIGGER support_approvals_report_update AFTER UPDATE ON support_approvals REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION ambito_registry_report_hours_changed();
