DROP FUNCTION ambito_mobility_outcome_sheet(bigint);
CREATE FUNCTION ambito_mobility_outcome_sheet(run bigint)
    RETURNS TABLE (application_id bigint, protocol_number text, last_name text, first_name text,
                   tax_code text, state text, school_code text, institution_code text, post_type text,
                   class_code text, chair_kind text, pref_position integer)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT x.application_id, a.protocol_number, t.last_name, t.first_name, x.teacher_tax_code, x.state,
           x.school_code, coalesce(s.institution_code, x.school_code), x.post_type, x.class_code,
           x.chair_kind, x.position
    FROM mobility_run_results x
    JOIN mobility_runs r ON r.id = x.run_id
    JOIN mobility_applications a ON a.id = x.application_id
    JOIN teachers t ON t.tax_code = x.teacher_tax_code
    LEFT JOIN sites s ON s.code = x.school_code
    WHERE x.run_id = $1
      AND r.province_code = (SELECT ambito_setting('ambito.province'))
      AND (((SELECT ambito_setting('ambito.scope.mobility_allocation.read')) = 'province')
        OR ((SELECT ambito_setting('ambito.scope.mobility_allocation.read')) = 'school'
            AND r.state = 'approved' AND x.state IN ('assigned', 'manual')
            AND coalesce(s.institution_code, x.school_code) = (SELECT ambito_setting('ambito.school'))))
    ORDER BY x.school_code, x.post_type, x.class_code, x.chair_kind, a.protocol_number
$$;
REVOKE ALL ON FUNCTION ambito_mobility_outcome_sheet(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ambito_mobility_outcome_sheet(bigint) TO ambito_app;
ALTER TABLE mobility_run_results DROP COLUMN parts;
ALTER TABLE mobility_run_results DROP COLUMN hours;
ALTER TABLE teachers DROP COLUMN service_hours;
DELETE FROM mobility_vacancies WHERE hours > 0;
ALTER TABLE mobility_vacancies DROP CONSTRAINT mobility_vacancies_pkey;
ALTER TABLE mobility_vacancies ADD PRIMARY KEY (campaign_year, school_code, post_type, class_code, chair_kind);
ALTER TABLE mobility_vacancies DROP COLUMN hours;
