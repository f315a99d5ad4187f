import { defineCollector, query } from './define.js';

// pg_stat_io (16+): I/O by backend type, object (relation, temp relation, wal from 18) and
// context. Bytes: 16 and 17 have one op_bytes per row (ops × op_bytes); 18 replaced it with
// read_bytes/write_bytes/extend_bytes because WAL rows have no fixed size. NULL means "cannot
// happen for this row": no sample, rather than a misleading 0.

const COMMON = `backend_type, object, context,
       reads::float8 AS reads, read_time::float8 / 1000 AS read_seconds,
       writes::float8 AS writes, write_time::float8 / 1000 AS write_seconds,
       writebacks::float8 AS writebacks, writeback_time::float8 / 1000 AS writeback_seconds,
       extends::float8 AS extends, extend_time::float8 / 1000 AS extend_seconds,
       hits::float8 AS hits, evictions::float8 AS evictions, reuses::float8 AS reuses,
       fsyncs::float8 AS fsyncs, fsync_time::float8 / 1000 AS fsync_seconds`;

const BEFORE_18 = `
SELECT ${COMMON},
       (reads * op_bytes)::float8 AS read_bytes,
       (writes * op_bytes)::float8 AS write_bytes,
       (extends * op_bytes)::float8 AS extend_bytes
FROM pg_stat_io`;

const FROM_18 = `
SELECT ${COMMON},
       read_bytes::float8 AS read_bytes,
       write_bytes::float8 AS write_bytes,
       extend_bytes::float8 AS extend_bytes
FROM pg_stat_io`;

const IO_LABELS = ['backend_type', 'object', 'context'] as const;
const BY = ' By backend_type, object and context (pg_stat_io).';

const STAT_IO = query({
  sql: [
    { server: { from: 16, before: 18 }, sql: BEFORE_18 },
    { server: { from: 18 }, sql: FROM_18 },
  ],
  columns: {
    backend_type: 'text',
    object: 'text',
    context: 'text',
    reads: 'float?',
    read_seconds: 'float?',
    read_bytes: 'float?',
    writes: 'float?',
    write_seconds: 'float?',
    write_bytes: 'float?',
    writebacks: 'float?',
    writeback_seconds: 'float?',
    extends: 'float?',
    extend_seconds: 'float?',
    extend_bytes: 'float?',
    hits: 'float?',
    evictions: 'float?',
    reuses: 'float?',
    fsyncs: 'float?',
    fsync_seconds: 'float?',
  },
  metrics: [
    {
      name: 'pg_stat_io_reads_total',
      type: 'counter',
      help: `Read operations.${BY}`,
      labels: IO_LABELS,
      value: 'reads',
    },
    {
      name: 'pg_stat_io_read_bytes_total',
      type: 'counter',
      unit: 'bytes',
      help: `Bytes read.${BY}`,
      labels: IO_LABELS,
      value: 'read_bytes',
    },
    {
      name: 'pg_stat_io_read_time_seconds_total',
      type: 'counter',
      unit: 'seconds',
      help: `Time spent reading (track_io_timing).${BY}`,
      labels: IO_LABELS,
      value: 'read_seconds',
    },
    {
      name: 'pg_stat_io_writes_total',
      type: 'counter',
      help: `Write operations.${BY}`,
      labels: IO_LABELS,
      value: 'writes',
    },
    {
      name: 'pg_stat_io_write_bytes_total',
      type: 'counter',
      unit: 'bytes',
      help: `Bytes written.${BY}`,
      labels: IO_LABELS,
      value: 'write_bytes',
    },
    {
      name: 'pg_stat_io_write_time_seconds_total',
      type: 'counter',
      unit: 'seconds',
      help: `Time spent writing (track_io_timing; track_wal_io_timing for WAL).${BY}`,
      labels: IO_LABELS,
      value: 'write_seconds',
    },
    {
      name: 'pg_stat_io_writebacks_total',
      type: 'counter',
      help: `Writeback requests sent to the kernel.${BY}`,
      labels: IO_LABELS,
      value: 'writebacks',
    },
    {
      name: 'pg_stat_io_writeback_time_seconds_total',
      type: 'counter',
      unit: 'seconds',
      help: `Time spent in writeback operations.${BY}`,
      labels: IO_LABELS,
      value: 'writeback_seconds',
    },
    {
      name: 'pg_stat_io_extends_total',
      type: 'counter',
      help: `Relation extend operations.${BY}`,
      labels: IO_LABELS,
      value: 'extends',
    },
    {
      name: 'pg_stat_io_extend_bytes_total',
      type: 'counter',
      unit: 'bytes',
      help: `Bytes added by extend operations.${BY}`,
      labels: IO_LABELS,
      value: 'extend_bytes',
    },
    {
      name: 'pg_stat_io_extend_time_seconds_total',
      type: 'counter',
      unit: 'seconds',
      help: `Time spent extending relations.${BY}`,
      labels: IO_LABELS,
      value: 'extend_seconds',
    },
    {
      name: 'pg_stat_io_hits_total',
      type: 'counter',
      help: `Buffer hits: the block was found in a buffer.${BY}`,
      labels: IO_LABELS,
      value: 'hits',
    },
    {
      name: 'pg_stat_io_evictions_total',
      type: 'counter',
      help: `Buffers evicted to make room.${BY}`,
      labels: IO_LABELS,
      value: 'evictions',
    },
    {
      name: 'pg_stat_io_reuses_total',
      type: 'counter',
      help: `Ring buffers reused (bulk read, bulk write, vacuum).${BY}`,
      labels: IO_LABELS,
      value: 'reuses',
    },
    { name: 'pg_stat_io_fsyncs_total', type: 'counter', help: `fsync calls.${BY}`, labels: IO_LABELS, value: 'fsyncs' },
    {
      name: 'pg_stat_io_fsync_time_seconds_total',
      type: 'counter',
      unit: 'seconds',
      help: `Time spent in fsync.${BY}`,
      labels: IO_LABELS,
      value: 'fsync_seconds',
    },
  ],
});

export const statIo = defineCollector({
  name: 'stat_io',
  description: 'pg_stat_io (PostgreSQL 16+): I/O operations, bytes and time by backend type, object and context',
  scope: 'cluster',
  defaultIntervalSeconds: 30,
  queries: [STAT_IO],
});
