DROP POLICY tenant_delete ON admission_placements;
REVOKE DELETE ON admission_placements FROM ambito_app;
DROP TABLE admission_revocations;
