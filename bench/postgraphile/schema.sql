-- What a PostGraphile deployment of this database would add for the
-- office's report (W3): PostGraphile has no GROUP BY of its own, so the
-- idiom is a STABLE SQL function, which it exposes as a query field. It runs
-- as the caller (SECURITY INVOKER), so row security applies as in Ambito,
-- and with the same planner setting Ambito's report runs with (hash joins).
CREATE SCHEMA IF NOT EXISTS bench_pgl;
GRANT USAGE ON SCHEMA bench_pgl TO ambito_app;
DROP FUNCTION IF EXISTS bench_pgl.registry_report(int);
DROP TYPE IF EXISTS bench_pgl.report_row;
CREATE TYPE bench_pgl.report_row AS (
    school_order text, ambit text, pupils bigint, requested_hours bigint, approved_hours bigint);
CREATE FUNCTION bench_pgl.registry_report(school_year int) RETURNS SETOF bench_pgl.report_row
LANGUAGE sql STABLE SET enable_nestloop = off AS $$
    SELECT c.school_order, m.ambit_code, count(*), coalesce(sum(r.hours), 0)::int8, coalesce(sum(a.hours), 0)::int8
    FROM pupils p
    JOIN classes c ON c.id = p.class_id
    JOIN sites s ON s.code = c.site_code
    JOIN municipalities m ON m.istat_code = s.municipality_istat
    LEFT JOIN support_requests r ON r.pupil_id = p.id
    LEFT JOIN support_approvals a ON a.pupil_id = p.id
    WHERE p.school_year = registry_report.school_year
      -- The same scope predicate Ambito adds, so the planner can use an index.
      AND p.province_code = current_setting('ambito.province', true)
    GROUP BY 1, 2 ORDER BY 1, 2
$$;
GRANT EXECUTE ON FUNCTION bench_pgl.registry_report(int) TO ambito_app;
