-- Request work (role ambito_app) never reads a secret: password hashes, token
-- hashes and reset tokens are for authentication alone, which runs on its
-- own connection. Column privileges make that a rule of the database.
REVOKE ALL ON users, sessions, password_resets FROM ambito_app;
GRANT SELECT (id, email, disabled_at, created_at) ON users TO ambito_app;
GRANT INSERT (email) ON users TO ambito_app;
GRANT SELECT (id, user_id, membership_id) ON sessions TO ambito_app;
GRANT UPDATE (membership_id) ON sessions TO ambito_app;
GRANT DELETE ON sessions TO ambito_app;
