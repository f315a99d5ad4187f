import { counter, type Family } from '../exposition.js';
import { one } from './single-sample.js';
import type { CollectorDefinition } from './types.js';

// The background writer, and the buffers backends had to write themselves (a sign bgwriter and
// checkpoints do not keep up). PostgreSQL 17 removed buffers_backend* from pg_stat_bgwriter;
// from 17 they are the shared-buffer writes and fsyncs in pg_stat_io of every process that is
// neither the checkpointer nor the background writer. Same row, same names on 13..18.

const BEFORE_17_SQL = `
SELECT buffers_clean::float8 AS buffers_clean,
       maxwritten_clean::float8 AS maxwritten_clean,
       buffers_alloc::float8 AS buffers_alloc,
       buffers_backend::float8 AS buffers_backend,
       buffers_backend_fsync::float8 AS buffers_backend_fsync
FROM pg_stat_bgwriter`;

const FROM_17_SQL = `
SELECT b.buffers_clean::float8 AS buffers_clean,
       b.maxwritten_clean::float8 AS maxwritten_clean,
       b.buffers_alloc::float8 AS buffers_alloc,
       io.writes AS buffers_backend,
       io.fsyncs AS buffers_backend_fsync
FROM pg_stat_bgwriter b,
     (SELECT coalesce(sum(writes), 0)::float8 AS writes, coalesce(sum(fsyncs), 0)::float8 AS fsyncs
      FROM pg_stat_io
      WHERE object = 'relation' AND backend_type NOT IN ('checkpointer', 'background writer')) io`;

interface BgwriterRow {
  buffers_clean: number;
  maxwritten_clean: number;
  buffers_alloc: number;
  buffers_backend: number;
  buffers_backend_fsync: number;
}

export const bgwriter: CollectorDefinition = {
  name: 'bgwriter',
  description: 'Background writer and backend buffer writes (pg_stat_bgwriter, pg_stat_io from 17)',
  scope: 'cluster',
  defaultIntervalSeconds: 30,
  create() {
    return {
      async collect({ query, facts }): Promise<Family[]> {
        const [r] = await query<BgwriterRow>(facts.major >= 17 ? FROM_17_SQL : BEFORE_17_SQL);
        if (r === undefined) return [];
        return [
          counter('pg_bgwriter_buffers_clean_total', 'Buffers written by the background writer.', one(r.buffers_clean)),
          counter(
            'pg_bgwriter_maxwritten_clean_total',
            'Times the background writer stopped a round because it had written bgwriter_lru_maxpages buffers.',
            one(r.maxwritten_clean),
          ),
          counter('pg_bgwriter_buffers_alloc_total', 'Buffers allocated.', one(r.buffers_alloc)),
          counter(
            'pg_bgwriter_buffers_backend_total',
            'Shared buffers written directly by backends rather than the checkpointer or background writer.',
            one(r.buffers_backend),
          ),
          counter(
            'pg_bgwriter_buffers_backend_fsync_total',
            'Times a backend had to run its own fsync (normally the checkpointer does).',
            one(r.buffers_backend_fsync),
          ),
        ];
      },
    };
  },
};
