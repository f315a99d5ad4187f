import { counter, type CounterFamily, type Family } from '../exposition.js';
import type { CollectorDefinition } from './types.js';

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

const BEFORE_18_SQL = `
SELECT ${COMMON},
       (reads * op_bytes)::float8 AS read_bytes,
       (writes * op_bytes)::float8 AS write_bytes,
       (extends * op_bytes)::float8 AS extend_bytes
FROM pg_stat_io`;

const FROM_18_SQL = `
SELECT ${COMMON},
       read_bytes::float8 AS read_bytes,
       write_bytes::float8 AS write_bytes,
       extend_bytes::float8 AS extend_bytes
FROM pg_stat_io`;

type Column =
  | 'reads' | 'read_seconds' | 'read_bytes' | 'writes' | 'write_seconds' | 'write_bytes'
  | 'writebacks' | 'writeback_seconds' | 'extends' | 'extend_seconds' | 'extend_bytes'
  | 'hits' | 'evictions' | 'reuses' | 'fsyncs' | 'fsync_seconds';

type IoRow = { backend_type: string; object: string; context: string } & Record<Column, number | null>;

const FAMILIES: readonly [Column, string, string][] = [
  ['reads', 'pg_stat_io_reads_total', 'Read operations.'],
  ['read_bytes', 'pg_stat_io_read_bytes_total', 'Bytes read.'],
  ['read_seconds', 'pg_stat_io_read_time_seconds_total', 'Time spent reading (track_io_timing).'],
  ['writes', 'pg_stat_io_writes_total', 'Write operations.'],
  ['write_bytes', 'pg_stat_io_write_bytes_total', 'Bytes written.'],
  ['write_seconds', 'pg_stat_io_write_time_seconds_total', 'Time spent writing (track_io_timing; track_wal_io_timing for WAL).'],
  ['writebacks', 'pg_stat_io_writebacks_total', 'Writeback requests sent to the kernel.'],
  ['writeback_seconds', 'pg_stat_io_writeback_time_seconds_total', 'Time spent in writeback operations.'],
  ['extends', 'pg_stat_io_extends_total', 'Relation extend operations.'],
  ['extend_bytes', 'pg_stat_io_extend_bytes_total', 'Bytes added by extend operations.'],
  ['extend_seconds', 'pg_stat_io_extend_time_seconds_total', 'Time spent extending relations.'],
  ['hits', 'pg_stat_io_hits_total', 'Buffer hits: the block was found in a buffer.'],
  ['evictions', 'pg_stat_io_evictions_total', 'Buffers evicted to make room.'],
  ['reuses', 'pg_stat_io_reuses_total', 'Ring buffers reused (bulk read, bulk write, vacuum).'],
  ['fsyncs', 'pg_stat_io_fsyncs_total', 'fsync calls.'],
  ['fsync_seconds', 'pg_stat_io_fsync_time_seconds_total', 'Time spent in fsync.'],
];

export const pgStatIo: CollectorDefinition = {
  name: 'stat_io',
  description: 'pg_stat_io (PostgreSQL 16+): I/O operations, bytes and time by backend type, object and context',
  scope: 'cluster',
  defaultIntervalSeconds: 30,
  notApplicable: (facts) => (facts.major < 16 ? 'pg_stat_io exists from PostgreSQL 16' : undefined),
  create() {
    return {
      families: FAMILIES.map(([, name]) => name),
      async collect({ query, facts }): Promise<Family[]> {
        const rows = await query<IoRow>(facts.major >= 18 ? FROM_18_SQL : BEFORE_18_SQL);
        return FAMILIES.map(([column, name, help]): CounterFamily =>
          counter(
            name,
            `${help} By backend_type, object and context (pg_stat_io).`,
            rows.flatMap((r) => {
              const value = r[column];
              return value === null ? [] : [{ labels: { backend_type: r.backend_type, object: r.object, context: r.context }, value }];
            }),
          ),
        );
      },
    };
  },
};
