DROP TABLE sessions, memberships, users;
