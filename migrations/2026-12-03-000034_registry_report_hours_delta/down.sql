-- The trigger function as migration 000033 made it: every write resyncs.
CREATE OR REPLACE FUNCTION ambito_registry_report_changed() RETURNS trigger
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

DROP FUNCTION ambito_registry_report_hours(bigint[], integer[], integer[], integer[]);
