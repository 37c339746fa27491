-- The inventory: projects, nodes, flavors, switches, hosts, leases, the apply journal and the audit log.
-- Times are Unix milliseconds (BIGINT); flags are 0/1; lists and documents are JSON text.

CREATE TABLE projects (
    name        TEXT PRIMARY KEY,
    max_hosts   BIGINT,
    max_nodes   BIGINT,
    created_at  BIGINT NOT NULL
);

CREATE TABLE nodes (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    name                TEXT NOT NULL UNIQUE,
    bmc_url             TEXT NOT NULL,
    system_id           TEXT NOT NULL,
    username            TEXT NOT NULL,
    password_sealed     TEXT NOT NULL,
    ca_cert_pem         TEXT,
    fingerprint         TEXT,
    insecure            BIGINT NOT NULL DEFAULT 0,
    state               TEXT NOT NULL,
    last_error          TEXT,
    maintenance         BIGINT NOT NULL DEFAULT 0,
    maintenance_reason  TEXT,
    power               TEXT,
    health              TEXT,
    manufacturer        TEXT,
    model               TEXT,
    serial              TEXT,
    system_uuid         TEXT,
    arch                TEXT,
    cpus                BIGINT NOT NULL DEFAULT 0,
    memory_gib          BIGINT NOT NULL DEFAULT 0,
    disk_gib            BIGINT NOT NULL DEFAULT 0,
    traits              TEXT NOT NULL DEFAULT '[]',
    rack                TEXT,
    inventory           TEXT,
    owner_project       TEXT REFERENCES projects(name),
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
CREATE UNIQUE INDEX nodes_system_uuid ON nodes(system_uuid) WHERE system_uuid IS NOT NULL;
CREATE INDEX nodes_state ON nodes(state);

CREATE TABLE flavors (
    name        TEXT PRIMARY KEY,
    spec        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE switches (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    name             TEXT NOT NULL UNIQUE,
    driver           TEXT NOT NULL,
    address          TEXT NOT NULL,
    username         TEXT NOT NULL,
    password_sealed  TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);

-- A host is an allocation of one node to a project. node_id is UNIQUE: the database itself refuses a
-- node allocated twice.
CREATE TABLE hosts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL,
    project     TEXT NOT NULL REFERENCES projects(name),
    flavor      TEXT,
    node_id     BIGINT UNIQUE REFERENCES nodes(id),
    state       TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (project, name)
);

CREATE TABLE leases (
    node_id      BIGINT PRIMARY KEY REFERENCES nodes(id) ON DELETE CASCADE,
    holder       TEXT NOT NULL,
    purpose      TEXT NOT NULL,
    acquired_at  BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);

CREATE TABLE journal (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id  TEXT NOT NULL,
    step    TEXT NOT NULL,
    node    TEXT,
    status  TEXT NOT NULL,
    detail  TEXT,
    at      BIGINT NOT NULL
);
CREATE INDEX journal_run ON journal(run_id, step);

CREATE TABLE audit (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    at           BIGINT NOT NULL,
    actor        TEXT NOT NULL,
    role         TEXT NOT NULL,
    project      TEXT,
    action       TEXT NOT NULL,
    object_kind  TEXT NOT NULL,
    object       TEXT NOT NULL,
    node         TEXT,
    outcome      TEXT NOT NULL,
    before       TEXT,
    after        TEXT,
    detail       TEXT
);
CREATE INDEX audit_at ON audit(at);
CREATE INDEX audit_node ON audit(node);
