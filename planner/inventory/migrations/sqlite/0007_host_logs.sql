-- What a host's deployments and cleans printed: the deploy agent's log, the server's console as the
-- agent read it, and the engine's own steps, kept with the host so a failed deployment says why.
-- Bounded per host (the inventory keeps the newest lines).
CREATE TABLE host_logs (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    project    TEXT NOT NULL,
    host       TEXT NOT NULL,
    generation BIGINT NOT NULL,
    at_ms      BIGINT NOT NULL,
    source     TEXT NOT NULL,
    line       TEXT NOT NULL
);
CREATE INDEX host_logs_by_host ON host_logs (project, host, id);
