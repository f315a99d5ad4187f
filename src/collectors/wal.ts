import { counter, gauge, type Family } from '../exposition.js';
import { one } from './single-sample.js';
import type { CollectorDefinition } from './types.js';

// WAL on disk and WAL produced. The size comes from pg_ls_waldir() when the role may run it
// (pg_monitor can); without it (managed services, bare roles — FIELD-NOTES #9) it is estimated
// from LSN arithmetic, never a permission error every poll. The written counter is the current
// position (insert LSN on a primary, received/replayed LSN on a standby) measured from 0/0: it
// only ever grows, so rate() of it is the WAL rate. The insert position, not pg_current_wal_lsn()
// (the write position): with asynchronous commit the write position trails by up to a WAL buffer.

const CAN_LIST_SQL = `SELECT has_function_privilege('pg_ls_waldir()', 'EXECUTE') AS can_list`;

// The position this server has reached; a standby in archive recovery has no receive LSN.
const POSITION = `CASE WHEN pg_is_in_recovery()
  THEN greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())
  ELSE pg_current_wal_insert_lsn() END`;

const SEGMENT = `(SELECT setting::float8 FROM pg_settings WHERE name = 'wal_segment_size')`;

const LISTED_SQL = `
SELECT coalesce(sum(size), 0)::float8 AS size_bytes,
       count(*) FILTER (WHERE name ~ '^[0-9A-F]{24}$')::float8 AS segments,
       ${SEGMENT} AS segment_bytes,
       pg_wal_lsn_diff(${POSITION}, '0/0')::float8 AS written_bytes
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
       pg_wal_lsn_diff(pos, '0/0')::float8 AS written_bytes
FROM p`;

interface WalRow {
  size_bytes: number;
  segments: number;
  segment_bytes: number;
  written_bytes: number;
}

export const wal: CollectorDefinition = {
  name: 'wal',
  description: 'WAL size in pg_wal (pg_ls_waldir, or estimated) and WAL bytes written',
  scope: 'cluster',
  defaultIntervalSeconds: 15,
  create() {
    return {
      async collect({ query }): Promise<Family[]> {
        const [access] = await query<{ can_list: boolean }>(CAN_LIST_SQL);
        const listed = access?.can_list === true;
        const [row] = await query<WalRow>(listed ? LISTED_SQL : ESTIMATED_SQL);
        return [
          gauge('pg_wal_size_bytes', 'Bytes of WAL in pg_wal (pg_ls_waldir; a lower-bound estimate when it may not be run).', one(row?.size_bytes)),
          gauge('pg_wal_segments', 'WAL segment files in pg_wal (estimated like pg_wal_size_bytes when pg_ls_waldir may not be run).', one(row?.segments)),
          gauge(
            'pg_wal_size_estimated',
            '1 when pg_wal_size_bytes is estimated from LSN arithmetic because pg_ls_waldir() is not granted, else 0.',
            one(listed ? 0 : 1),
          ),
          gauge('pg_wal_segment_size_bytes', 'wal_segment_size of the cluster.', one(row?.segment_bytes)),
          counter(
            'pg_wal_written_bytes_total',
            'WAL position in bytes from 0/0: the insert position on a primary, received (or replayed) WAL on a standby. rate() is WAL bytes per second.',
            one(row?.written_bytes),
          ),
        ];
      },
    };
  },
};
