import { gauge, type Family } from '../exposition.js';
import type { CollectorDefinition } from './types.js';

// pg_locks: how many locks of each mode are held or awaited per database, and who is at the root
// of blocking chains. pg_stat_activity_blocked_sessions and _longest_lock_wait_seconds (activity
// collector) count waiters per database; here waiters are attributed to the session that blocks
// them at the top of the chain, so an alert can say "an idle-in-transaction session of app X
// blocks 12 sessions". Locks of transaction and virtual-xid type have no database: they count
// under the database of the session holding them.

const MODES_SQL = `
SELECT coalesce(d.datname, a.datname, '')::text AS datname,
       l.mode,
       l.granted::text AS granted,
       count(*)::float8 AS locks
FROM pg_locks l
LEFT JOIN pg_database d ON d.oid = l.database
LEFT JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.pid IS DISTINCT FROM pg_backend_pid()
GROUP BY 1, 2, 3`;

interface ModeRow {
  datname: string;
  mode: string;
  granted: string;
  locks: number;
}

// pg_blocking_pids() is only asked about sessions that wait for a lock (it takes the lock
// manager's partition locks). The walk follows waiter → blocker edges up to the roots (blockers
// that wait for nothing); a deadlock cycle not yet broken by the detector has no root and is skipped.
// The wait starts at pg_locks.waitstart from 14, at the waiting query's start before.
const chainsSql = (waitStart: string) => `
WITH RECURSIVE waiting AS (
  SELECT a.pid, pg_blocking_pids(a.pid) AS blockers,
         coalesce(extract(epoch FROM now() - (SELECT min(${waitStart}) FROM pg_locks l WHERE l.pid = a.pid AND NOT l.granted)), 0)
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

interface ChainRow {
  datname: string;
  state: string;
  application_name: string;
  blocking_sessions: number;
  waiting_sessions: number;
  longest_wait_seconds: number;
  chain_depth: number;
}

// Before 14: min(a.query_start) alone would reference only the outer query, which makes it an
// aggregate of the outer query (a GROUP BY error); naming l keeps it in the pg_locks subquery.
const QUERY_START_OF_WAITER = 'CASE WHEN l.pid IS NOT NULL THEN a.query_start END';

export const locks: CollectorDefinition = {
  name: 'locks',
  description: 'pg_locks: locks by database, mode and granted; blocking chains by the root blocker’s state and application',
  scope: 'cluster',
  defaultIntervalSeconds: 15,
  create() {
    return {
      families: [
        'pg_locks',
        'pg_locks_blocking_sessions',
        'pg_locks_waiting_sessions',
        'pg_locks_longest_wait_seconds',
        'pg_locks_blocking_chain_depth',
      ],
      async collect({ query, facts }): Promise<Family[]> {
        const modes = await query<ModeRow>(MODES_SQL);
        const chains = await query<ChainRow>(chainsSql(facts.major >= 14 ? 'l.waitstart' : QUERY_START_OF_WAITER));
        const byRoot = (pick: (r: ChainRow) => number) =>
          chains.map((r) => ({ labels: { datname: r.datname, state: r.state, application_name: r.application_name }, value: pick(r) }));
        return [
          gauge(
            'pg_locks',
            'Locks in pg_locks by database, mode and granted (false: awaited). pgvigil’s own locks are left out.',
            modes.map(({ locks: value, ...labels }) => ({ labels, value })),
          ),
          gauge(
            'pg_locks_blocking_sessions',
            'Sessions at the root of a blocking chain (blocking others, waiting for nothing), by their database, state and application_name.',
            byRoot((r) => r.blocking_sessions),
          ),
          gauge(
            'pg_locks_waiting_sessions',
            'Sessions waiting, directly or through a chain, on root blockers with this database, state and application_name.',
            byRoot((r) => r.waiting_sessions),
          ),
          gauge(
            'pg_locks_longest_wait_seconds',
            'Longest current lock wait among the sessions behind root blockers with these labels.',
            byRoot((r) => r.longest_wait_seconds),
          ),
          gauge(
            'pg_locks_blocking_chain_depth',
            'Longest chain of waits below root blockers with these labels (1: waiters wait on the root directly).',
            byRoot((r) => r.chain_depth),
          ),
        ];
      },
    };
  },
};
