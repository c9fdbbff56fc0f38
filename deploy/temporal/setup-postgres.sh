#!/bin/sh
# Creates Temporal's two PostgreSQL databases if missing and brings their schemas to the version shipped in the
# admin-tools image (setup-schema, then update-schema). Idempotent: every `docker compose up` runs it, and an
# upgrade of the images upgrades the schema before the new server starts. Commands as in Temporal's own
# compose samples (temporalio/samples-server, compose/scripts/setup-postgres.sh).
set -eu
: "${POSTGRES_SEEDS:?}" "${POSTGRES_USER:?}" "${POSTGRES_PASSWORD_FILE:?}"
SQL_PASSWORD="$(cat "$POSTGRES_PASSWORD_FILE")"
export SQL_PASSWORD
PORT="${DB_PORT:-5432}"
SCHEMA=/etc/temporal/schema/postgresql/v12
tool() { temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -u "$POSTGRES_USER" -p "$PORT" "$@"; }

until nc -z -w 10 "$POSTGRES_SEEDS" "$PORT"; do echo "waiting for PostgreSQL at $POSTGRES_SEEDS:$PORT"; sleep 2; done

for pair in temporal:temporal visibility:temporal_visibility; do
  kind="${pair%%:*}" db="${pair#*:}"
  # `create` fails on an existing database; a real connection problem fails setup-schema right after.
  tool --db "$db" create || echo "database $db exists"
  tool --db "$db" setup-schema -v 0.0
  tool --db "$db" update-schema -d "$SCHEMA/$kind/versioned"
done
echo "Temporal schema ready"
