-- OpenID Connect login state (pkg/oidcflow): one row per login in progress,
-- code flow (state, nonce, PKCE verifier) or device flow (the identity
-- provider's device_code and the polling pace). Single use: a row is
-- deleted when the login completes; expired rows are purged.
-- id is case-sensitive base64url, hence the binary collation.
CREATE TABLE IF NOT EXISTS ng_oidc_login_state (
    id VARCHAR(64) NOT NULL PRIMARY KEY,
    kind VARCHAR(16) NOT NULL,
    idp_id VARCHAR(255) NOT NULL,
    redirect_uri TEXT NOT NULL,
    nonce VARCHAR(64) NOT NULL,
    pkce_verifier VARCHAR(128) NOT NULL,
    device_code TEXT NOT NULL,
    poll_interval INTEGER NOT NULL,
    next_poll_at DATETIME(6) NULL,
    extra MEDIUMTEXT NULL,
    created_at DATETIME(6) NOT NULL,
    expires_at DATETIME(6) NOT NULL,
    INDEX ix_ng_oidc_login_state_expires_at (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
