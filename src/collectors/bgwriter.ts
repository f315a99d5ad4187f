import { defineCollector, query } from './define.js';

// The background writer, and the buffers backends had to write themselves (a sign bgwriter and
// checkpoints do not keep up). PostgreSQL 17 removed buffers_backend* from pg_stat_bgwriter;
// from 17 they are the shared-buffer writes and fsyncs in pg_stat_io of every process that is
// neither the checkpointer nor the background writer. Same row, same names on 13..18.

const BGWRITER = query({
  sql: [
    {
      server: { before: 17 },
      sql: `
SELECT buffers_clean::float8 AS buffers_clean,
       maxwritten_clean::float8 AS maxwritten_clean,
       buffers_alloc::float8 AS buffers_alloc,
       buffers_backend::float8 AS buffers_backend,
       buffers_backend_fsync::float8 AS buffers_backend_fsync
FROM pg_stat_bgwriter`,
    },
    {
      server: { from: 17 },
      sql: `
SELECT b.buffers_clean::float8 AS buffers_clean,
       b.maxwritten_clean::float8 AS maxwritten_clean,
       b.buffers_alloc::float8 AS buffers_alloc,
       io.writes AS buffers_backend,
       io.fsyncs AS buffers_backend_fsync
FROM pg_stat_bgwriter b,
     (SELECT coalesce(sum(writes), 0)::float8 AS writes, coalesce(sum(fsyncs), 0)::float8 AS fsyncs
      FROM pg_stat_io
      WHERE object = 'relation' AND backend_type NOT IN ('checkpointer', 'background writer')) io`,
    },
  ],
  columns: {
    buffers_clean: 'float',
    maxwritten_clean: 'float',
    buffers_alloc: 'float',
    buffers_backend: 'float',
    buffers_backend_fsync: 'float',
  },
  noRowsNoFamilies: true,
  metrics: [
    {
      name: 'pg_bgwriter_buffers_clean_total',
      type: 'counter',
      help: 'Buffers written by the background writer.',
      value: 'buffers_clean',
    },
    {
      name: 'pg_bgwriter_maxwritten_clean_total',
      type: 'counter',
      help: 'Times the background writer stopped a round because it had written bgwriter_lru_maxpages buffers.',
      value: 'maxwritten_clean',
    },
    { name: 'pg_bgwriter_buffers_alloc_total', type: 'counter', help: 'Buffers allocated.', value: 'buffers_alloc' },
    {
      name: 'pg_bgwriter_buffers_backend_total',
      type: 'counter',
      help: 'Shared buffers written directly by backends rather than the checkpointer or background writer.',
      value: 'buffers_backend',
    },
    {
      name: 'pg_bgwriter_buffers_backend_fsync_total',
      type: 'counter',
      help: 'Times a backend had to run its own fsync (normally the checkpointer does).',
      value: 'buffers_backend_fsync',
    },
  ],
});

export const bgwriter = defineCollector({
  name: 'bgwriter',
  description: 'Background writer and backend buffer writes (pg_stat_bgwriter, pg_stat_io from 17)',
  scope: 'cluster',
  // Boards take irate() of these counters: polled more often than the usual 10-60 s scrape, every
  // scrape finds a fresh value (polled slower, irate reads 0, then several times the rate). One
  // cheap read of a cluster-wide view; docs/migrating-from-postgres-exporter.md has the measured cost.
  defaultIntervalSeconds: 5,
  queries: [BGWRITER],
});
