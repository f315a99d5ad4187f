import { databaseSelected } from '../config.js';
import type { MetricSpec, RowOf } from './collector-spec.js';
import { defineCollector, query } from './define.js';
import type { QueryFn } from './types.js';

// pg_stat_database: per-database throughput, cache, temp spill, deadlock and session counters,
// plus the transaction-ID ages that warn of wraparound. The view is cluster-wide, so this runs
// once, not per database. The row with NULL datname (shared catalogs) is not a database.
// Columns a major lacks are selected as NULL so every variant returns the same row shape; their
// families are planned out on that major rather than exported empty.

const STATS_COLUMNS = {
  datname: 'text',
  xact_commit: 'float?',
  xact_rollback: 'float?',
  blks_read: 'float?',
  blks_hit: 'float?',
  tup_returned: 'float?',
  tup_fetched: 'float?',
  tup_inserted: 'float?',
  tup_updated: 'float?',
  tup_deleted: 'float?',
  conflicts: 'float?',
  temp_files: 'float?',
  temp_bytes: 'float?',
  deadlocks: 'float?',
  checksum_failures: 'float?',
  blk_read_time: 'float?',
  blk_write_time: 'float?',
  session_time: 'float?',
  active_time: 'float?',
  idle_in_transaction_time: 'float?',
  sessions: 'float?',
  sessions_abandoned: 'float?',
  sessions_fatal: 'float?',
  sessions_killed: 'float?',
  parallel_workers_to_launch: 'float?',
  parallel_workers_launched: 'float?',
  numbackends: 'float?',
  stats_reset: 'float?',
  xid_age: 'float?',
  mxid_age: 'float?',
} as const;

type Stat = MetricSpec<typeof STATS_COLUMNS>;
const counter = (value: Stat['value'] & string, name: string, help: string, server?: Stat['server']): Stat => ({
  name,
  type: 'counter',
  help,
  labels: ['datname'],
  value,
  ...(name.endsWith('_seconds_total') ? { unit: 'seconds' } : name.endsWith('_bytes_total') ? { unit: 'bytes' } : {}),
  ...(server !== undefined ? { server } : {}),
});
const FROM_14 = { from: 14 };
const FROM_18 = { from: 18 };

// In the view's column order. Times are milliseconds in the view, seconds here (SQL below).
const STATS_METRICS: readonly Stat[] = [
  counter('xact_commit', 'pg_stat_database_xact_commit_total', 'Transactions committed.'),
  counter('xact_rollback', 'pg_stat_database_xact_rollback_total', 'Transactions rolled back.'),
  counter(
    'blks_read',
    'pg_stat_database_blks_read_total',
    'Blocks read from outside shared buffers (OS cache or disk).',
  ),
  counter('blks_hit', 'pg_stat_database_blks_hit_total', 'Blocks found in shared buffers.'),
  counter(
    'tup_returned',
    'pg_stat_database_tup_returned_total',
    'Live rows fetched by sequential scans and index entries returned by index scans.',
  ),
  counter('tup_fetched', 'pg_stat_database_tup_fetched_total', 'Live rows fetched by index scans.'),
  counter('tup_inserted', 'pg_stat_database_tup_inserted_total', 'Rows inserted.'),
  counter('tup_updated', 'pg_stat_database_tup_updated_total', 'Rows updated.'),
  counter('tup_deleted', 'pg_stat_database_tup_deleted_total', 'Rows deleted.'),
  counter(
    'conflicts',
    'pg_stat_database_conflicts_total',
    'Queries canceled by recovery conflicts (standbys only; by type in pg_stat_database_conflicts_by_type_total).',
  ),
  counter(
    'temp_files',
    'pg_stat_database_temp_files_total',
    'Temporary files created by queries (sorts and hashes spilling past work_mem).',
  ),
  counter('temp_bytes', 'pg_stat_database_temp_bytes_total', 'Bytes written to temporary files by queries.'),
  counter('deadlocks', 'pg_stat_database_deadlocks_total', 'Deadlocks detected.'),
  counter(
    'checksum_failures',
    'pg_stat_database_checksum_failures_total',
    'Data page checksum failures (absent when data checksums are off).',
  ),
  counter(
    'blk_read_time',
    'pg_stat_database_blk_read_time_seconds_total',
    'Time spent reading data file blocks (0 unless track_io_timing is on).',
  ),
  counter(
    'blk_write_time',
    'pg_stat_database_blk_write_time_seconds_total',
    'Time spent writing data file blocks (0 unless track_io_timing is on).',
  ),
  counter(
    'session_time',
    'pg_stat_database_session_time_seconds_total',
    'Time spent by sessions (PostgreSQL 14+).',
    FROM_14,
  ),
  counter(
    'active_time',
    'pg_stat_database_active_time_seconds_total',
    'Time spent executing statements (PostgreSQL 14+).',
    FROM_14,
  ),
  counter(
    'idle_in_transaction_time',
    'pg_stat_database_idle_in_transaction_time_seconds_total',
    'Time spent idle in a transaction (PostgreSQL 14+).',
    FROM_14,
  ),
  counter('sessions', 'pg_stat_database_sessions_total', 'Sessions established (PostgreSQL 14+).', FROM_14),
  counter(
    'sessions_abandoned',
    'pg_stat_database_sessions_abandoned_total',
    'Sessions ended because the client disconnected without a Terminate message (PostgreSQL 14+).',
    FROM_14,
  ),
  counter(
    'sessions_fatal',
    'pg_stat_database_sessions_fatal_total',
    'Sessions ended by fatal errors (PostgreSQL 14+).',
    FROM_14,
  ),
  counter(
    'sessions_killed',
    'pg_stat_database_sessions_killed_total',
    'Sessions ended by operator intervention (PostgreSQL 14+).',
    FROM_14,
  ),
  counter(
    'parallel_workers_to_launch',
    'pg_stat_database_parallel_workers_to_launch_total',
    'Parallel workers planned to be launched by queries (PostgreSQL 18+).',
    FROM_18,
  ),
  counter(
    'parallel_workers_launched',
    'pg_stat_database_parallel_workers_launched_total',
    'Parallel workers launched by queries (PostgreSQL 18+).',
    FROM_18,
  ),
  {
    name: 'pg_stat_database_numbackends',
    type: 'gauge',
    help: 'Backends connected to the database (every backend type).',
    labels: ['datname'],
    value: 'numbackends',
  },
  {
    name: 'pg_stat_database_stats_reset_timestamp_seconds',
    type: 'gauge',
    unit: 'seconds',
    help: 'Unix time the statistics of the database were last reset (absent when never reset).',
    labels: ['datname'],
    value: 'stats_reset',
  },
  // Wraparound inputs: compare with pg_database_autovacuum_freeze_max_age and with 2^31.
  {
    name: 'pg_database_xid_age',
    type: 'gauge',
    help: 'Transaction IDs since the oldest unfrozen XID of the database, age(datfrozenxid).',
    labels: ['datname'],
    value: 'xid_age',
  },
  {
    name: 'pg_database_mxid_age',
    type: 'gauge',
    help: 'Multixact IDs since the oldest unfrozen multixact of the database, mxid_age(datminmxid).',
    labels: ['datname'],
    value: 'mxid_age',
  },
];

/** SQL for a column in base units where it is not the view's own column. */
const EXPRESSIONS: Readonly<Record<string, string>> = {
  blk_read_time: 's.blk_read_time / 1000.0',
  blk_write_time: 's.blk_write_time / 1000.0',
  session_time: 's.session_time / 1000.0',
  active_time: 's.active_time / 1000.0',
  idle_in_transaction_time: 's.idle_in_transaction_time / 1000.0',
  stats_reset: 'extract(epoch FROM s.stats_reset)',
  xid_age: 'age(d.datfrozenxid)',
  mxid_age: 'mxid_age(d.datminmxid)',
};

/** The stats query of one major: every column, NULL where the major lacks it (the metric's server range). */
function statsSql(major: number): string {
  const columns = STATS_METRICS.map((m) => {
    const column = m.value as string;
    const present = (m.server?.from ?? 0) <= major;
    return `       ${present ? (EXPRESSIONS[column] ?? `s.${column}`) : 'NULL'}::float8 AS ${column}`;
  });
  return `
SELECT s.datname,
${columns.join(',\n')}
FROM pg_stat_database s
JOIN pg_database d ON d.oid = s.datid
WHERE s.datname IS NOT NULL`;
}

/** Rows of databases the include/exclude patterns let through. */
const selected =
  <C extends { readonly datname: 'text' }>() =>
  async (
    { query, config }: { query: QueryFn; config: Parameters<typeof databaseSelected>[0] },
    sql: string | undefined,
  ) =>
    (await query<RowOf<C>>(sql!)).filter((r) => databaseSelected(config, r.datname as string));

const STATS = query({
  sql: [
    { server: { before: 14 }, sql: statsSql(13) },
    { server: { from: 14, before: 18 }, sql: statsSql(14) },
    { server: { from: 18 }, sql: statsSql(18) },
  ],
  columns: STATS_COLUMNS,
  run: selected<typeof STATS_COLUMNS>(),
  metrics: STATS_METRICS,
});

// Cluster-wide limits the ages above are measured against (per-table reloptions may be lower).
const FREEZE = query({
  sql: [
    {
      sql: `
SELECT current_setting('autovacuum_freeze_max_age')::float8 AS freeze_max_age,
       current_setting('autovacuum_multixact_freeze_max_age')::float8 AS multixact_freeze_max_age`,
    },
  ],
  columns: { freeze_max_age: 'float', multixact_freeze_max_age: 'float' },
  metrics: [
    {
      name: 'pg_database_autovacuum_freeze_max_age',
      type: 'gauge',
      help:
        'autovacuum_freeze_max_age: pg_database_xid_age above ' +
        'it forces anti-wraparound vacuums; 2^31 stops writes.',
      value: 'freeze_max_age',
    },
    {
      name: 'pg_database_autovacuum_multixact_freeze_max_age',
      type: 'gauge',
      help: 'autovacuum_multixact_freeze_max_age: pg_database_mxid_age above it forces anti-wraparound vacuums.',
      value: 'multixact_freeze_max_age',
    },
  ],
});

// Recovery conflicts by cause, one row per (database, type); active_logicalslot exists from 16 on.
const conflictsSql = (activeLogicalSlot: string) => `
SELECT c.datname, v.type, v.n::float8 AS conflicts
FROM pg_stat_database_conflicts c
CROSS JOIN LATERAL (VALUES ('tablespace', c.confl_tablespace), ('lock', c.confl_lock),
  ('snapshot', c.confl_snapshot), ('bufferpin', c.confl_bufferpin), ('deadlock', c.confl_deadlock)
  ${activeLogicalSlot}) AS v(type, n)
WHERE c.datname IS NOT NULL`;

const CONFLICTS_COLUMNS = { datname: 'text', type: 'text', conflicts: 'float?' } as const;

const CONFLICTS = query({
  sql: [
    { server: { before: 16 }, sql: conflictsSql('') },
    { server: { from: 16 }, sql: conflictsSql(", ('active_logicalslot', c.confl_active_logicalslot)") },
  ],
  columns: CONFLICTS_COLUMNS,
  run: selected<typeof CONFLICTS_COLUMNS>(),
  metrics: [
    {
      name: 'pg_stat_database_conflicts_by_type_total',
      type: 'counter',
      help: 'Queries canceled by recovery conflicts on a standby, by type (pg_stat_database_conflicts).',
      labels: ['datname', 'type'],
      value: 'conflicts',
    },
  ],
});

export const statDatabase = defineCollector({
  name: 'stat_database',
  description:
    'pg_stat_database: commits, rollbacks, blocks, tuples, temp files, deadlocks, sessions, conflicts; XID ages',
  scope: 'cluster',
  // Boards take irate() of these counters: polled more often than the usual 10-60 s scrape, every
  // scrape finds a fresh value (polled slower, irate reads 0, then several times the rate). One
  // cheap read of a cluster-wide view; docs/migrating-from-postgres-exporter.md has the measured cost.
  defaultIntervalSeconds: 5,
  subsystems: ['pg_stat_database', 'pg_database'],
  namesReason: 'wraparound ages and limits are properties of pg_database (datfrozenxid, datminmxid), named after it',
  queries: [STATS, FREEZE, CONFLICTS],
});
