-- pgvigil's monitoring role: LOGIN, member of pg_monitor, CONNECT on every database. Nothing else:
-- no superuser, no table privileges, read-only sessions. Re-runnable: it updates the password,
-- grants what is missing, and gives CONNECT on databases created since the last run.
--
-- Run as a superuser (or a role with CREATEROLE that may grant pg_monitor):
--   psql -v ON_ERROR_STOP=1 -v pgvigil_password="$PGVIGIL_DB_PASSWORD" -f deploy/sql/pgvigil-role.sql
--
-- psql variables:
--   pgvigil_password          required; stored as SCRAM when password_encryption = scram-sha-256 (the default from 14)
--   pgvigil_role              role name, default pgvigil
--   pgvigil_connection_limit  default 5; keep it above PGVIGIL_POOL_SIZE (default 2)
--
-- The password is part of a statement text: do not run this with log_statement = 'all' or 'ddl'.
-- What pg_monitor does not cover degrades inside pgvigil with a reason (pgvigil_collector_errors_total
-- {reason="permission"} or pgvigil_collector_enabled 0), never with an error per poll.

\set ON_ERROR_STOP on
\if :{?pgvigil_role}
\else
\set pgvigil_role pgvigil
\endif
\if :{?pgvigil_connection_limit}
\else
\set pgvigil_connection_limit 5
\endif

SET pgvigil.role = :'pgvigil_role';
SET pgvigil.password = :'pgvigil_password';
SET pgvigil.connection_limit = :'pgvigil_connection_limit';

DO $$
DECLARE
  r text := current_setting('pgvigil.role');
  pw text := current_setting('pgvigil.password');
  lim int := current_setting('pgvigil.connection_limit')::int;
  db text;
BEGIN
  IF pw IS NULL OR pw = '' THEN
    RAISE EXCEPTION 'pgvigil_password is empty: psql -v pgvigil_password=...';
  END IF;
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
    EXECUTE format('ALTER ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS CONNECTION LIMIT %s PASSWORD %L', r, lim, pw);
  ELSE
    EXECUTE format('CREATE ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS CONNECTION LIMIT %s PASSWORD %L', r, lim, pw);
  END IF;
  EXECUTE format('GRANT pg_monitor TO %I', r);
  -- PUBLIC has CONNECT by default; hardened clusters revoke it, and pgvigil visits every database.
  FOR db IN SELECT datname FROM pg_database WHERE datallowconn LOOP
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', db, r);
  END LOOP;
  -- pgvigil asks for read-only sessions itself; the role enforces it for any other client too.
  EXECUTE format('ALTER ROLE %I SET default_transaction_read_only = on', r);
END
$$;

RESET pgvigil.password;
