-- Restricted tokens (docs/restricted-tokens.md §2). A restricted token is
-- an ordinary token of an application credential that keystone-ng writes
-- in Python's tables (application_credential, application_credential_role,
-- access_rule, application_credential_access_rule) exactly as Python's
-- POST /v3/users/{id}/application_credentials would, with unrestricted =
-- false and a secret nobody is given. This row records which application
-- credentials keystone-ng made that way, from which token (the source's
-- audit chain id), so that expired ones are deleted again and no other
-- application credential is ever touched. Times are microseconds since
-- the Unix epoch (UTC).
CREATE TABLE ng_restricted_token (
    application_credential_id VARCHAR(64) NOT NULL PRIMARY KEY,
    user_id VARCHAR(64) NOT NULL,
    project_id VARCHAR(64) NOT NULL,
    source_audit_id VARCHAR(64) NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX ng_restricted_token_expires_at ON ng_restricted_token (expires_at);
CREATE INDEX ng_restricted_token_user_id ON ng_restricted_token (user_id);
