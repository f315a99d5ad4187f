import { gauge, type Family } from '../exposition.js';
import type { CollectorDefinition } from './types.js';

// pg_stat_replication: the standbys (and pg_basebackup/pg_receivewal clients) streaming from this
// server, with how far each is behind. Bytes are measured from this server's current position
// (pg_current_wal_lsn on a primary, the replayed position on a cascading standby). The *_lag
// intervals are NULL once a standby has caught up and no WAL flows: that is 0 lag, not unknown,
// so an idle primary never shows stale lag (FIELD-NOTES #11).

const REPLICATION_SQL = `
WITH pos AS (
  SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END AS lsn
)
SELECT coalesce(r.application_name, '') AS application_name,
       coalesce(host(r.client_addr), '') AS client_addr,
       coalesce(s.slot_name::text, '') AS slot_name,
       coalesce(r.state, 'unknown') AS state,
       coalesce(r.sync_state, 'unknown') AS sync_state,
       pg_wal_lsn_diff(pos.lsn, r.sent_lsn)::float8 AS sent_bytes,
       pg_wal_lsn_diff(pos.lsn, r.write_lsn)::float8 AS write_bytes,
       pg_wal_lsn_diff(pos.lsn, r.flush_lsn)::float8 AS flush_bytes,
       pg_wal_lsn_diff(pos.lsn, r.replay_lsn)::float8 AS replay_bytes,
       coalesce(extract(epoch FROM r.write_lag), 0)::float8 AS write_seconds,
       coalesce(extract(epoch FROM r.flush_lag), 0)::float8 AS flush_seconds,
       coalesce(extract(epoch FROM r.replay_lag), 0)::float8 AS replay_seconds,
       extract(epoch FROM r.reply_time)::float8 AS reply_time
FROM pg_stat_replication r
CROSS JOIN pos
LEFT JOIN pg_replication_slots s ON s.active_pid = r.pid`;

interface ReplicationRow {
  application_name: string;
  client_addr: string;
  slot_name: string;
  state: string;
  sync_state: string;
  sent_bytes: number | null;
  write_bytes: number | null;
  flush_bytes: number | null;
  replay_bytes: number | null;
  write_seconds: number;
  flush_seconds: number;
  replay_seconds: number;
  reply_time: number | null;
}

const STAGES = ['sent', 'write', 'flush', 'replay'] as const;
const TIMED_STAGES = ['write', 'flush', 'replay'] as const;

export const replication: CollectorDefinition = {
  name: 'replication',
  description: 'pg_stat_replication: per standby lag in bytes and seconds, state and sync state',
  scope: 'cluster',
  defaultIntervalSeconds: 10,
  create() {
    return {
      families: ['pg_stat_replication_lag_bytes', 'pg_stat_replication_lag_seconds', 'pg_stat_replication_reply_timestamp_seconds'],
      async collect({ query }): Promise<Family[]> {
        const rows = await query<ReplicationRow>(REPLICATION_SQL);
        const id = (r: ReplicationRow) => ({
          application_name: r.application_name,
          client_addr: r.client_addr,
          slot_name: r.slot_name,
          state: r.state,
          sync_state: r.sync_state,
        });
        return [
          gauge(
            'pg_stat_replication_lag_bytes',
            'Bytes a standby is behind this server, by stage (sent, write, flush, replay).',
            rows.flatMap((r) =>
              STAGES.flatMap((stage) => {
                const value = r[`${stage}_bytes`];
                return value === null ? [] : [{ labels: { ...id(r), stage }, value: Math.max(0, value) }];
              }),
            ),
          ),
          gauge(
            'pg_stat_replication_lag_seconds',
            'write_lag, flush_lag and replay_lag of a standby (0 when caught up and no WAL flows).',
            rows.flatMap((r) => TIMED_STAGES.map((stage) => ({ labels: { ...id(r), stage }, value: r[`${stage}_seconds`] }))),
          ),
          gauge(
            'pg_stat_replication_reply_timestamp_seconds',
            'Unix time of the last reply from a standby: a stalled standby stops advancing it.',
            rows.flatMap((r) => (r.reply_time === null ? [] : [{ labels: id(r), value: r.reply_time }])),
          ),
        ];
      },
    };
  },
};
