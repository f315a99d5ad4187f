#!/bin/sh
# Runs once on an empty data volume: a pg_monitor-only role for pgvigil, and pg_stat_statements.
set -eu
psql -v ON_ERROR_STOP=1 -v pw="$PGVIGIL_DB_PASSWORD" <<'SQL'
CREATE ROLE pgvigil LOGIN PASSWORD :'pw' IN ROLE pg_monitor;
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
SQL
