-- Failed logins per key ('account:<e-mail>' or 'address:<ip>'), shared by
-- every server process. Only authentication reads it.
CREATE TABLE login_throttle (
    key           text PRIMARY KEY,
    failures      integer NOT NULL CHECK (failures >= 0),
    last_failure  timestamptz NOT NULL,
    locked_until  timestamptz
);
