import { Type } from '@sinclair/typebox';
import { ObjectCap, STICKINESS } from './cardinality.js';
import type { RowOf, RunInput } from './collector-spec.js';
import { defineCollector, query, storedRow } from './define.js';
import { indexSizeSql, LOCKED_RELATIONS_CTE, withLockFallback } from './relation-locks.js';
import { inBatchTransaction, passSettings, SIZES_INTERVAL_VARIABLE, SizePasses } from './size-cache.js';

// pg_stat_user_indexes + pg_statio_user_indexes + pg_index, per database: how often each index
// is used, its buffer hits and reads (hit ratio in PromQL), its size and its flags. Statistics are
// read every poll; sizes in passes of OID batches on their slow interval (size-cache.ts), avoiding
// pg_relation_size() for an index or table with an ACCESS EXCLUSIVE lock held or awaited (see
// relation-locks.ts).

// pg_stat_get_lastscan (last_idx_scan) exists from PostgreSQL 16 on; before, the column is NULL and
// the series absent.
const LAST_SCAN_AGE_16 = 'extract(epoch FROM now() - pg_stat_get_lastscan(oid))::float8';
const LAST_SCAN_AGE_OLD = 'NULL::float8';

// Statistics, every poll: the columns of pg_stat_user_indexes and pg_statio_user_indexes, read from
// the pg_stat_get_* functions those views call, over pg_index. Joining the two views cost two
// passes over pg_index, pg_class and pg_namespace and a join of their 60,000 rows each (1.9 s at
// 20,000 tables). Their filters: an index of a table or materialized view (pg_statio_user_indexes
// lists none of a partitioned parent, which have no storage and no statistics) outside pg_catalog,
// information_schema and the pg_toast schemas.
//
// The cap is applied here, as for tables (see tables.ts): an index is a candidate when it ranks
// within the first $1 by size (pg_class.relpages) or by scans; $2 holds those kept last poll. The
// row of row_kind 'database' sums the block counters of every index, so the hit ratio stays whole.
const statisticsSql = (lastIdxScan: string) => `
WITH kept_before AS (SELECT DISTINCT unnest($2::oid[]) AS relid),
indexes AS MATERIALIZED (
  SELECT ic.oid, n.nspname AS schemaname, c.relname, ic.relname AS indexrelname,
         pg_stat_get_numscans(ic.oid)::float8 AS idx_scan,
         (pg_stat_get_blocks_fetched(ic.oid) - pg_stat_get_blocks_hit(ic.oid))::float8 AS idx_blks_read,
         pg_stat_get_blocks_hit(ic.oid)::float8 AS idx_blks_hit,
         ic.relpages::float8 * current_setting('block_size')::float8 AS catalog_bytes,
         i.indisvalid, i.indisunique, i.indisprimary,
         CASE WHEN k.relid IS NOT NULL THEN ${STICKINESS}::float8 ELSE 1::float8 END AS bonus
  FROM pg_index i
  JOIN pg_class ic ON ic.oid = i.indexrelid
  JOIN pg_class c ON c.oid = i.indrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN kept_before k ON k.relid = i.indexrelid
  WHERE c.relkind IN ('r', 'm')
    AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
),
-- Each ranking as a LIMIT: a bounded top-N sort, where a window over all rows spilled to disk.
-- Listing only indexes scanned at all changes nothing: those rank first by scans.
candidates AS (
  (SELECT oid FROM indexes ORDER BY catalog_bytes * bonus DESC, schemaname, relname, indexrelname LIMIT $1)
  UNION
  (SELECT oid FROM indexes WHERE idx_scan > 0
   ORDER BY idx_scan * bonus DESC, catalog_bytes * bonus DESC, schemaname, relname, indexrelname LIMIT $1)
)
-- The counters no ranking needs are read for the candidates only.
SELECT 'index' AS row_kind, oid::int8::float8 AS relid, schemaname, relname, indexrelname, idx_scan,
       pg_stat_get_tuples_returned(oid)::float8 AS idx_tup_read,
       pg_stat_get_tuples_fetched(oid)::float8 AS idx_tup_fetch,
       idx_blks_read, idx_blks_hit, catalog_bytes,
       indisvalid::text AS valid, indisunique::text AS "unique", indisprimary::text AS "primary",
       ${lastIdxScan} AS last_idx_scan_age_seconds, 1::float8 AS indexes
FROM indexes
WHERE oid IN (SELECT oid FROM candidates)
UNION ALL
SELECT 'database', 0, '', '', '', sum(idx_scan), 0, 0,
       coalesce(sum(idx_blks_read), 0), coalesce(sum(idx_blks_hit), 0), sum(catalog_bytes), '', '', '', NULL, count(*)
FROM indexes
ORDER BY 1 DESC, 3, 4, 5`;

// Sizes of the indexes with OIDs after $2, at most $3 of them ($1 = false: catalog sizes only).
// The schema filter is that of pg_stat_user_indexes.
const SIZES_SQL = `
WITH ${LOCKED_RELATIONS_CTE},
batch AS MATERIALIZED (
  SELECT i.indexrelid, i.indrelid, c.relpages
  FROM pg_index i
  JOIN pg_class c ON c.oid = i.indexrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE i.indexrelid > $2::oid
    AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
  ORDER BY i.indexrelid
  LIMIT $3
)
SELECT indexrelid::int8::float8 AS relid, ${indexSizeSql('indexrelid', 'indrelid', 'relpages')} AS size_bytes
FROM batch
ORDER BY indexrelid`;

const INDEX_COLUMNS = {
  row_kind: 'text',
  relid: 'float',
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
  catalog_bytes: 'float',
  indexes: 'float',
} as const;

const SIZE_COLUMNS = { relid: 'float', size_bytes: 'float?' } as const;
type SizeRow = RowOf<typeof SIZE_COLUMNS>;
type IndexSizes = Pick<SizeRow, 'size_bytes'>;

type IndexRow = RowOf<typeof INDEX_COLUMNS>;

interface IndexesSettings {
  readonly maxIndexes: number;
  readonly sizesIntervalSeconds: number;
}

interface DatabaseSummary {
  idx_blks_hit: number;
  idx_blks_read: number;
  omitted: number;
  sizes_stale: number;
  sizes_age_seconds: number | null;
}

interface IndexesState {
  readonly sizes: SizePasses<IndexSizes>;
  readonly cap: ObjectCap<IndexRow>;
  readonly summary: Map<string, DatabaseSummary>;
}

type Input = RunInput<IndexesSettings, IndexesState>;

const INDEX = ['schemaname', 'relname', 'indexrelname'] as const;

const INDEXES = query({
  sql: [
    { server: { from: 16 }, sql: statisticsSql(LAST_SCAN_AGE_16) },
    { server: { before: 16 }, sql: statisticsSql(LAST_SCAN_AGE_OLD) },
  ],
  companionSql: { sizes: [{ sql: SIZES_SQL }] },
  columns: INDEX_COLUMNS,
  datnameLabel: true,
  run: async ({ query, ctx: { datname, now }, settings, state }: Input, sql, companions) => {
    const read = await query<IndexRow>(sql!, [settings.maxIndexes, state.cap.keptKeys(datname)]);
    const indexRows = read.filter((r) => r.row_kind === 'index');
    const all = read.find((r) => r.row_kind === 'database');
    await state.sizes.advance(
      datname,
      now,
      (after, limit) =>
        withLockFallback((exact) =>
          inBatchTransaction(query, state.sizes.settings, () =>
            query<SizeRow>(companions.sizes!, [exact, after, limit]),
          ),
        ),
      (r) => ({ size_bytes: r.size_bytes }),
    );
    for (const r of indexRows) r.size_bytes = state.sizes.lookup(datname, r.relid)?.size_bytes ?? null;
    const { kept } = state.cap.apply(datname, indexRows, settings.maxIndexes);
    const status = state.sizes.status(datname, now);
    state.summary.set(datname, {
      idx_blks_hit: all?.idx_blks_hit ?? 0,
      idx_blks_read: all?.idx_blks_read ?? 0,
      omitted: (all?.indexes ?? 0) - kept.length,
      sizes_stale: status.stale,
      sizes_age_seconds: status.ageSeconds,
    });
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
  columns: {
    idx_blks_hit: 'float',
    idx_blks_read: 'float',
    omitted: 'float',
    sizes_stale: 'float',
    sizes_age_seconds: 'float?',
  },
  datnameLabel: true,
  run: ({ ctx, state }: Input) => storedRow(state.summary, ctx.datname),
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
    {
      name: 'pgvigil_indexes_part_stale',
      type: 'gauge',
      help:
        'Per part of the indexes collector: 1 when the series it feeds are behind (sizes: the last size pass ' +
        'completed more than two PGVIGIL_SIZES_INTERVAL_SECONDS ago, never, or a batch was cancelled by the ' +
        'statement timeout this poll; the next poll resumes where it stopped), else 0.',
      value: { label: 'part', values: { sizes: 'sizes_stale' } },
    },
    {
      name: 'pgvigil_indexes_sizes_age_seconds',
      type: 'gauge',
      unit: 'seconds',
      help: 'Seconds since the start of the last complete pass over index sizes (absent before the first).',
      value: 'sizes_age_seconds',
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
  state: (settings, config) => ({
    sizes: new SizePasses<IndexSizes>(passSettings(settings.sizesIntervalSeconds, config)),
    cap: new ObjectCap<IndexRow>((r) => String(r.relid), [(r) => r.catalog_bytes, (r) => r.idx_scan]),
    summary: new Map(),
  }),
  queries: [INDEXES, SUMMARY],
});
