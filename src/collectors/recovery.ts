import type { RowOf } from './collector-spec.js';
import { defineCollector, query } from './define.js';
import type { Collector, QueryFn } from './types.js';

// The server's role and, on a standby, how far replay is behind. pg_is_in_recovery() is read on
// every poll (server facts are cached for minutes, too slow to follow a promotion), and the last
// answer is kept for the /primary and /replica routes.
//
// "Seconds since the last replayed transaction" grows while the primary is idle although nothing
// is behind (no new commits, so nothing new to replay): pg_replication_lag_seconds is 0 while
// everything received has been replayed, and the raw timestamp is exported so alerts can combine
// it with bytes.

const RECOVERY_SQL = `
SELECT pg_is_in_recovery() AS in_recovery,
       pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::float8 AS replay_lag_bytes,
       extract(epoch FROM pg_last_xact_replay_timestamp())::float8 AS last_replay_timestamp,
       extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 AS last_replay_seconds,
       CASE WHEN NOT pg_is_in_recovery() OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
            ELSE greatest(0, extract(epoch FROM now() - pg_last_xact_replay_timestamp())) END::float8 AS lag_seconds`;

export interface KnownRole {
  readonly inRecovery: boolean;
  /** Date.now() of the poll that saw it. */
  readonly at: number;
}

export interface RecoveryCollector extends Collector {
  /** The last recovery state seen, undefined before the first successful poll. */
  lastKnownRole(): KnownRole | undefined;
}

interface RecoveryState {
  known: KnownRole | undefined;
}

/** Standby-only values: no sample on a primary. */
const onStandby = (inRecovery: boolean, value: number | null) => (inRecovery ? value : null);

const RECOVERY_COLUMNS = {
  in_recovery: 'bool',
  replay_lag_bytes: 'float?',
  last_replay_timestamp: 'float?',
  last_replay_seconds: 'float?',
  lag_seconds: 'float?',
} as const;

const RECOVERY = query({
  sql: [{ sql: RECOVERY_SQL }],
  columns: RECOVERY_COLUMNS,
  run: async ({ query, state }: { query: QueryFn; state: RecoveryState }, sql) => {
    const rows = await query<RowOf<typeof RECOVERY_COLUMNS>>(sql!);
    const row = rows[0];
    if (row === undefined) throw new Error('pg_is_in_recovery() returned no row');
    state.known = { inRecovery: row.in_recovery, at: Date.now() };
    return rows;
  },
  metrics: [
    {
      name: 'pg_replication_is_replica',
      type: 'gauge',
      help: '1 when the server is a standby (in recovery), 0 on a primary.',
      value: (r) => (r.in_recovery ? 1 : 0),
    },
    {
      name: 'pg_replication_lag_seconds',
      type: 'gauge',
      unit: 'seconds',
      help:
        'Standby only: seconds since the last replayed transaction while ' +
        'received WAL is still unreplayed; 0 when replay has caught up.',
      value: (r) => onStandby(r.in_recovery, r.lag_seconds),
    },
    {
      name: 'pg_replication_replay_lag_bytes',
      type: 'gauge',
      unit: 'bytes',
      help: 'Standby only: WAL bytes received but not yet replayed.',
      value: (r) => onStandby(r.in_recovery, r.replay_lag_bytes === null ? null : Math.max(0, r.replay_lag_bytes)),
    },
    {
      name: 'pg_replication_last_replay_seconds',
      type: 'gauge',
      unit: 'seconds',
      help:
        'Standby only: seconds since the last replayed transaction ' +
        'committed on the primary (grows on an idle primary).',
      value: (r) => onStandby(r.in_recovery, r.last_replay_seconds),
    },
    {
      name: 'pg_replication_last_replay_timestamp_seconds',
      type: 'gauge',
      unit: 'seconds',
      help: 'Standby only: commit time (Unix) of the last replayed transaction (pg_last_xact_replay_timestamp).',
      value: (r) => onStandby(r.in_recovery, r.last_replay_timestamp),
    },
  ],
});

export const recovery = defineCollector<Record<string, never>, RecoveryState>({
  name: 'recovery',
  description: 'Server role (primary or standby) and standby replay lag in bytes, seconds and timestamps',
  scope: 'cluster',
  defaultIntervalSeconds: 5,
  subsystems: ['pg_replication'],
  namesReason:
    "pg_replication_lag_seconds and pg_replication_is_replica are postgres_exporter's names, kept for existing PromQL",
  state: () => ({ known: undefined }),
  expose: (state): Pick<RecoveryCollector, 'lastKnownRole'> => ({ lastKnownRole: () => state.known }),
  queries: [RECOVERY],
});
