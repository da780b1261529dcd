#!/bin/bash
# The us-east primary's replication set-up, run once by the postgres image when it creates the data directory
# (/docker-entrypoint-initdb.d). The settings below take effect at the restart that follows initialisation.
# eu-west is the synchronous standby (its primary_conninfo says application_name=eu-west), ap-south an asynchronous
# one; each streams from a physical replication slot so the primary keeps the WAL a standby still needs.
set -euo pipefail

: "${REPLICATION_PASSWORD:?set REPLICATION_PASSWORD for the replicator role}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  --set=replication_password="$REPLICATION_PASSWORD" <<'SQL'
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD :'replication_password';
SELECT pg_create_physical_replication_slot('eu_west');
SELECT pg_create_physical_replication_slot('ap_south');
SQL

cat >>"$PGDATA/postgresql.conf" <<'CONF'
# Added by docker/postgres/primary/10-replication.sh
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
hot_standby_feedback = on
synchronous_commit = on
synchronous_standby_names = 'FIRST 1 ("eu-west")'
CONF

# The image's pg_hba.conf admits every database but not replication connections.
echo 'host replication replicator all scram-sha-256' >>"$PGDATA/pg_hba.conf"
