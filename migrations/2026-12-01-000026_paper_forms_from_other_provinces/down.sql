DROP FUNCTION ambito_teacher_for_paper_form(text);
