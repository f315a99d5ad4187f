import { defineCollector, query } from './define.js';

// pg_stat_archiver: a failing archive_command keeps WAL on disk until the volume fills, so the
// failure count and the time of the last success are what alerts need.

const ARCHIVER = query({
  sql: [
    {
      sql: `
SELECT archived_count::float8 AS archived,
       failed_count::float8 AS failed,
       extract(epoch FROM last_archived_time)::float8 AS last_archived,
       extract(epoch FROM last_failed_time)::float8 AS last_failed,
       (current_setting('archive_mode') <> 'off')::int::float8 AS enabled
FROM pg_stat_archiver`,
    },
  ],
  columns: { archived: 'float', failed: 'float', last_archived: 'float?', last_failed: 'float?', enabled: 'float' },
  metrics: [
    {
      name: 'pg_stat_archiver_enabled',
      type: 'gauge',
      help: '1 when archive_mode is on (or always), else 0.',
      value: 'enabled',
    },
    {
      name: 'pg_stat_archiver_archived_total',
      type: 'counter',
      help: 'WAL files archived successfully.',
      value: 'archived',
    },
    {
      name: 'pg_stat_archiver_failed_total',
      type: 'counter',
      help: 'Failed attempts to archive a WAL file.',
      value: 'failed',
    },
    {
      name: 'pg_stat_archiver_last_archived_timestamp_seconds',
      type: 'gauge',
      unit: 'seconds',
      help: 'Unix time of the last successful archive.',
      value: 'last_archived',
    },
    {
      name: 'pg_stat_archiver_last_failed_timestamp_seconds',
      type: 'gauge',
      unit: 'seconds',
      help: 'Unix time of the last failed archive attempt.',
      value: 'last_failed',
    },
  ],
});

export const archiver = defineCollector({
  name: 'archiver',
  description: 'pg_stat_archiver: WAL files archived and failed, times of the last success and failure',
  scope: 'cluster',
  defaultIntervalSeconds: 30,
  subsystems: ['pg_stat_archiver'],
  namesReason: 'postgres_exporter names these families after the view, pg_stat_archiver',
  queries: [ARCHIVER],
});
