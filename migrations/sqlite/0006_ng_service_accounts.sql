-- Service accounts (docs/service-accounts.md §2). The account itself is an
-- ordinary Keystone user in Python's tables (user, local_user without a
-- password, user_option 1002); this row marks that user as a service
-- account, names the domain that owns it and who created it. A user
-- without this row is never reachable through /v4/service_accounts, and a
-- user with it never signs in with a password or a passkey. bounded = 1
-- (created by a domain's admin or manager): its role assignments must stay
-- inside its domain and [keystone_ng] domain_grantable_roles, or it cannot
-- log in, and only system admins manage an unbounded one. Times are
-- microseconds since the Unix epoch (UTC).
CREATE TABLE ng_service_account (
    user_id VARCHAR(64) NOT NULL PRIMARY KEY,
    domain_id VARCHAR(64) NOT NULL,
    created_by VARCHAR(64) NOT NULL,
    created_at BIGINT NOT NULL,
    bounded SMALLINT NOT NULL
);
CREATE INDEX ng_service_account_domain_id ON ng_service_account (domain_id);

-- A service account's public keys (docs/service-accounts.md §6): the
-- public JWK as JSON (never a private key), its RFC 7638 thumbprint (one
-- key once per account), the only JWS algorithm it verifies.
CREATE TABLE ng_service_account_key (
    id VARCHAR(64) NOT NULL PRIMARY KEY,
    user_id VARCHAR(64) NOT NULL,
    algorithm VARCHAR(16) NOT NULL,
    thumbprint VARCHAR(64) NOT NULL,
    public_jwk TEXT NOT NULL,
    created_by VARCHAR(64) NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    last_used_at BIGINT,
    CONSTRAINT ng_service_account_key_thumbprint UNIQUE (user_id, thumbprint)
);
CREATE INDEX ng_service_account_key_user_id ON ng_service_account_key (user_id);

-- A service account's client secrets: only a slow hash is kept; the secret
-- itself is shown once, when it is created.
CREATE TABLE ng_service_account_secret (
    id VARCHAR(64) NOT NULL PRIMARY KEY,
    user_id VARCHAR(64) NOT NULL,
    secret_hash VARCHAR(255) NOT NULL,
    created_by VARCHAR(64) NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    last_used_at BIGINT
);
CREATE INDEX ng_service_account_secret_user_id ON ng_service_account_secret (user_id);

-- The jti of every private_key_jwt assertion accepted (RFC 7523 §3: a
-- single-use JWT id), kept until the assertion expires, then purged.
CREATE TABLE ng_oauth2_jti (
    user_id VARCHAR(64) NOT NULL,
    jti VARCHAR(255) NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, jti)
);
CREATE INDEX ng_oauth2_jti_expires_at ON ng_oauth2_jti (expires_at);
