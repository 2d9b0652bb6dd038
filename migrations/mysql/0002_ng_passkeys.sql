-- Passkeys (WebAuthn credentials) of Keystone users, and the short-lived
-- ceremonies (challenges) of registration and login. No foreign key to
-- Python's tables: a login checks that the user still exists and the purger
-- deletes passkeys whose user row is gone. Times are microseconds since the
-- Unix epoch (UTC).
CREATE TABLE IF NOT EXISTS ng_passkeys (
    id VARCHAR(64) NOT NULL PRIMARY KEY,
    user_id VARCHAR(64) NOT NULL,
    credential_hash CHAR(64) NOT NULL,
    credential_id TEXT NOT NULL,
    public_key TEXT NOT NULL,
    name VARCHAR(255) NOT NULL,
    aaguid VARCHAR(36) NOT NULL,
    transports VARCHAR(255) NOT NULL,
    sign_count BIGINT NOT NULL,
    user_verified BOOLEAN NOT NULL,
    backup_eligible BOOLEAN NOT NULL,
    backup_state BOOLEAN NOT NULL,
    attestation_type VARCHAR(32) NOT NULL,
    attestation_format VARCHAR(32) NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT NULL,
    UNIQUE KEY ng_passkeys_credential (credential_hash),
    KEY ng_passkeys_user (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE IF NOT EXISTS ng_passkey_ceremonies (
    id VARCHAR(64) NOT NULL PRIMARY KEY,
    kind VARCHAR(16) NOT NULL,
    user_id VARCHAR(64) NULL,
    decoy BOOLEAN NOT NULL,
    name VARCHAR(255) NOT NULL,
    session TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    KEY ng_passkey_ceremonies_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE IF NOT EXISTS ng_passkey_secrets (
    name VARCHAR(64) NOT NULL PRIMARY KEY,
    secret VARCHAR(255) NOT NULL,
    created_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
