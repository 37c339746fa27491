-- Apply runs (the saved plan of each, so a killed apply resumes exactly it) and the state the planner
-- last applied to each object (for telling out-of-band changes from desired ones).

CREATE TABLE runs (
    run_id       TEXT PRIMARY KEY,
    desired      TEXT NOT NULL,
    plan         TEXT NOT NULL,
    status       TEXT NOT NULL,
    actor        TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    finished_at  BIGINT
);
CREATE INDEX runs_desired ON runs(desired, status);

CREATE TABLE applied_state (
    object      TEXT PRIMARY KEY,
    state       TEXT NOT NULL,
    run_id      TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);
