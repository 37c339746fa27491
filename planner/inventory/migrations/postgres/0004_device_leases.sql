-- Leases on BMCs, by address: an apply (bmplan's or the provider's) holds one on every server it works
-- on, enrolled or not, so two runners never work on one server at once.
CREATE TABLE device_leases (
    device       TEXT PRIMARY KEY,
    node         TEXT NOT NULL,
    holder       TEXT NOT NULL,
    purpose      TEXT NOT NULL,
    acquired_at  BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
