import { gauge, type Family } from '../exposition.js';
import { one } from './single-sample.js';
import type { Collector, CollectorDefinition } from './types.js';

// The server's role and, on a standby, how far replay is behind. pg_is_in_recovery() is read on
// every poll (server facts are cached for minutes, too slow to follow a promotion), and the last
// answer is kept for the /primary and /replica routes.
//
// "Seconds since the last replayed transaction" grows on an idle primary although nothing is
// behind (FIELD-NOTES #11): pg_replication_lag_seconds is 0 while everything received has been
// replayed, and the raw timestamp is exported so alerts can combine it with bytes.

const RECOVERY_SQL = `
SELECT pg_is_in_recovery() AS in_recovery,
       pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::float8 AS replay_lag_bytes,
       extract(epoch FROM pg_last_xact_replay_timestamp())::float8 AS last_replay_timestamp,
       extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 AS last_replay_seconds,
       CASE WHEN NOT pg_is_in_recovery() OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
            ELSE greatest(0, extract(epoch FROM now() - pg_last_xact_replay_timestamp())) END::float8 AS lag_seconds`;

interface RecoveryRow {
  in_recovery: boolean;
  replay_lag_bytes: number | null;
  last_replay_timestamp: number | null;
  last_replay_seconds: number | null;
  lag_seconds: number | null;
}

export interface KnownRole {
  readonly inRecovery: boolean;
  /** Date.now() of the poll that saw it. */
  readonly at: number;
}

export interface RecoveryCollector extends Collector {
  /** The last recovery state seen, undefined before the first successful poll. */
  lastKnownRole(): KnownRole | undefined;
}

export const recovery: CollectorDefinition = {
  name: 'recovery',
  description: 'Server role (primary or standby) and standby replay lag in bytes, seconds and timestamps',
  scope: 'cluster',
  defaultIntervalSeconds: 5,
  create(): RecoveryCollector {
    let known: KnownRole | undefined;
    return {
      families: [
        'pg_replication_is_replica',
        'pg_replication_lag_seconds',
        'pg_replication_replay_lag_bytes',
        'pg_replication_last_replay_seconds',
        'pg_replication_last_replay_timestamp_seconds',
      ],
      lastKnownRole: () => known,
      async collect({ query }): Promise<Family[]> {
        const [row] = await query<RecoveryRow>(RECOVERY_SQL);
        if (row === undefined) throw new Error('pg_is_in_recovery() returned no row');
        known = { inRecovery: row.in_recovery, at: Date.now() };
        const standby = row.in_recovery;
        return [
          gauge('pg_replication_is_replica', '1 when the server is a standby (in recovery), 0 on a primary.', one(standby ? 1 : 0)),
          gauge(
            'pg_replication_lag_seconds',
            'Standby only: seconds since the last replayed transaction while received WAL is still unreplayed; 0 when replay has caught up.',
            standby ? one(row.lag_seconds) : [],
          ),
          gauge(
            'pg_replication_replay_lag_bytes',
            'Standby only: WAL bytes received but not yet replayed.',
            standby ? one(row.replay_lag_bytes === null ? null : Math.max(0, row.replay_lag_bytes)) : [],
          ),
          gauge(
            'pg_replication_last_replay_seconds',
            'Standby only: seconds since the last replayed transaction committed on the primary (grows on an idle primary).',
            standby ? one(row.last_replay_seconds) : [],
          ),
          gauge(
            'pg_replication_last_replay_timestamp_seconds',
            'Standby only: commit time (Unix) of the last replayed transaction (pg_last_xact_replay_timestamp).',
            standby ? one(row.last_replay_timestamp) : [],
          ),
        ];
      },
    };
  },
};
