import { counter, gauge, type Family } from '../exposition.js';
import { one } from './single-sample.js';
import type { CollectorDefinition } from './types.js';

// pg_stat_archiver: a failing archive_command keeps WAL on disk until the volume fills, so the
// failure count and the time of the last success are what alerts need.

const ARCHIVER_SQL = `
SELECT archived_count::float8 AS archived,
       failed_count::float8 AS failed,
       extract(epoch FROM last_archived_time)::float8 AS last_archived,
       extract(epoch FROM last_failed_time)::float8 AS last_failed,
       (current_setting('archive_mode') <> 'off')::int::float8 AS enabled
FROM pg_stat_archiver`;

interface ArchiverRow {
  archived: number;
  failed: number;
  last_archived: number | null;
  last_failed: number | null;
  enabled: number;
}

export const archiver: CollectorDefinition = {
  name: 'archiver',
  description: 'pg_stat_archiver: WAL files archived and failed, times of the last success and failure',
  scope: 'cluster',
  defaultIntervalSeconds: 30,
  create() {
    return {
      families: ['pg_stat_archiver_last_archived_timestamp_seconds', 'pg_stat_archiver_last_failed_timestamp_seconds'],
      async collect({ query }): Promise<Family[]> {
        const [r] = await query<ArchiverRow>(ARCHIVER_SQL);
        return [
          gauge('pg_stat_archiver_enabled', '1 when archive_mode is on (or always), else 0.', one(r?.enabled)),
          counter('pg_stat_archiver_archived_total', 'WAL files archived successfully.', one(r?.archived)),
          counter('pg_stat_archiver_failed_total', 'Failed attempts to archive a WAL file.', one(r?.failed)),
          gauge('pg_stat_archiver_last_archived_timestamp_seconds', 'Unix time of the last successful archive.', one(r?.last_archived)),
          gauge('pg_stat_archiver_last_failed_timestamp_seconds', 'Unix time of the last failed archive attempt.', one(r?.last_failed)),
        ];
      },
    };
  },
};
