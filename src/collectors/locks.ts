import { defineCollector, query } from './define.js';

// pg_locks: how many locks of each mode are held or awaited per database, and who is at the root
// of blocking chains. pg_stat_activity_blocked_sessions and _longest_lock_wait_seconds (activity
// collector) count waiters per database; here waiters are attributed to the session that blocks
// them at the top of the chain, so an alert can say "an idle-in-transaction session of app X
// blocks 12 sessions". Locks of transaction and virtual-xid type have no database: they count
// under the database of the session holding them.

// Every lock mode, held and awaited, gets a row per connectable database, 0 when no such lock
// exists, so "0 AccessExclusiveLock awaited" and "no data" differ on a board.
const MODES_SQL = `
WITH locks AS (
  SELECT coalesce(d.datname, a.datname, '')::text AS datname,
         l.mode,
         l.granted::text AS granted,
         count(*)::float8 AS locks
  FROM pg_locks l
  LEFT JOIN pg_database d ON d.oid = l.database
  LEFT JOIN pg_stat_activity a ON a.pid = l.pid
  WHERE l.pid IS DISTINCT FROM pg_backend_pid()
  GROUP BY 1, 2, 3
)
SELECT * FROM locks
UNION ALL
SELECT d.datname::text, m.mode, g.granted, 0::float8
FROM pg_database d
CROSS JOIN (VALUES ('AccessShareLock'), ('RowShareLock'), ('RowExclusiveLock'), ('ShareUpdateExclusiveLock'),
                   ('ShareLock'), ('ShareRowExclusiveLock'), ('ExclusiveLock'), ('AccessExclusiveLock'),
                   ('SIReadLock')) AS m(mode)
CROSS JOIN (VALUES ('true'), ('false')) AS g(granted)
WHERE d.datallowconn
  AND NOT EXISTS (SELECT 1 FROM locks l WHERE l.datname = d.datname AND l.mode = m.mode AND l.granted = g.granted)`;

// pg_blocking_pids() is only asked about sessions that wait for a lock (it takes the lock
// manager's partition locks). The walk follows waiter → blocker edges up to the roots (blockers
// that wait for nothing); a deadlock cycle not yet broken by the detector has no root and is skipped.
// The wait starts at pg_locks.waitstart from 14, at the waiting query's start before.
const chainsSql = (waitStart: string) => `
WITH RECURSIVE waiting AS (
  SELECT a.pid, pg_blocking_pids(a.pid) AS blockers,
         coalesce(extract(epoch FROM now() - (SELECT min(${waitStart}) FROM pg_locks l
                                               WHERE l.pid = a.pid AND NOT l.granted)), 0)
           AS wait_seconds
  FROM pg_stat_activity a
  WHERE a.wait_event_type = 'Lock' AND a.pid <> pg_backend_pid()
),
edges AS (
  SELECT w.pid AS waiter, b.blocker FROM waiting w CROSS JOIN LATERAL unnest(w.blockers) AS b(blocker)
),
up(waiter, blocker, depth, path) AS (
  SELECT waiter, blocker, 1, ARRAY[waiter, blocker] FROM edges
  UNION ALL
  SELECT up.waiter, e.blocker, up.depth + 1, up.path || e.blocker
  FROM up JOIN edges e ON e.waiter = up.blocker
  WHERE e.blocker <> ALL (up.path) AND up.depth < 50
),
roots AS (
  SELECT waiter, blocker, max(depth) AS depth FROM up
  WHERE NOT EXISTS (SELECT 1 FROM edges e WHERE e.waiter = up.blocker)
  GROUP BY waiter, blocker
)
SELECT coalesce(b.datname, '')::text AS datname,
       coalesce(b.state, 'unknown') AS state,
       coalesce(b.application_name, '') AS application_name,
       count(DISTINCT r.blocker)::float8 AS blocking_sessions,
       count(DISTINCT r.waiter)::float8 AS waiting_sessions,
       max(w.wait_seconds)::float8 AS longest_wait_seconds,
       max(r.depth)::float8 AS chain_depth
FROM roots r
JOIN waiting w ON w.pid = r.waiter
LEFT JOIN pg_stat_activity b ON b.pid = r.blocker
GROUP BY 1, 2, 3`;

// Before 14: min(a.query_start) alone would reference only the outer query, which makes it an
// aggregate of the outer query (a GROUP BY error); naming l keeps it in the pg_locks subquery.
const QUERY_START_OF_WAITER = 'CASE WHEN l.pid IS NOT NULL THEN a.query_start END';

const MODES = query({
  sql: [{ sql: MODES_SQL }],
  columns: { datname: 'text', mode: 'text', granted: 'text', locks: 'float' },
  metrics: [
    {
      name: 'pg_locks',
      type: 'gauge',
      help:
        'Locks in pg_locks by database, mode and granted (false: awaited), 0 for a mode no lock has. ' +
        'pgvigil’s own locks are left out.',
      labels: ['datname', 'mode', 'granted'],
      value: 'locks',
    },
  ],
});

const ROOT = ['datname', 'state', 'application_name'] as const;

const CHAINS = query({
  sql: [
    { server: { from: 14 }, sql: chainsSql('l.waitstart') },
    { server: { before: 14 }, sql: chainsSql(QUERY_START_OF_WAITER) },
  ],
  columns: {
    datname: 'text',
    state: 'text',
    application_name: 'text',
    blocking_sessions: 'float',
    waiting_sessions: 'float',
    longest_wait_seconds: 'float',
    chain_depth: 'float',
  },
  metrics: [
    {
      name: 'pg_locks_blocking_sessions',
      type: 'gauge',
      help:
        'Sessions at the root of a blocking chain (blocking others, waiting ' +
        'for nothing), by their database, state and application_name.',
      labels: ROOT,
      value: 'blocking_sessions',
    },
    {
      name: 'pg_locks_waiting_sessions',
      type: 'gauge',
      help:
        'Sessions waiting, directly or through a chain, on root ' +
        'blockers with this database, state and application_name.',
      labels: ROOT,
      value: 'waiting_sessions',
    },
    {
      name: 'pg_locks_longest_wait_seconds',
      type: 'gauge',
      unit: 'seconds',
      help: 'Longest current lock wait among the sessions behind root blockers with these labels.',
      labels: ROOT,
      value: 'longest_wait_seconds',
    },
    {
      name: 'pg_locks_blocking_chain_depth',
      type: 'gauge',
      help: 'Longest chain of waits below root blockers with these labels (1: waiters wait on the root directly).',
      labels: ROOT,
      value: 'chain_depth',
    },
  ],
});

export const locks = defineCollector({
  name: 'locks',
  description:
    'pg_locks: locks by database, mode and granted; blocking chains by the root blocker’s state and application',
  scope: 'cluster',
  defaultIntervalSeconds: 15,
  queries: [MODES, CHAINS],
});
