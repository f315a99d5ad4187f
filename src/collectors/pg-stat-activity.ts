import { gauge, type Family } from '../exposition.js';
import type { CollectorDefinition } from './types.js';

// pg_stat_activity: who is connected, in which state, how close to max_connections, and the
// sessions that hurt (old transactions, long queries, idle in transaction, lock waits).
// Only client backends count: walsenders, autovacuum and parallel workers have their own limits.

const CONNECTIONS_SQL = `
SELECT coalesce(datname, '') AS datname,
       coalesce(usename, '') AS usename,
       coalesce(application_name, '') AS application_name,
       coalesce(state, 'unknown') AS state,
       coalesce(wait_event_type, '') AS wait_event_type,
       count(*)::float8 AS connections
FROM pg_stat_activity
WHERE backend_type = 'client backend'
GROUP BY 1, 2, 3, 4, 5`;

interface ConnectionsRow {
  datname: string;
  usename: string;
  application_name: string;
  state: string;
  wait_event_type: string;
  connections: number;
}

// reserved_connections exists from 16 on; current_setting(..., true) returns NULL before.
const LIMITS_SQL = `
SELECT current_setting('max_connections')::float8 AS max_connections,
       (current_setting('superuser_reserved_connections')::int
        + coalesce(current_setting('reserved_connections', true)::int, 0))::float8 AS reserved_connections,
       (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::float8 AS client_connections`;

interface LimitsRow {
  max_connections: number;
  reserved_connections: number;
  client_connections: number;
}

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
       coalesce(extract(epoch FROM max(now() - query_start) FILTER (WHERE state = 'active')), 0)::float8 AS oldest_query_seconds,
       coalesce(extract(epoch FROM max(now() - state_change)
                FILTER (WHERE state IN ('idle in transaction', 'idle in transaction (aborted)'))), 0)::float8
         AS oldest_idle_in_transaction_seconds,
       count(*) FILTER (WHERE blocked)::float8 AS blocked_sessions,
       coalesce(extract(epoch FROM max(now() - lock_wait_start)), 0)::float8 AS longest_lock_wait_seconds
FROM sessions
GROUP BY datname`;

interface AgesRow {
  datname: string;
  oldest_transaction_seconds: number;
  oldest_query_seconds: number;
  oldest_idle_in_transaction_seconds: number;
  blocked_sessions: number;
  longest_lock_wait_seconds: number;
}

// Before 14: min(a.query_start) alone would reference only the outer query, which makes it an
// aggregate of the outer query (a GROUP BY error); naming l keeps it in the pg_locks subquery.
const QUERY_START_OF_WAITER = 'CASE WHEN l.pid IS NOT NULL THEN a.query_start END';

export const pgStatActivity: CollectorDefinition = {
  name: 'activity',
  description: 'pg_stat_activity: connections by state, limits, oldest transactions, lock waits',
  scope: 'cluster',
  defaultIntervalSeconds: 10,
  create() {
    return {
      async collect({ query, facts }): Promise<Family[]> {
        const [connections, limitsRows, ages] = [
          await query<ConnectionsRow>(CONNECTIONS_SQL),
          await query<LimitsRow>(LIMITS_SQL),
          await query<AgesRow>(agesSql(facts.major >= 14 ? 'l.waitstart' : QUERY_START_OF_WAITER)),
        ];
        const limits = limitsRows[0];
        const usable = limits === undefined ? 0 : limits.max_connections - limits.reserved_connections;
        const byDb = (pick: (r: AgesRow) => number) => ages.map((r) => ({ labels: { datname: r.datname }, value: pick(r) }));
        return [
          gauge(
            'pg_stat_activity_connections',
            'Client connections by database, user, application, state and wait event type.',
            connections.map(({ connections: value, ...labels }) => ({ labels, value })),
          ),
          gauge('pg_connections_max', 'max_connections of the server.', limits ? [{ labels: {}, value: limits.max_connections }] : []),
          gauge(
            'pg_connections_reserved',
            'Connection slots reserved for superusers (superuser_reserved_connections + reserved_connections).',
            limits ? [{ labels: {}, value: limits.reserved_connections }] : [],
          ),
          gauge(
            'pg_connections_utilization_ratio',
            'Client connections divided by the slots open to ordinary roles (max_connections minus reserved).',
            limits && usable > 0 ? [{ labels: {}, value: limits.client_connections / usable }] : [],
          ),
          gauge(
            'pg_stat_activity_oldest_transaction_seconds',
            'Age of the oldest open transaction per database (0 when none).',
            byDb((r) => r.oldest_transaction_seconds),
          ),
          gauge(
            'pg_stat_activity_oldest_query_seconds',
            'Run time of the longest running active query per database (0 when none).',
            byDb((r) => r.oldest_query_seconds),
          ),
          gauge(
            'pg_stat_activity_oldest_idle_in_transaction_seconds',
            'Time the longest idle-in-transaction session has been idle, per database (0 when none).',
            byDb((r) => r.oldest_idle_in_transaction_seconds),
          ),
          gauge(
            'pg_stat_activity_blocked_sessions',
            'Sessions waiting for a lock held by another session (pg_blocking_pids), per database.',
            byDb((r) => r.blocked_sessions),
          ),
          gauge(
            'pg_stat_activity_longest_lock_wait_seconds',
            'Longest current lock wait per database (pg_locks.waitstart; query start before PostgreSQL 14).',
            byDb((r) => r.longest_lock_wait_seconds),
          ),
        ];
      },
    };
  },
};
