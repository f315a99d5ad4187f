import { defineCollector, query } from './define.js';

// Checkpoints under names that stay the same on 13..18: PostgreSQL 17 moved these columns from
// pg_stat_bgwriter to pg_stat_checkpointer and renamed them (checkpoints_timed → num_timed,
// checkpoints_req → num_requested, buffers_checkpoint → buffers_written ...), which broke
// exporters that read the old view by name. Both SQL variants return the same row; times are
// milliseconds in the views, seconds here. Restartpoints are counted from 17 only.

const CHECKPOINTER = query({
  sql: [
    {
      server: { before: 17 },
      sql: `
SELECT checkpoints_timed::float8 AS timed,
       checkpoints_req::float8 AS requested,
       checkpoint_write_time::float8 / 1000 AS write_seconds,
       checkpoint_sync_time::float8 / 1000 AS sync_seconds,
       buffers_checkpoint::float8 AS buffers_written,
       NULL::float8 AS restartpoints_timed,
       NULL::float8 AS restartpoints_requested,
       NULL::float8 AS restartpoints_done
FROM pg_stat_bgwriter`,
    },
    {
      server: { from: 17 },
      sql: `
SELECT num_timed::float8 AS timed,
       num_requested::float8 AS requested,
       write_time::float8 / 1000 AS write_seconds,
       sync_time::float8 / 1000 AS sync_seconds,
       buffers_written::float8 AS buffers_written,
       restartpoints_timed::float8 AS restartpoints_timed,
       restartpoints_req::float8 AS restartpoints_requested,
       restartpoints_done::float8 AS restartpoints_done
FROM pg_stat_checkpointer`,
    },
  ],
  columns: {
    timed: 'float',
    requested: 'float',
    write_seconds: 'float',
    sync_seconds: 'float',
    buffers_written: 'float',
    restartpoints_timed: 'float?',
    restartpoints_requested: 'float?',
    restartpoints_done: 'float?',
  },
  noRowsNoFamilies: true,
  metrics: [
    {
      name: 'pg_checkpointer_checkpoints_total',
      type: 'counter',
      help: 'Checkpoints started, by kind: timed (checkpoint_timeout) or requested (WAL volume, CHECKPOINT).',
      value: { label: 'kind', values: { timed: 'timed', requested: 'requested' } },
    },
    {
      name: 'pg_checkpointer_write_time_seconds_total',
      type: 'counter',
      unit: 'seconds',
      help: 'Time checkpoints spent writing buffers to files.',
      value: 'write_seconds',
    },
    {
      name: 'pg_checkpointer_sync_time_seconds_total',
      type: 'counter',
      unit: 'seconds',
      help: 'Time checkpoints spent syncing files to disk.',
      value: 'sync_seconds',
    },
    {
      name: 'pg_checkpointer_buffers_written_total',
      type: 'counter',
      help: 'Buffers written by checkpoints (and restartpoints).',
      value: 'buffers_written',
    },
    {
      name: 'pg_checkpointer_restartpoints_total',
      type: 'counter',
      help: 'PostgreSQL 17+ only: standby restartpoints by kind (timed, requested, done).',
      value: {
        label: 'kind',
        values: { timed: 'restartpoints_timed', requested: 'restartpoints_requested', done: 'restartpoints_done' },
      },
    },
  ],
});

export const checkpointer = defineCollector({
  name: 'checkpointer',
  description: 'Checkpoints (pg_stat_bgwriter before 17, pg_stat_checkpointer from 17) under stable names',
  scope: 'cluster',
  // Boards take irate() of these counters: polled more often than the usual 10-60 s scrape, every
  // scrape finds a fresh value (polled slower, irate reads 0, then several times the rate). One
  // cheap read of a cluster-wide view; docs/migrating-from-postgres-exporter.md has the measured cost.
  defaultIntervalSeconds: 5,
  queries: [CHECKPOINTER],
});
