DROP TABLE audit_events, support_submissions, support_approvals, support_requests, pupils, classes, collection_windows;
DROP FUNCTION ambito_province_of_institution();
DROP FUNCTION ambito_school_tenant(regclass, text);
DROP FUNCTION ambito_user_id();
