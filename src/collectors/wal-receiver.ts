import { defineCollector, query } from './define.js';

// pg_stat_wal_receiver on a standby: is WAL arriving at all? Replay lag reads 0 when the receiver
// is broken (nothing received, nothing to replay), so the receiver's own state and the age of its
// last message are what reveal a stalled stream. The columns past pid need pg_read_all_stats (in
// pg_monitor). On a primary the query returns no row, and none of these families is exported;
// on a standby without a receiver the one row has an empty status (pg_stat_wal_receiver_up 0).

const RECEIVER_SQL = `
SELECT pg_is_in_recovery() AS in_recovery,
       coalesce(r.status, '') AS status,
       pg_wal_lsn_diff(r.latest_end_lsn, r.flushed_lsn)::float8 AS receive_lag_bytes,
       extract(epoch FROM r.last_msg_receipt_time)::float8 AS last_message_receipt,
       extract(epoch FROM r.latest_end_time)::float8 AS latest_end_time
FROM (SELECT 1) one LEFT JOIN pg_stat_wal_receiver r ON true
WHERE pg_is_in_recovery()`;

const RECEIVER = query({
  sql: [{ sql: RECEIVER_SQL }],
  columns: {
    in_recovery: 'bool',
    status: 'text',
    receive_lag_bytes: 'float?',
    last_message_receipt: 'float?',
    latest_end_time: 'float?',
  },
  noRowsNoFamilies: true,
  metrics: [
    {
      name: 'pg_stat_wal_receiver_up',
      type: 'gauge',
      help: 'Standby only: 1 when the WAL receiver is streaming, 0 when absent or in another state.',
      value: (r) => (r.status === 'streaming' ? 1 : 0),
    },
    {
      name: 'pg_stat_wal_receiver_status',
      type: 'gauge',
      help:
        'Standby only: status of the WAL receiver as a label ' +
        '(streaming, starting, waiting, stopping ...), value 1.',
      labels: ['status'],
      value: (r) => (r.status === '' ? null : 1),
    },
    {
      name: 'pg_stat_wal_receiver_receive_lag_bytes',
      type: 'gauge',
      unit: 'bytes',
      help: 'Standby only: bytes between the last end-of-WAL the sender reported and what this standby has flushed.',
      value: (r) => (r.receive_lag_bytes === null ? null : Math.max(0, r.receive_lag_bytes)),
    },
    {
      name: 'pg_stat_wal_receiver_last_message_receipt_timestamp_seconds',
      type: 'gauge',
      unit: 'seconds',
      help:
        'Standby only: Unix time of the last message received ' +
        'from the sender (stops advancing when the stream stalls).',
      value: 'last_message_receipt',
    },
    {
      name: 'pg_stat_wal_receiver_latest_end_timestamp_seconds',
      type: 'gauge',
      unit: 'seconds',
      help: 'Standby only: Unix time of the last end-of-WAL position reported by the sender.',
      value: 'latest_end_time',
    },
  ],
});

export const walReceiver = defineCollector({
  name: 'wal_receiver',
  description: 'pg_stat_wal_receiver on a standby: receiver up, status, receive lag, last message time',
  scope: 'cluster',
  defaultIntervalSeconds: 10,
  subsystems: ['pg_stat_wal_receiver'],
  namesReason: 'families are named after the view they read, pg_stat_wal_receiver',
  queries: [RECEIVER],
});
