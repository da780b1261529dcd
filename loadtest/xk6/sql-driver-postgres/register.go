// Package postgres makes lib/pq available to xk6-sql scripts as k6/x/sql/driver/postgres.
package postgres

import (
	"github.com/grafana/xk6-sql/sql"

	_ "github.com/lib/pq" // registers database/sql driver "postgres"
)

func init() {
	sql.RegisterModule("postgres")
}
