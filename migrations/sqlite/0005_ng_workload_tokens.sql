-- Tokens minted by a workload (JWT) login, by audit id. Such a token (or
-- one rescoped from it, which carries its audit id as the parent) is a
-- CI job's or a pod's borrowed access: the /v4 policy refuses it for
-- actions that create a lasting login (a passkey). Rows are purged once
-- the token expired. Times are microseconds since the Unix epoch (UTC).
CREATE TABLE ng_workload_token (
    audit_id VARCHAR(64) NOT NULL PRIMARY KEY,
    idp_id VARCHAR(64) NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX ng_workload_token_expires_at ON ng_workload_token (expires_at);
