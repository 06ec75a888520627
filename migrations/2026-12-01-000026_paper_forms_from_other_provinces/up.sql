-- Paper forms are delivered to the office they are routed to, which need
-- not keep the teacher's registry: the requested province's office for an
-- interprovincial form (a liceo musicale in another province, seed L84),
-- a regional directorate for an IRC teacher of another region (L83). The
-- office that received the paper reads the registry row of that one tax
-- code, to check and enter the form; the server then accepts the form only
-- if it is routed to that office, and answers not found otherwise, as for
-- a tax code the registry does not hold.
CREATE FUNCTION ambito_teacher_for_paper_form(p_tax_code text) RETURNS SETOF teachers
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT * FROM teachers
     WHERE tax_code = p_tax_code
       AND (SELECT ambito_setting('ambito.scope.mobility_application.write')) IN ('province', 'region')
$$;
REVOKE ALL ON FUNCTION ambito_teacher_for_paper_form(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ambito_teacher_for_paper_form(text) TO ambito_app;
