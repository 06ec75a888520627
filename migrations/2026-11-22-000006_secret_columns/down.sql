GRANT SELECT, INSERT, UPDATE, DELETE ON users, sessions TO ambito_app;
GRANT SELECT, INSERT, UPDATE ON password_resets TO ambito_app;
