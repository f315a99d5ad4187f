import { gauge, type Family } from '../exposition.js';
import type { CollectorDefinition } from './types.js';

// pg_replication_slots: an inactive slot keeps WAL forever (until max_slot_wal_keep_size, if set),
// the classic way a primary fills its disk. Retained bytes run from the slot's restart_lsn to
// this server's position (the insert position on a primary, like pg_wal_written_bytes_total: the
// write position trails it under asynchronous commit). wal_status and safe_wal_size exist from 13 on.

const SLOTS_SQL = `
WITH pos AS (
  SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_insert_lsn() END AS lsn
)
SELECT s.slot_name::text AS slot_name,
       s.slot_type,
       coalesce(s.database::text, '') AS datname,
       s.active,
       pg_wal_lsn_diff(pos.lsn, s.restart_lsn)::float8 AS retained_bytes,
       coalesce(s.wal_status, '') AS wal_status,
       s.safe_wal_size::float8 AS safe_wal_size
FROM pg_replication_slots s CROSS JOIN pos`;

interface SlotRow {
  slot_name: string;
  slot_type: string;
  datname: string;
  active: boolean;
  retained_bytes: number | null;
  wal_status: string;
  safe_wal_size: number | null;
}

export const replicationSlots: CollectorDefinition = {
  name: 'replication_slots',
  description: 'pg_replication_slots: activity, WAL retained, wal_status, safe_wal_size',
  scope: 'cluster',
  defaultIntervalSeconds: 15,
  create() {
    return {
      families: [
        'pg_replication_slot_active',
        'pg_replication_slot_retained_wal_bytes',
        'pg_replication_slot_wal_status',
        'pg_replication_slot_safe_wal_size_bytes',
      ],
      async collect({ query }): Promise<Family[]> {
        const rows = await query<SlotRow>(SLOTS_SQL);
        const id = (r: SlotRow) => ({ slot_name: r.slot_name, slot_type: r.slot_type, datname: r.datname });
        return [
          gauge('pg_replication_slot_active', '1 when a consumer is connected to the slot.', rows.map((r) => ({ labels: id(r), value: r.active ? 1 : 0 }))),
          gauge(
            'pg_replication_slot_retained_wal_bytes',
            'WAL bytes the slot keeps from being removed (restart_lsn up to the current position).',
            rows.flatMap((r) => (r.retained_bytes === null ? [] : [{ labels: id(r), value: Math.max(0, r.retained_bytes) }])),
          ),
          gauge(
            'pg_replication_slot_wal_status',
            'wal_status of the slot as a label (reserved, extended, unreserved, lost), value 1.',
            rows.flatMap((r) => (r.wal_status === '' ? [] : [{ labels: { ...id(r), wal_status: r.wal_status }, value: 1 }])),
          ),
          gauge(
            'pg_replication_slot_safe_wal_size_bytes',
            'Bytes that can still be written before the slot loses WAL (only with max_slot_wal_keep_size set).',
            rows.flatMap((r) => (r.safe_wal_size === null ? [] : [{ labels: id(r), value: r.safe_wal_size }])),
          ),
        ];
      },
    };
  },
};
