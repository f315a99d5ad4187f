import { counter, type Family } from '../exposition.js';
import { one } from './single-sample.js';
import type { CollectorDefinition } from './types.js';

// Checkpoints under names that stay the same on 13..18: PostgreSQL 17 moved these columns from
// pg_stat_bgwriter to pg_stat_checkpointer and renamed them (FIELD-NOTES #2, PE #1060). Both SQL
// variants return the same row; times are milliseconds in the views, seconds here.

const BEFORE_17_SQL = `
SELECT checkpoints_timed::float8 AS timed,
       checkpoints_req::float8 AS requested,
       checkpoint_write_time::float8 / 1000 AS write_seconds,
       checkpoint_sync_time::float8 / 1000 AS sync_seconds,
       buffers_checkpoint::float8 AS buffers_written,
       NULL::float8 AS restartpoints_timed,
       NULL::float8 AS restartpoints_requested,
       NULL::float8 AS restartpoints_done
FROM pg_stat_bgwriter`;

const FROM_17_SQL = `
SELECT num_timed::float8 AS timed,
       num_requested::float8 AS requested,
       write_time::float8 / 1000 AS write_seconds,
       sync_time::float8 / 1000 AS sync_seconds,
       buffers_written::float8 AS buffers_written,
       restartpoints_timed::float8 AS restartpoints_timed,
       restartpoints_req::float8 AS restartpoints_requested,
       restartpoints_done::float8 AS restartpoints_done
FROM pg_stat_checkpointer`;

interface CheckpointerRow {
  timed: number;
  requested: number;
  write_seconds: number;
  sync_seconds: number;
  buffers_written: number;
  restartpoints_timed: number | null;
  restartpoints_requested: number | null;
  restartpoints_done: number | null;
}

export const checkpointer: CollectorDefinition = {
  name: 'checkpointer',
  description: 'Checkpoints (pg_stat_bgwriter before 17, pg_stat_checkpointer from 17) under stable names',
  scope: 'cluster',
  defaultIntervalSeconds: 30,
  create() {
    return {
      async collect({ query, facts }): Promise<Family[]> {
        const [r] = await query<CheckpointerRow>(facts.major >= 17 ? FROM_17_SQL : BEFORE_17_SQL);
        if (r === undefined) return [];
        const restartpoints = r.restartpoints_timed === null ? [] : [
          { labels: { kind: 'timed' }, value: r.restartpoints_timed },
          { labels: { kind: 'requested' }, value: r.restartpoints_requested ?? 0 },
          { labels: { kind: 'done' }, value: r.restartpoints_done ?? 0 },
        ];
        return [
          counter('pg_checkpointer_checkpoints_total', 'Checkpoints started, by kind: timed (checkpoint_timeout) or requested (WAL volume, CHECKPOINT).', [
            { labels: { kind: 'timed' }, value: r.timed },
            { labels: { kind: 'requested' }, value: r.requested },
          ]),
          counter('pg_checkpointer_write_time_seconds_total', 'Time checkpoints spent writing buffers to files.', one(r.write_seconds)),
          counter('pg_checkpointer_sync_time_seconds_total', 'Time checkpoints spent syncing files to disk.', one(r.sync_seconds)),
          counter('pg_checkpointer_buffers_written_total', 'Buffers written by checkpoints (and restartpoints).', one(r.buffers_written)),
          counter(
            'pg_checkpointer_restartpoints_total',
            'PostgreSQL 17+ only: standby restartpoints by kind (timed, requested, done).',
            restartpoints,
          ),
        ];
      },
    };
  },
};
