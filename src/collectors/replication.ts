import { defineCollector, query } from './define.js';

// pg_stat_replication: the standbys (and pg_basebackup/pg_receivewal clients) streaming from this
// server, with how far each is behind. Bytes are measured from this server's current position
// (pg_current_wal_lsn on a primary, the replayed position on a cascading standby). The *_lag
// intervals are NULL once a standby has caught up and no WAL flows: that is 0 lag, not unknown,
// so an idle primary never shows stale lag (the last measured lag would otherwise stay forever).

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

const STANDBY = ['application_name', 'client_addr', 'slot_name', 'state', 'sync_state'] as const;
/** Bytes behind never go below 0 (a standby can report a position ahead of the one read here). */
const behind = (bytes: number | null) => (bytes === null ? null : Math.max(0, bytes));

const REPLICATION = query({
  sql: [{ sql: REPLICATION_SQL }],
  columns: {
    application_name: 'text',
    client_addr: 'text',
    slot_name: 'text',
    state: 'text',
    sync_state: 'text',
    sent_bytes: 'float?',
    write_bytes: 'float?',
    flush_bytes: 'float?',
    replay_bytes: 'float?',
    write_seconds: 'float',
    flush_seconds: 'float',
    replay_seconds: 'float',
    reply_time: 'float?',
  },
  metrics: [
    {
      name: 'pg_stat_replication_lag_bytes',
      type: 'gauge',
      unit: 'bytes',
      help: 'Bytes a standby is behind this server, by stage (sent, write, flush, replay).',
      labels: STANDBY,
      value: {
        label: 'stage',
        values: {
          sent: (r) => behind(r.sent_bytes),
          write: (r) => behind(r.write_bytes),
          flush: (r) => behind(r.flush_bytes),
          replay: (r) => behind(r.replay_bytes),
        },
      },
    },
    {
      name: 'pg_stat_replication_lag_seconds',
      type: 'gauge',
      unit: 'seconds',
      help: 'write_lag, flush_lag and replay_lag of a standby (0 when caught up and no WAL flows).',
      labels: STANDBY,
      value: { label: 'stage', values: { write: 'write_seconds', flush: 'flush_seconds', replay: 'replay_seconds' } },
    },
    {
      name: 'pg_stat_replication_reply_timestamp_seconds',
      type: 'gauge',
      unit: 'seconds',
      help: 'Unix time of the last reply from a standby: a stalled standby stops advancing it.',
      labels: STANDBY,
      value: 'reply_time',
    },
  ],
});

export const replication = defineCollector({
  name: 'replication',
  description: 'pg_stat_replication: per standby lag in bytes and seconds, state and sync state',
  scope: 'cluster',
  defaultIntervalSeconds: 10,
  subsystems: ['pg_stat_replication'],
  namesReason: 'families are named after the view, pg_stat_replication, as in postgres_exporter',
  queries: [REPLICATION],
});
