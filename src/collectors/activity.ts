import { defineCollector, query } from './define.js';

// pg_stat_activity: who is connected, in which state, how close to max_connections, and the
// sessions that hurt (old transactions, long queries, idle in transaction, lock waits).
// Only client backends count: walsenders, autovacuum and parallel workers have their own limits.

// Every state pg_stat_activity.state can take gets a row per connectable database, 0 when no
// session is in it (with empty usename, application_name and wait_event_type), so "0 idle in
// transaction" and "no data" differ on a board. A zero row exists only while no real row has the
// same database and state, so sums by state never count a session twice.
const CONNECTIONS_SQL = `
WITH connections AS (
  SELECT coalesce(datname, '') AS datname,
         coalesce(usename, '') AS usename,
         coalesce(application_name, '') AS application_name,
         coalesce(state, 'unknown') AS state,
         coalesce(wait_event_type, '') AS wait_event_type,
         count(*)::float8 AS connections
  FROM pg_stat_activity
  WHERE backend_type = 'client backend'
  GROUP BY 1, 2, 3, 4, 5
)
SELECT * FROM connections
UNION ALL
SELECT d.datname::text, '', '', s.state, '', 0::float8
FROM pg_database d
CROSS JOIN (VALUES ('active'), ('idle'), ('idle in transaction'), ('idle in transaction (aborted)'),
                   ('fastpath function call'), ('disabled')) AS s(state)
WHERE d.datallowconn
  AND NOT EXISTS (SELECT 1 FROM connections c WHERE c.datname = d.datname AND c.state = s.state)`;

// reserved_connections exists from 16 on; current_setting(..., true) returns NULL before.
const LIMITS_SQL = `
SELECT current_setting('max_connections')::float8 AS max_connections,
       (current_setting('superuser_reserved_connections')::int
        + coalesce(current_setting('reserved_connections', true)::int, 0))::float8 AS reserved_connections,
       (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::float8 AS client_connections`;

// Ages exclude pgvigil's own backend (its query is always running). The lock wait comes from
// pg_locks.waitstart (14+); before 14 the start of the waiting query is the best bound we have.
const agesSql = (lockWaitStart: string) => `
WITH sessions AS (
  SELECT a.datname, a.state, a.xact_start, a.query_start, a.state_change,
         cardinality(pg_blocking_pids(a.pid)) > 0 AS blocked,
         (SELECT min(${lockWaitStart}) FROM pg_locks l WHERE l.pid = a.pid AND NOT l.granted) AS lock_wait_start
  FROM pg_stat_activity a
  WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid() AND a.datname IS NOT NULL
)
SELECT datname,
       coalesce(extract(epoch FROM max(now() - xact_start)), 0)::float8 AS oldest_transaction_seconds,
       coalesce(extract(epoch FROM max(now() - query_start) FILTER (WHERE state = 'active')), 0)::float8
         AS oldest_query_seconds,
       coalesce(extract(epoch FROM max(now() - state_change)
                FILTER (WHERE state IN ('idle in transaction', 'idle in transaction (aborted)'))), 0)::float8
         AS oldest_idle_in_transaction_seconds,
       count(*) FILTER (WHERE blocked)::float8 AS blocked_sessions,
       coalesce(extract(epoch FROM max(now() - lock_wait_start)), 0)::float8 AS longest_lock_wait_seconds
FROM sessions
GROUP BY datname`;

// Before 14: min(a.query_start) alone would reference only the outer query, which makes it an
// aggregate of the outer query (a GROUP BY error); naming l keeps it in the pg_locks subquery.
const QUERY_START_OF_WAITER = 'CASE WHEN l.pid IS NOT NULL THEN a.query_start END';

const CONNECTIONS = query({
  sql: [{ sql: CONNECTIONS_SQL }],
  columns: {
    datname: 'text',
    usename: 'text',
    application_name: 'text',
    state: 'text',
    wait_event_type: 'text',
    connections: 'float',
  },
  metrics: [
    {
      name: 'pg_stat_activity_connections',
      type: 'gauge',
      help:
        'Client connections by database, user, application, state and wait event type; 0 for a state of a ' +
        'database no session is in.',
      labels: ['datname', 'usename', 'application_name', 'state', 'wait_event_type'],
      value: 'connections',
    },
  ],
});

const LIMITS = query({
  sql: [{ sql: LIMITS_SQL }],
  columns: { max_connections: 'float', reserved_connections: 'float', client_connections: 'float' },
  metrics: [
    { name: 'pg_connections_max', type: 'gauge', help: 'max_connections of the server.', value: 'max_connections' },
    {
      name: 'pg_connections_reserved',
      type: 'gauge',
      help: 'Connection slots reserved for superusers (superuser_reserved_connections + reserved_connections).',
      value: 'reserved_connections',
    },
    {
      name: 'pg_connections_utilization_ratio',
      type: 'gauge',
      unit: 'ratio',
      help: 'Client connections divided by the slots open to ordinary roles (max_connections minus reserved).',
      value: (r) => {
        const usable = r.max_connections - r.reserved_connections;
        return usable > 0 ? r.client_connections / usable : null;
      },
    },
  ],
});

const AGES = query({
  sql: [
    { server: { from: 14 }, sql: agesSql('l.waitstart') },
    { server: { before: 14 }, sql: agesSql(QUERY_START_OF_WAITER) },
  ],
  columns: {
    datname: 'text',
    oldest_transaction_seconds: 'float',
    oldest_query_seconds: 'float',
    oldest_idle_in_transaction_seconds: 'float',
    blocked_sessions: 'float',
    longest_lock_wait_seconds: 'float',
  },
  metrics: [
    {
      name: 'pg_stat_activity_oldest_transaction_seconds',
      type: 'gauge',
      unit: 'seconds',
      help: 'Age of the oldest open transaction per database (0 when none).',
      labels: ['datname'],
      value: 'oldest_transaction_seconds',
    },
    {
      name: 'pg_stat_activity_oldest_query_seconds',
      type: 'gauge',
      unit: 'seconds',
      help: 'Run time of the longest running active query per database (0 when none).',
      labels: ['datname'],
      value: 'oldest_query_seconds',
    },
    {
      name: 'pg_stat_activity_oldest_idle_in_transaction_seconds',
      type: 'gauge',
      unit: 'seconds',
      help: 'Time the longest idle-in-transaction session has been idle, per database (0 when none).',
      labels: ['datname'],
      value: 'oldest_idle_in_transaction_seconds',
    },
    {
      name: 'pg_stat_activity_blocked_sessions',
      type: 'gauge',
      help: 'Sessions waiting for a lock held by another session (pg_blocking_pids), per database.',
      labels: ['datname'],
      value: 'blocked_sessions',
    },
    {
      name: 'pg_stat_activity_longest_lock_wait_seconds',
      type: 'gauge',
      unit: 'seconds',
      help: 'Longest current lock wait per database (pg_locks.waitstart; query start before PostgreSQL 14).',
      labels: ['datname'],
      value: 'longest_lock_wait_seconds',
    },
  ],
});

export const activity = defineCollector({
  name: 'activity',
  description: 'pg_stat_activity: connections by state, limits, oldest transactions, lock waits',
  scope: 'cluster',
  defaultIntervalSeconds: 10,
  subsystems: ['pg_stat_activity', 'pg_connections'],
  namesReason:
    'families are named after the view, pg_stat_activity (as in ' +
    'postgres_exporter); limits are server-wide, pg_connections',
  queries: [CONNECTIONS, LIMITS, AGES],
});
