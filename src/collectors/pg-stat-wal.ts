import { counter, type Family } from '../exposition.js';
import { one } from './single-sample.js';
import type { CollectorDefinition } from './types.js';

// pg_stat_wal (14+). PostgreSQL 18 moved wal_write, wal_sync and their times to pg_stat_io
// (object 'wal', context 'normal'); they are read from there so the names stay the same.

const WAL_COLUMNS = `wal_records::float8 AS records, wal_fpi::float8 AS fpi, wal_bytes::float8 AS bytes,
       wal_buffers_full::float8 AS buffers_full`;

const BEFORE_18_SQL = `
SELECT ${WAL_COLUMNS},
       wal_write::float8 AS writes, wal_sync::float8 AS syncs,
       wal_write_time::float8 / 1000 AS write_seconds, wal_sync_time::float8 / 1000 AS sync_seconds
FROM pg_stat_wal`;

const FROM_18_SQL = `
SELECT ${WAL_COLUMNS}, io.*
FROM pg_stat_wal,
     (SELECT coalesce(sum(writes), 0)::float8 AS writes, coalesce(sum(fsyncs), 0)::float8 AS syncs,
             coalesce(sum(write_time), 0)::float8 / 1000 AS write_seconds,
             coalesce(sum(fsync_time), 0)::float8 / 1000 AS sync_seconds
      FROM pg_stat_io WHERE object = 'wal' AND context = 'normal') io`;

interface WalRow {
  records: number;
  fpi: number;
  bytes: number;
  buffers_full: number;
  writes: number;
  syncs: number;
  write_seconds: number;
  sync_seconds: number;
}

export const pgStatWal: CollectorDefinition = {
  name: 'stat_wal',
  description: 'pg_stat_wal (PostgreSQL 14+): WAL records, full-page images, bytes, buffer-full events, writes and syncs',
  scope: 'cluster',
  defaultIntervalSeconds: 30,
  notApplicable: (facts) => (facts.major < 14 ? 'pg_stat_wal exists from PostgreSQL 14' : undefined),
  create() {
    return {
      async collect({ query, facts }): Promise<Family[]> {
        const [r] = await query<WalRow>(facts.major >= 18 ? FROM_18_SQL : BEFORE_18_SQL);
        if (r === undefined) return [];
        return [
          counter('pg_stat_wal_records_total', 'WAL records generated.', one(r.records)),
          counter('pg_stat_wal_fpi_total', 'WAL full-page images generated.', one(r.fpi)),
          counter('pg_stat_wal_bytes_total', 'WAL bytes generated (resets with pg_stat_reset_shared).', one(r.bytes)),
          counter('pg_stat_wal_buffers_full_total', 'Times WAL was written because the WAL buffers were full (raise wal_buffers).', one(r.buffers_full)),
          counter('pg_stat_wal_write_total', 'Times WAL buffers were written out to disk (pg_stat_io from 18).', one(r.writes)),
          counter('pg_stat_wal_sync_total', 'Times WAL files were synced to disk (pg_stat_io from 18).', one(r.syncs)),
          counter('pg_stat_wal_write_time_seconds_total', 'Time spent writing WAL to disk (needs track_wal_io_timing).', one(r.write_seconds)),
          counter('pg_stat_wal_sync_time_seconds_total', 'Time spent syncing WAL to disk (needs track_wal_io_timing).', one(r.sync_seconds)),
        ];
      },
    };
  },
};
