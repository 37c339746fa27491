-- Deployment plans: a named customisation of a golden image (a cloud-init user-data template, a
-- hostname pattern and variables), rendered per host. Sensitive variables are sealed in the spec.
CREATE TABLE deployment_plans (
    name        TEXT PRIMARY KEY,
    spec        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
