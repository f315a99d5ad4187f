import { defineCollector, query } from './define.js';

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

const SLOT = ['slot_name', 'slot_type', 'datname'] as const;

const SLOTS = query({
  sql: [{ sql: SLOTS_SQL }],
  columns: {
    slot_name: 'text',
    slot_type: 'text',
    datname: 'text',
    active: 'bool',
    retained_bytes: 'float?',
    wal_status: 'text',
    safe_wal_size: 'float?',
  },
  metrics: [
    {
      name: 'pg_replication_slot_active',
      type: 'gauge',
      help: '1 when a consumer is connected to the slot.',
      labels: SLOT,
      value: (r) => (r.active ? 1 : 0),
    },
    {
      name: 'pg_replication_slot_retained_wal_bytes',
      type: 'gauge',
      unit: 'bytes',
      help: 'WAL bytes the slot keeps from being removed (restart_lsn up to the current position).',
      labels: SLOT,
      value: (r) => (r.retained_bytes === null ? null : Math.max(0, r.retained_bytes)),
    },
    {
      name: 'pg_replication_slot_wal_status',
      type: 'gauge',
      help: 'wal_status of the slot as a label (reserved, extended, unreserved, lost), value 1.',
      labels: [...SLOT, 'wal_status'],
      value: (r) => (r.wal_status === '' ? null : 1),
    },
    {
      name: 'pg_replication_slot_safe_wal_size_bytes',
      type: 'gauge',
      unit: 'bytes',
      help: 'Bytes that can still be written before the slot loses WAL (only with max_slot_wal_keep_size set).',
      labels: SLOT,
      value: 'safe_wal_size',
    },
  ],
});

export const replicationSlots = defineCollector({
  name: 'replication_slots',
  description: 'pg_replication_slots: activity, WAL retained, wal_status, safe_wal_size',
  scope: 'cluster',
  defaultIntervalSeconds: 15,
  subsystems: ['pg_replication_slot'],
  namesReason: "one slot per series, so the families say slot (singular), as postgres_exporter's do",
  queries: [SLOTS],
});
