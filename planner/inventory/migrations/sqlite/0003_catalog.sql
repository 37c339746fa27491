-- The provider's catalog: networks and profiles as documents, and what a node was configured with
-- (its profile, its switch ports and the CA file it was given), so that a read or an import gives back
-- exactly what the configuration said.

CREATE TABLE networks (
    name        TEXT PRIMARY KEY,
    spec        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE profiles (
    name        TEXT PRIMARY KEY,
    spec        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

ALTER TABLE nodes ADD COLUMN profile TEXT;
ALTER TABLE nodes ADD COLUMN ports TEXT NOT NULL DEFAULT '[]';
ALTER TABLE nodes ADD COLUMN ca_cert_path TEXT;
CREATE INDEX nodes_profile ON nodes(profile);

ALTER TABLE switches ADD COLUMN rack TEXT;
ALTER TABLE switches ADD COLUMN enable_password_sealed TEXT;
