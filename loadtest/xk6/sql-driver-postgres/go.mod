// Registers lib/pq as the "postgres" driver of xk6-sql (import "k6/x/sql/driver/postgres").
// A stand-in for github.com/grafana/xk6-sql-driver-postgres, which this machine's Go module
// proxy does not serve; build-k6.mjs uses the upstream module when the proxy has it.
module grey.local/xk6-sql-driver-postgres

go 1.23.0

require (
	github.com/grafana/xk6-sql v1.0.5
	github.com/lib/pq v1.10.9
)
