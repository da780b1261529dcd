#!/bin/bash
# Entry point of the eu-west and ap-south standbys. On first start (empty data directory) it clones the us-east
# primary with pg_basebackup from the standby's replication slot and makes the copy a standby that streams from it,
# naming itself with application_name (synchronous_standby_names on the primary lists eu-west). Then it hands over to
# the postgres image's own entry point, which finds the data directory initialised and starts the server.
set -euo pipefail

: "${PRIMARY_HOST:?set PRIMARY_HOST to the host name of the primary}"
: "${STANDBY_NAME:?set STANDBY_NAME to the region of this standby (its application_name)}"
: "${REPLICATION_SLOT:?set REPLICATION_SLOT to the replication slot of this standby on the primary}"
: "${REPLICATION_PASSWORD:?set REPLICATION_PASSWORD for the replicator role}"
PGDATA="${PGDATA:-/var/lib/postgresql/data}"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  mkdir -p "$PGDATA"
  chown postgres:postgres "$PGDATA"
  chmod 0700 "$PGDATA"
  until pg_isready --host="$PRIMARY_HOST" --port=5432 --quiet; do
    echo "standby $STANDBY_NAME: waiting for the primary at $PRIMARY_HOST:5432"
    sleep 1
  done
  echo "standby $STANDBY_NAME: cloning $PRIMARY_HOST with pg_basebackup (slot $REPLICATION_SLOT)"
  conninfo="host=$PRIMARY_HOST port=5432 user=replicator password=$REPLICATION_PASSWORD application_name=$STANDBY_NAME"
  gosu postgres pg_basebackup --pgdata="$PGDATA" --wal-method=stream --checkpoint=fast \
    --slot="$REPLICATION_SLOT" --dbname="$conninfo"
  gosu postgres touch "$PGDATA/standby.signal"
  gosu postgres tee -a "$PGDATA/postgresql.auto.conf" >/dev/null <<CONF
primary_conninfo = '$conninfo'
primary_slot_name = '$REPLICATION_SLOT'
hot_standby = on
# The primary's own setting came along in the copy; a standby has no synchronous standbys of its own.
synchronous_standby_names = ''
CONF
fi

exec docker-entrypoint.sh postgres
