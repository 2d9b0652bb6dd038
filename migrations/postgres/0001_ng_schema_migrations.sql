-- keystone-ng's migration ledger: which of its own migrations ran, when.
CREATE TABLE IF NOT EXISTS ng_schema_migrations (
    name VARCHAR(255) NOT NULL PRIMARY KEY,
    applied_at TIMESTAMP WITHOUT TIME ZONE NOT NULL
);
