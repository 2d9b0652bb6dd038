// Package migrations embeds keystone-ng's own schema migrations, one folder
// per SQL dialect (mysql, postgres, sqlite). Every table keystone-ng owns is
// prefixed "ng_"; Python Keystone's tables are never altered (docs/design.md §3).
// Files are applied in name order and recorded in ng_schema_migrations.
package migrations

import "embed"

// FS holds <dialect>/<NNNN>_<name>.sql.
//
//go:embed mysql/*.sql postgres/*.sql sqlite/*.sql
var FS embed.FS
