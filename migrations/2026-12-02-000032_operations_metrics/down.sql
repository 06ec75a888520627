DROP FUNCTION ambito_audit_lag();
DROP FUNCTION ambito_login_locks();
