// Package db holds the schema migrations (goose SQL files, embedded in the binary) and the
// sqlc input queries. The generated query code lives in db/dbq.
package db

import "embed"

// Migrations are applied by `dualhook migrate` and by `dualhook dev`; sqlc reads the same folder
// as its schema.
//
//go:embed migrations/*.sql
var Migrations embed.FS
