import { defineCollector, query } from './define.js';

// WAL on disk and WAL produced. The size comes from pg_ls_waldir() when the role may run it
// (pg_monitor can); without it (managed services often revoke it, bare roles never had it) it is
// estimated from LSN arithmetic, never a permission error every poll. Which of the two is
// planned from the server facts (has_function_privilege on pg_ls_waldir()). The written counter is the current
// position (insert LSN on a primary, received/replayed LSN on a standby) measured from 0/0: it
// only ever grows, so rate() of it is the WAL rate. The insert position, not pg_current_wal_lsn()
// (the write position): with asynchronous commit the write position trails by up to a WAL buffer.

// The position this server has reached; a standby in archive recovery has no receive LSN.
const POSITION = `CASE WHEN pg_is_in_recovery()
  THEN greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())
  ELSE pg_current_wal_insert_lsn() END`;

const SEGMENT = `(SELECT setting::float8 FROM pg_settings WHERE name = 'wal_segment_size')`;

const LISTED_SQL = `
SELECT coalesce(sum(size), 0)::float8 AS size_bytes,
       count(*) FILTER (WHERE name ~ '^[0-9A-F]{24}$')::float8 AS segments,
       ${SEGMENT} AS segment_bytes,
       pg_wal_lsn_diff(${POSITION}, '0/0')::float8 AS written_bytes,
       0::float8 AS estimated
FROM pg_ls_waldir()`;

// Lower bound of what pg_wal must hold: from the oldest of the last checkpoint's redo point and
// every slot's restart_lsn up to the current position, or wal_keep_size if larger, rounded up to
// whole segments. Recycled segments kept for reuse are not counted.
const ESTIMATED_SQL = `
WITH p AS (
  SELECT ${POSITION} AS pos, ${SEGMENT} AS seg,
         (SELECT setting::float8 * 1024 * 1024 FROM pg_settings WHERE name = 'wal_keep_size') AS keep,
         least((SELECT redo_lsn FROM pg_control_checkpoint()),
               (SELECT min(restart_lsn) FROM pg_replication_slots)) AS oldest
)
SELECT (ceil(greatest(pg_wal_lsn_diff(pos, oldest), keep) / seg) + 1) * seg AS size_bytes,
       ceil(greatest(pg_wal_lsn_diff(pos, oldest), keep) / seg) + 1 AS segments,
       seg AS segment_bytes,
       pg_wal_lsn_diff(pos, '0/0')::float8 AS written_bytes,
       1::float8 AS estimated
FROM p`;

const WAL = query({
  sql: [
    { privilege: { pg_ls_waldir: true }, sql: LISTED_SQL },
    { privilege: { pg_ls_waldir: false }, sql: ESTIMATED_SQL },
  ],
  columns: {
    size_bytes: 'float',
    segments: 'float',
    segment_bytes: 'float',
    written_bytes: 'float',
    estimated: 'float',
  },
  metrics: [
    {
      name: 'pg_wal_size_bytes',
      type: 'gauge',
      unit: 'bytes',
      help: 'Bytes of WAL in pg_wal (pg_ls_waldir; a lower-bound estimate when it may not be run).',
      value: 'size_bytes',
    },
    {
      name: 'pg_wal_segments',
      type: 'gauge',
      help: 'WAL segment files in pg_wal (estimated like pg_wal_size_bytes when pg_ls_waldir may not be run).',
      value: 'segments',
    },
    {
      name: 'pg_wal_size_estimated',
      type: 'gauge',
      help: '1 when pg_wal_size_bytes is estimated from LSN arithmetic because pg_ls_waldir() is not granted, else 0.',
      value: 'estimated',
    },
    {
      name: 'pg_wal_segment_size_bytes',
      type: 'gauge',
      unit: 'bytes',
      help: 'wal_segment_size of the cluster.',
      value: 'segment_bytes',
    },
    {
      name: 'pg_wal_written_bytes_total',
      type: 'counter',
      unit: 'bytes',
      help:
        'WAL position in bytes from 0/0: the insert position on a primary, received (or replayed) WAL on a standby. ' +
        'rate() is WAL bytes per second.',
      value: 'written_bytes',
    },
  ],
});

export const wal = defineCollector({
  name: 'wal',
  description: 'WAL size in pg_wal (pg_ls_waldir, or estimated) and WAL bytes written',
  scope: 'cluster',
  defaultIntervalSeconds: 15,
  queries: [WAL],
});
