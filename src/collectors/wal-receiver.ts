import { gauge, type Family } from '../exposition.js';
import { one } from './single-sample.js';
import type { CollectorDefinition } from './types.js';

// pg_stat_wal_receiver on a standby: is WAL arriving at all? Replay lag reads 0 when the receiver
// is broken (nothing received, nothing to replay — FIELD-NOTES #11), so the receiver's own state
// and the age of its last message are what reveal a stalled stream. The columns past pid need
// pg_read_all_stats (in pg_monitor). A primary has no rows: no series but the up gauge (standby only).

const RECEIVER_SQL = `
SELECT pg_is_in_recovery() AS in_recovery,
       r.status,
       pg_wal_lsn_diff(r.latest_end_lsn, r.flushed_lsn)::float8 AS receive_lag_bytes,
       extract(epoch FROM r.last_msg_receipt_time)::float8 AS last_message_receipt,
       extract(epoch FROM r.latest_end_time)::float8 AS latest_end_time
FROM (SELECT 1) one LEFT JOIN pg_stat_wal_receiver r ON true`;

interface ReceiverRow {
  in_recovery: boolean;
  status: string | null;
  receive_lag_bytes: number | null;
  last_message_receipt: number | null;
  latest_end_time: number | null;
}

export const walReceiver: CollectorDefinition = {
  name: 'wal_receiver',
  description: 'pg_stat_wal_receiver on a standby: receiver up, status, receive lag, last message time',
  scope: 'cluster',
  defaultIntervalSeconds: 10,
  create() {
    return {
      families: [
        'pg_stat_wal_receiver_up',
        'pg_stat_wal_receiver_status',
        'pg_stat_wal_receiver_receive_lag_bytes',
        'pg_stat_wal_receiver_last_message_receipt_timestamp_seconds',
        'pg_stat_wal_receiver_latest_end_timestamp_seconds',
      ],
      async collect({ query }): Promise<Family[]> {
        const [row] = await query<ReceiverRow>(RECEIVER_SQL);
        if (row === undefined || !row.in_recovery) return [];
        return [
          gauge('pg_stat_wal_receiver_up', 'Standby only: 1 when the WAL receiver is streaming, 0 when absent or in another state.', one(row.status === 'streaming' ? 1 : 0)),
          gauge(
            'pg_stat_wal_receiver_status',
            'Standby only: status of the WAL receiver as a label (streaming, starting, waiting, stopping ...), value 1.',
            row.status === null ? [] : [{ labels: { status: row.status }, value: 1 }],
          ),
          gauge(
            'pg_stat_wal_receiver_receive_lag_bytes',
            'Standby only: bytes between the last end-of-WAL the sender reported and what this standby has flushed.',
            one(row.receive_lag_bytes === null ? null : Math.max(0, row.receive_lag_bytes)),
          ),
          gauge(
            'pg_stat_wal_receiver_last_message_receipt_timestamp_seconds',
            'Standby only: Unix time of the last message received from the sender (stops advancing when the stream stalls).',
            one(row.last_message_receipt),
          ),
          gauge(
            'pg_stat_wal_receiver_latest_end_timestamp_seconds',
            'Standby only: Unix time of the last end-of-WAL position reported by the sender.',
            one(row.latest_end_time),
          ),
        ];
      },
    };
  },
};
