ALTER TABLE users DROP COLUMN revoked_at;
DROP TABLE email_validations;
