import { defineCollector, query } from './define.js';

// pg_stat_wal (14+). PostgreSQL 18 moved wal_write, wal_sync and their times to pg_stat_io
// (object 'wal', context 'normal'); they are read from there so the names stay the same.

const WAL_COLUMNS = `wal_records::float8 AS records, wal_fpi::float8 AS fpi, wal_bytes::float8 AS bytes,
       wal_buffers_full::float8 AS buffers_full`;

const STAT_WAL = query({
  sql: [
    {
      server: { from: 14, before: 18 },
      sql: `
SELECT ${WAL_COLUMNS},
       wal_write::float8 AS writes, wal_sync::float8 AS syncs,
       wal_write_time::float8 / 1000 AS write_seconds, wal_sync_time::float8 / 1000 AS sync_seconds
FROM pg_stat_wal`,
    },
    {
      server: { from: 18 },
      sql: `
SELECT ${WAL_COLUMNS}, io.*
FROM pg_stat_wal,
     (SELECT coalesce(sum(writes), 0)::float8 AS writes, coalesce(sum(fsyncs), 0)::float8 AS syncs,
             coalesce(sum(write_time), 0)::float8 / 1000 AS write_seconds,
             coalesce(sum(fsync_time), 0)::float8 / 1000 AS sync_seconds
      FROM pg_stat_io WHERE object = 'wal' AND context = 'normal') io`,
    },
  ],
  columns: {
    records: 'float',
    fpi: 'float',
    bytes: 'float',
    buffers_full: 'float',
    writes: 'float',
    syncs: 'float',
    write_seconds: 'float',
    sync_seconds: 'float',
  },
  noRowsNoFamilies: true,
  metrics: [
    { name: 'pg_stat_wal_records_total', type: 'counter', help: 'WAL records generated.', value: 'records' },
    { name: 'pg_stat_wal_fpi_total', type: 'counter', help: 'WAL full-page images generated.', value: 'fpi' },
    {
      name: 'pg_stat_wal_bytes_total',
      type: 'counter',
      unit: 'bytes',
      help: 'WAL bytes generated (resets with pg_stat_reset_shared).',
      value: 'bytes',
    },
    {
      name: 'pg_stat_wal_buffers_full_total',
      type: 'counter',
      help: 'Times WAL was written because the WAL buffers were full (raise wal_buffers).',
      value: 'buffers_full',
    },
    {
      name: 'pg_stat_wal_write_total',
      type: 'counter',
      help: 'Times WAL buffers were written out to disk (pg_stat_io from 18).',
      value: 'writes',
    },
    {
      name: 'pg_stat_wal_sync_total',
      type: 'counter',
      help: 'Times WAL files were synced to disk (pg_stat_io from 18).',
      value: 'syncs',
    },
    {
      name: 'pg_stat_wal_write_time_seconds_total',
      type: 'counter',
      unit: 'seconds',
      help: 'Time spent writing WAL to disk (needs track_wal_io_timing).',
      value: 'write_seconds',
    },
    {
      name: 'pg_stat_wal_sync_time_seconds_total',
      type: 'counter',
      unit: 'seconds',
      help: 'Time spent syncing WAL to disk (needs track_wal_io_timing).',
      value: 'sync_seconds',
    },
  ],
});

export const statWal = defineCollector({
  name: 'stat_wal',
  description:
    'pg_stat_wal (PostgreSQL 14+): WAL records, full-page images, bytes, buffer-full events, writes and syncs',
  scope: 'cluster',
  defaultIntervalSeconds: 30,
  queries: [STAT_WAL],
});
