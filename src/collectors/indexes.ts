import { Type } from '@sinclair/typebox';
import { ObjectCap } from './cardinality.js';
import type { RowOf } from './collector-spec.js';
import { defineCollector, query } from './define.js';
import { indexSizeSql, LOCKED_RELATIONS_CTE, withLockFallback } from './relation-locks.js';
import { SIZES_INTERVAL_VARIABLE, SizeCache, withCachedSizes } from './size-cache.js';
import type { CollectContext, QueryFn } from './types.js';

// pg_stat_user_indexes + pg_statio_user_indexes + pg_index, one query per database: how often each
// index is used, its buffer hits and reads (hit ratio in PromQL), its size and its flags. Sizes
// avoid pg_relation_size() for an index or table with an ACCESS EXCLUSIVE lock held or awaited
// (see relation-locks.ts), and are read at most every PGVIGIL_SIZES_INTERVAL_SECONDS (size-cache.ts).

// last_idx_scan exists from PostgreSQL 16 on; before, the column is NULL and the series absent.
export const LAST_IDX_SCAN_AGE_16 = 'extract(epoch FROM now() - s.last_idx_scan)::float8';
export const LAST_IDX_SCAN_AGE_OLD = 'NULL::float8';

const indexesSql = (lastIdxScan: string) => `
WITH ${LOCKED_RELATIONS_CTE}
SELECT s.schemaname, s.relname, s.indexrelname,
       s.idx_scan::float8, s.idx_tup_read::float8, s.idx_tup_fetch::float8,
       io.idx_blks_read::float8, io.idx_blks_hit::float8,
       ${indexSizeSql('s.indexrelid', 's.relid', 'c.relpages', '$2::bool')} AS size_bytes,
       i.indisvalid::text AS valid, i.indisunique::text AS "unique", i.indisprimary::text AS "primary",
       ${lastIdxScan} AS last_idx_scan_age_seconds
FROM pg_stat_user_indexes s
JOIN pg_statio_user_indexes io ON io.indexrelid = s.indexrelid
JOIN pg_index i ON i.indexrelid = s.indexrelid
JOIN pg_class c ON c.oid = s.indexrelid
ORDER BY s.schemaname, s.relname, s.indexrelname`;

const INDEX_COLUMNS = {
  schemaname: 'text',
  relname: 'text',
  indexrelname: 'text',
  idx_scan: 'float',
  idx_tup_read: 'float',
  idx_tup_fetch: 'float',
  idx_blks_read: 'float',
  idx_blks_hit: 'float',
  size_bytes: 'float?',
  valid: 'text',
  unique: 'text',
  primary: 'text',
  last_idx_scan_age_seconds: 'float?',
} as const;

type IndexRow = RowOf<typeof INDEX_COLUMNS>;

const indexKey = (r: IndexRow) => `${r.schemaname}\u0000${r.indexrelname}`;

interface IndexesSettings {
  readonly maxIndexes: number;
  readonly sizesIntervalSeconds: number;
}

interface DatabaseSummary {
  idx_blks_hit: number;
  idx_blks_read: number;
  omitted: number;
}

interface IndexesState {
  readonly sizes: SizeCache<Pick<IndexRow, 'size_bytes'>>;
  readonly cap: ObjectCap<IndexRow>;
  readonly summary: Map<string, DatabaseSummary>;
}

type Input = { query: QueryFn; ctx: CollectContext; settings: IndexesSettings; state: IndexesState };

const INDEX = ['schemaname', 'relname', 'indexrelname'] as const;

const INDEXES = query({
  sql: [
    { server: { from: 16 }, sql: indexesSql(LAST_IDX_SCAN_AGE_16) },
    { server: { before: 16 }, sql: indexesSql(LAST_IDX_SCAN_AGE_OLD) },
  ],
  columns: INDEX_COLUMNS,
  datnameLabel: true,
  run: async ({ query, ctx: { datname, now }, settings, state }: Input, sql) => {
    const sizesDue = state.sizes.due(datname, now);
    const fetched = await withLockFallback((exact) => query<IndexRow>(sql!, [exact, sizesDue]));
    const rows = withCachedSizes(
      state.sizes,
      datname,
      now,
      sizesDue,
      fetched,
      indexKey,
      (r) => ({ size_bytes: r.size_bytes }),
      {
        size_bytes: null,
      },
    );
    // The per-database pair covers every index, so the hit ratio stays whole when the cap cuts.
    const summary: DatabaseSummary = { idx_blks_hit: 0, idx_blks_read: 0, omitted: 0 };
    for (const r of rows) {
      summary.idx_blks_hit += r.idx_blks_hit;
      summary.idx_blks_read += r.idx_blks_read;
    }
    const { kept, omitted } = state.cap.apply(datname, rows, settings.maxIndexes);
    summary.omitted = omitted;
    state.summary.set(datname, summary);
    return kept;
  },
  metrics: [
    {
      name: 'pg_stat_user_indexes_idx_scan_total',
      type: 'counter',
      help: 'Scans started on the index.',
      labels: INDEX,
      value: 'idx_scan',
    },
    {
      name: 'pg_stat_user_indexes_idx_tup_read_total',
      type: 'counter',
      help: 'Index entries returned by scans of the index.',
      labels: INDEX,
      value: 'idx_tup_read',
    },
    {
      name: 'pg_stat_user_indexes_idx_tup_fetch_total',
      type: 'counter',
      help: 'Live table rows fetched by simple index scans of the index.',
      labels: INDEX,
      value: 'idx_tup_fetch',
    },
    {
      name: 'pg_statio_user_indexes_idx_blks_read_total',
      type: 'counter',
      help: 'Index blocks read from outside shared buffers.',
      labels: INDEX,
      value: 'idx_blks_read',
    },
    {
      name: 'pg_statio_user_indexes_idx_blks_hit_total',
      type: 'counter',
      help: 'Index blocks found in shared buffers.',
      labels: INDEX,
      value: 'idx_blks_hit',
    },
    {
      name: 'pg_stat_user_indexes_size_bytes',
      type: 'gauge',
      unit: 'bytes',
      help:
        'Index size (pg_relation_size); relpages * block_size ' +
        'while the index or its table is ACCESS EXCLUSIVE locked.',
      labels: INDEX,
      value: 'size_bytes',
    },
    {
      name: 'pg_stat_user_indexes_last_idx_scan_age_seconds',
      type: 'gauge',
      unit: 'seconds',
      help: 'PostgreSQL 16+: seconds since the index was last scanned (absent when never, or before 16).',
      labels: INDEX,
      value: 'last_idx_scan_age_seconds',
    },
    {
      name: 'pg_stat_user_indexes_info',
      type: 'gauge',
      help:
        'One series per index with its flags as labels (valid=false: a failed or running CREATE INDEX CONCURRENTLY); ' +
        'always 1.',
      labels: [...INDEX, 'valid', 'unique', 'primary'],
      value: () => 1,
    },
  ],
});

const SUMMARY = query({
  columns: { idx_blks_hit: 'float', idx_blks_read: 'float', omitted: 'float' },
  datnameLabel: true,
  run: ({ ctx, state }: { ctx: CollectContext; state: IndexesState }) => [
    state.summary.get(ctx.datname) ?? { idx_blks_hit: 0, idx_blks_read: 0, omitted: 0 },
  ],
  metrics: [
    {
      name: 'pg_statio_user_indexes_database_idx_blks_hit_total',
      type: 'counter',
      help: 'Index blocks found in shared buffers, all user indexes of the database.',
      value: 'idx_blks_hit',
    },
    {
      name: 'pg_statio_user_indexes_database_idx_blks_read_total',
      type: 'counter',
      help: 'Index blocks read from outside shared buffers, all user indexes of the database.',
      value: 'idx_blks_read',
    },
    {
      name: 'pgvigil_indexes_omitted',
      type: 'gauge',
      help:
        'User indexes left out of the per-index series by ' +
        'PGVIGIL_MAX_INDEXES (the largest and most scanned are kept).',
      value: 'omitted',
    },
  ],
});

export const indexes = defineCollector<IndexesSettings, IndexesState>({
  name: 'indexes',
  description: 'pg_stat_user_indexes, pg_statio_user_indexes, pg_index: scans, tuples, I/O, size, flags',
  scope: 'database',
  defaultIntervalSeconds: 60,
  subsystems: ['pg_stat_user_indexes', 'pg_statio_user_indexes', 'pgvigil_indexes'],
  namesReason:
    "families keep the names of the views they read, as postgres_exporter's " +
    "do; pgvigil_indexes_omitted counts pgvigil's own cut",
  settings: {
    variables: {
      PGVIGIL_MAX_INDEXES: Type.Integer({
        default: 2000,
        minimum: 1,
        maximum: 1000000,
        description:
          'Per database: indexes with their own series (the largest and ' +
          'most scanned are kept; pgvigil_indexes_omitted counts the rest)',
      }),
      ...SIZES_INTERVAL_VARIABLE,
    },
    resolve: (values) => ({
      maxIndexes: (values.PGVIGIL_MAX_INDEXES as number | undefined) ?? 2000,
      sizesIntervalSeconds: (values.PGVIGIL_SIZES_INTERVAL_SECONDS as number | undefined) ?? 300,
    }),
  },
  state: (settings) => ({
    sizes: new SizeCache(settings.sizesIntervalSeconds * 1000),
    cap: new ObjectCap<IndexRow>(indexKey, [(r) => r.size_bytes ?? 0, (r) => r.idx_scan]),
    summary: new Map(),
  }),
  queries: [INDEXES, SUMMARY],
});
