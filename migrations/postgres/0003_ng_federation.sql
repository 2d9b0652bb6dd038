-- Federation (docs/federation.md): keystone-ng's own view of identity
-- providers and mappings. Python's rows (identity_provider, idp_remote_ids,
-- federation_protocol, mapping) are written beside them, as Python writes
-- them; these tables hold what Python has no column for.

-- owner_domain_id is the domain that administers the IdP ('' = global,
-- system admins only); shadow_domain_id is Python's identity_provider.domain_id
-- (where federated users live). client_secret is a Fernet token made with
-- the [credential] key repository. Times are microseconds since the Unix epoch (UTC).
CREATE TABLE ng_identity_provider (
    id VARCHAR(64) NOT NULL PRIMARY KEY,
    name VARCHAR(255) NOT NULL,
    owner_domain_id VARCHAR(64) NOT NULL,
    shadow_domain_id VARCHAR(64) NOT NULL,
    issuer VARCHAR(1024) NOT NULL,
    discovery_url VARCHAR(1024) NOT NULL,
    jwks_url VARCHAR(1024) NULL,
    client_id VARCHAR(255) NULL,
    client_secret TEXT NULL,
    scopes TEXT NOT NULL,
    redirect_uris TEXT NOT NULL,
    audiences TEXT NOT NULL,
    default_mapping VARCHAR(255) NULL,
    python_mapping_id VARCHAR(64) NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT ng_identity_provider_owner_name UNIQUE (owner_domain_id, name)
);

-- Mappings of an IdP, by name; rules is the validated JSON document.
CREATE TABLE ng_mapping (
    idp_id VARCHAR(64) NOT NULL,
    name VARCHAR(255) NOT NULL,
    rules TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (idp_id, name)
);

-- JWT ids seen, kept until the JWT expires: the primary key makes a replay
-- fail on any instance.
CREATE TABLE ng_jwt_jti (
    idp_id VARCHAR(64) NOT NULL,
    jti VARCHAR(255) NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (idp_id, jti)
);
CREATE INDEX ng_jwt_jti_expires_at ON ng_jwt_jti (expires_at);

-- Role assignments a mapping made (so that a grant the mapping no longer
-- gives is removed at the next login, and a grant an admin made by hand
-- never is). type/actor_id/target_id/role_id are the assignment row's.
CREATE TABLE ng_federation_grant (
    idp_id VARCHAR(64) NOT NULL,
    type VARCHAR(16) NOT NULL,
    actor_id VARCHAR(64) NOT NULL,
    target_id VARCHAR(64) NOT NULL,
    role_id VARCHAR(64) NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (idp_id, type, actor_id, target_id, role_id)
);
