-- Service accounts (docs/service-accounts.md §2). The account itself is an
-- ordinary Keystone user in Python's tables (user, local_user without a
-- password, user_option 1002); this row marks that user as a service
-- account, names the domain that owns it and who created it. A user
-- without this row is never reachable through /v4/service_accounts, and a
-- user with it never signs in with a password or a passkey. Times are
-- microseconds since the Unix epoch (UTC).
CREATE TABLE ng_service_account (
    user_id VARCHAR(64) NOT NULL PRIMARY KEY,
    domain_id VARCHAR(64) NOT NULL,
    created_by VARCHAR(64) NOT NULL,
    created_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE INDEX ng_service_account_domain_id ON ng_service_account (domain_id);
