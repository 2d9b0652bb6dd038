package passkeytest

// PythonTables is a minimal stand-in for the Python Keystone tables the
// login checks read (same column names and types as Python's models).
func PythonTables(backend string) []string {
	dt, user := "DATETIME", "user"
	switch backend {
	case "postgres":
		dt, user = "TIMESTAMP", `"user"`
	case "mysql":
		dt, user = "DATETIME(6)", "`user`"
	}
	return []string{
		`CREATE TABLE project (id VARCHAR(64) NOT NULL PRIMARY KEY, name VARCHAR(64) NOT NULL, domain_id VARCHAR(64) NOT NULL,
			parent_id VARCHAR(64), enabled BOOLEAN, is_domain BOOLEAN NOT NULL)`,
		`CREATE TABLE ` + user + ` (id VARCHAR(64) NOT NULL PRIMARY KEY, domain_id VARCHAR(64) NOT NULL, enabled BOOLEAN,
			created_at ` + dt + `, last_active_at DATE, extra TEXT, default_project_id VARCHAR(64))`,
		`CREATE TABLE local_user (id INTEGER NOT NULL PRIMARY KEY, user_id VARCHAR(64) NOT NULL, domain_id VARCHAR(64) NOT NULL,
			name VARCHAR(255) NOT NULL, failed_auth_count INTEGER, failed_auth_at ` + dt + `)`,
		`CREATE TABLE password (id INTEGER NOT NULL PRIMARY KEY, local_user_id INTEGER NOT NULL, created_at_int BIGINT,
			created_at ` + dt + `, expires_at_int BIGINT, expires_at ` + dt + `)`,
		`CREATE TABLE nonlocal_user (domain_id VARCHAR(64) NOT NULL, name VARCHAR(255) NOT NULL, user_id VARCHAR(64) NOT NULL)`,
		`CREATE TABLE federated_user (id INTEGER NOT NULL PRIMARY KEY, user_id VARCHAR(64) NOT NULL, display_name VARCHAR(255))`,
		`CREATE TABLE user_option (user_id VARCHAR(64) NOT NULL, option_id VARCHAR(4) NOT NULL, option_value TEXT)`,
	}
}
