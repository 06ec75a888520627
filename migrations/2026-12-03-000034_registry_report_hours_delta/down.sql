-- The updates of requests and approvals resync their pupils again, as
-- migration 000033 made them.
DROP TRIGGER support_requests_report_update ON support_requests;
CREATE TRIGGER support_requests_report_update AFTER UPDATE ON support_requests REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION ambito_registry_report_changed();
DROP TRIGGER support_approvals_report_update ON support_approvals;
CREATE TRIGGER support_approvals_report_update AFTER UPDATE ON support_approvals REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION ambito_registry_report_changed();
DROP FUNCTION ambito_registry_report_hours_changed();
DROP FUNCTION ambito_registry_report_hours(bigint[], integer[], integer[], integer[]);
