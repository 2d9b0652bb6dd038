-- OpenID Connect login state (pkg/oidcflow): one row per login in progress,
-- code flow (state, nonce, PKCE verifier) or device flow (the identity
-- provider's device_code and the polling pace). Single use: a row is
-- deleted when the login completes; expired rows are purged.
CREATE TABLE IF NOT EXISTS ng_oidc_login_state (
    id VARCHAR(64) NOT NULL PRIMARY KEY,
    kind VARCHAR(16) NOT NULL,
    idp_id VARCHAR(255) NOT NULL,
    redirect_uri TEXT NOT NULL,
    nonce VARCHAR(64) NOT NULL,
    pkce_verifier VARCHAR(128) NOT NULL,
    device_code TEXT NOT NULL,
    poll_interval INTEGER NOT NULL,
    next_poll_at DATETIME NULL,
    extra TEXT NULL,
    created_at DATETIME NOT NULL,
    expires_at DATETIME NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_ng_oidc_login_state_expires_at ON ng_oidc_login_state (expires_at);
