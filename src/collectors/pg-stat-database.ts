import { counter, gauge, type Family, type ValueSample } from '../exposition.js';
import type { Config } from '../config.js';
import type { CollectorDefinition } from './types.js';

// pg_stat_database: per-database throughput, cache, temp spill, deadlock and session counters,
// plus the transaction-ID ages that warn of wraparound. The view is cluster-wide, so this runs
// once, not per database. The row with NULL datname (shared catalogs) is not a database.
// Columns a major lacks are selected as NULL so every variant returns the same row shape, and
// their families are left out rather than exported empty.

interface Column {
  /** Column alias in the row (the view's column name). */
  readonly column: string;
  /** SQL expression in base units; default: the column itself. */
  readonly expr?: string;
  /** First major with the column. */
  readonly since?: number;
  readonly name: string;
  readonly help: string;
}

const ms = (column: string) => `s.${column} / 1000.0`;

// Counters, in the view's column order. Times are milliseconds in the view, seconds here.
const COUNTERS: readonly Column[] = [
  { column: 'xact_commit', name: 'pg_stat_database_xact_commit_total', help: 'Transactions committed.' },
  { column: 'xact_rollback', name: 'pg_stat_database_xact_rollback_total', help: 'Transactions rolled back.' },
  { column: 'blks_read', name: 'pg_stat_database_blks_read_total', help: 'Blocks read from outside shared buffers (OS cache or disk).' },
  { column: 'blks_hit', name: 'pg_stat_database_blks_hit_total', help: 'Blocks found in shared buffers.' },
  { column: 'tup_returned', name: 'pg_stat_database_tup_returned_total', help: 'Live rows fetched by sequential scans and index entries returned by index scans.' },
  { column: 'tup_fetched', name: 'pg_stat_database_tup_fetched_total', help: 'Live rows fetched by index scans.' },
  { column: 'tup_inserted', name: 'pg_stat_database_tup_inserted_total', help: 'Rows inserted.' },
  { column: 'tup_updated', name: 'pg_stat_database_tup_updated_total', help: 'Rows updated.' },
  { column: 'tup_deleted', name: 'pg_stat_database_tup_deleted_total', help: 'Rows deleted.' },
  { column: 'conflicts', name: 'pg_stat_database_conflicts_total', help: 'Queries canceled by recovery conflicts (standbys only; by type in pg_stat_database_conflicts_by_type_total).' },
  { column: 'temp_files', name: 'pg_stat_database_temp_files_total', help: 'Temporary files created by queries (sorts and hashes spilling past work_mem).' },
  { column: 'temp_bytes', name: 'pg_stat_database_temp_bytes_total', help: 'Bytes written to temporary files by queries.' },
  { column: 'deadlocks', name: 'pg_stat_database_deadlocks_total', help: 'Deadlocks detected.' },
  { column: 'checksum_failures', name: 'pg_stat_database_checksum_failures_total', help: 'Data page checksum failures (absent when data checksums are off).' },
  { column: 'blk_read_time', expr: ms('blk_read_time'), name: 'pg_stat_database_blk_read_time_seconds_total', help: 'Time spent reading data file blocks (0 unless track_io_timing is on).' },
  { column: 'blk_write_time', expr: ms('blk_write_time'), name: 'pg_stat_database_blk_write_time_seconds_total', help: 'Time spent writing data file blocks (0 unless track_io_timing is on).' },
  { column: 'session_time', expr: ms('session_time'), since: 14, name: 'pg_stat_database_session_time_seconds_total', help: 'Time spent by sessions (PostgreSQL 14+).' },
  { column: 'active_time', expr: ms('active_time'), since: 14, name: 'pg_stat_database_active_time_seconds_total', help: 'Time spent executing statements (PostgreSQL 14+).' },
  { column: 'idle_in_transaction_time', expr: ms('idle_in_transaction_time'), since: 14, name: 'pg_stat_database_idle_in_transaction_time_seconds_total', help: 'Time spent idle in a transaction (PostgreSQL 14+).' },
  { column: 'sessions', since: 14, name: 'pg_stat_database_sessions_total', help: 'Sessions established (PostgreSQL 14+).' },
  { column: 'sessions_abandoned', since: 14, name: 'pg_stat_database_sessions_abandoned_total', help: 'Sessions ended because the client disconnected without a Terminate message (PostgreSQL 14+).' },
  { column: 'sessions_fatal', since: 14, name: 'pg_stat_database_sessions_fatal_total', help: 'Sessions ended by fatal errors (PostgreSQL 14+).' },
  { column: 'sessions_killed', since: 14, name: 'pg_stat_database_sessions_killed_total', help: 'Sessions ended by operator intervention (PostgreSQL 14+).' },
  { column: 'parallel_workers_to_launch', since: 18, name: 'pg_stat_database_parallel_workers_to_launch_total', help: 'Parallel workers planned to be launched by queries (PostgreSQL 18+).' },
  { column: 'parallel_workers_launched', since: 18, name: 'pg_stat_database_parallel_workers_launched_total', help: 'Parallel workers launched by queries (PostgreSQL 18+).' },
];

const GAUGES: readonly Column[] = [
  { column: 'numbackends', name: 'pg_stat_database_numbackends', help: 'Backends connected to the database (every backend type).' },
  { column: 'stats_reset', expr: 'extract(epoch FROM s.stats_reset)', name: 'pg_stat_database_stats_reset_timestamp_seconds', help: 'Unix time the statistics of the database were last reset (absent when never reset).' },
  // Wraparound inputs: compare with pg_database_autovacuum_freeze_max_age and with 2^31.
  { column: 'xid_age', expr: 'age(d.datfrozenxid)', name: 'pg_database_xid_age', help: 'Transaction IDs since the oldest unfrozen XID of the database, age(datfrozenxid).' },
  { column: 'mxid_age', expr: 'mxid_age(d.datminmxid)', name: 'pg_database_mxid_age', help: 'Multixact IDs since the oldest unfrozen multixact of the database, mxid_age(datminmxid).' },
];

const applies = (c: Column, major: number) => (c.since ?? 0) <= major;

const statsSql = (major: number) => `
SELECT s.datname,
${[...COUNTERS, ...GAUGES].map((c) => `       ${applies(c, major) ? (c.expr ?? `s.${c.column}`) : 'NULL'}::float8 AS ${c.column}`).join(',\n')}
FROM pg_stat_database s
JOIN pg_database d ON d.oid = s.datid
WHERE s.datname IS NOT NULL`;

type StatsRow = { datname: string } & Record<string, number | null>;

// Cluster-wide limits the ages above are measured against (per-table reloptions may be lower).
const FREEZE_SQL = `
SELECT current_setting('autovacuum_freeze_max_age')::float8 AS freeze_max_age,
       current_setting('autovacuum_multixact_freeze_max_age')::float8 AS multixact_freeze_max_age`;

interface FreezeRow {
  freeze_max_age: number;
  multixact_freeze_max_age: number;
}

// Recovery conflicts by cause, one row per (database, type); active_logicalslot exists from 16 on.
const conflictsSql = (major: number) => `
SELECT c.datname, v.type, v.n::float8 AS conflicts
FROM pg_stat_database_conflicts c
CROSS JOIN LATERAL (VALUES ('tablespace', c.confl_tablespace), ('lock', c.confl_lock),
  ('snapshot', c.confl_snapshot), ('bufferpin', c.confl_bufferpin), ('deadlock', c.confl_deadlock)
  ${major >= 16 ? `, ('active_logicalslot', c.confl_active_logicalslot)` : ''}) AS v(type, n)
WHERE c.datname IS NOT NULL`;

interface ConflictRow {
  datname: string;
  type: string;
  conflicts: number;
}

/** Whether the include/exclude patterns of discovery let this database through. */
export function databaseSelected(config: Pick<Config, 'includeDatabases' | 'excludeDatabases'>, datname: string): boolean {
  const { includeDatabases: include, excludeDatabases: exclude } = config;
  return (include === undefined || include.test(datname)) && (exclude === undefined || !exclude.test(datname));
}

export const pgStatDatabase: CollectorDefinition = {
  name: 'stat_database',
  description: 'pg_stat_database: commits, rollbacks, blocks, tuples, temp files, deadlocks, sessions, conflicts; XID ages',
  scope: 'cluster',
  defaultIntervalSeconds: 15,
  create(config) {
    return {
      async collect({ query, facts }): Promise<Family[]> {
        const major = facts.major;
        const selected = <R extends { datname: string }>(rows: R[]) => rows.filter((r) => databaseSelected(config, r.datname));
        const rows = selected(await query<StatsRow>(statsSql(major)));
        const [freeze] = await query<FreezeRow>(FREEZE_SQL);
        const conflicts = selected(await query<ConflictRow>(conflictsSql(major)));
        // NULL means "not tracked" (checksums off, never reset): no sample rather than a false 0.
        const samples = (column: string): ValueSample[] =>
          rows.flatMap((r) => (r[column] === null || r[column] === undefined ? [] : [{ labels: { datname: r.datname }, value: r[column] }]));
        const one = (value: number | undefined) => (value === undefined ? [] : [{ labels: {}, value }]);
        return [
          ...COUNTERS.filter((c) => applies(c, major)).map((c) => counter(c.name, c.help, samples(c.column))),
          ...GAUGES.map((c) => gauge(c.name, c.help, samples(c.column))),
          gauge(
            'pg_database_autovacuum_freeze_max_age',
            'autovacuum_freeze_max_age: pg_database_xid_age above it forces anti-wraparound vacuums; 2^31 stops writes.',
            one(freeze?.freeze_max_age),
          ),
          gauge(
            'pg_database_autovacuum_multixact_freeze_max_age',
            'autovacuum_multixact_freeze_max_age: pg_database_mxid_age above it forces anti-wraparound vacuums.',
            one(freeze?.multixact_freeze_max_age),
          ),
          counter(
            'pg_stat_database_conflicts_by_type_total',
            'Queries canceled by recovery conflicts on a standby, by type (pg_stat_database_conflicts).',
            conflicts.flatMap((r) => (r.conflicts === null ? [] : [{ labels: { datname: r.datname, type: r.type }, value: r.conflicts }])),
          ),
        ];
      },
    };
  },
};
