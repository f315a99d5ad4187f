import { Type } from '@sinclair/typebox';
import { seconds } from '../config.js';
import type { RowOf, RunInput } from './collector-spec.js';
import { defineCollector, query, storedRow } from './define.js';
import { indexSizeSql, LOCKED_RELATIONS_CTE, withLockFallback } from './relation-locks.js';

const BLOCK_SIZE = "current_setting('block_size')::float8";

// last_idx_scan exists from PostgreSQL 16 on; before, the column is NULL and the age unknown.
const LAST_IDX_SCAN_AGE_16 = 'extract(epoch FROM now() - s.last_idx_scan)::float8';
const LAST_IDX_SCAN_AGE_OLD = 'NULL::float8';

/** Also read by the status page (src/status-page.ts). */
export const UNUSED_INDEX_FAMILY = 'pg_index_unused_size_bytes';

/** Also read by the status page (src/status-page.ts). */
export const INVALID_INDEX_FAMILY = 'pg_index_invalid_size_bytes';

// Findings about indexes, per database: invalid, unused and duplicate indexes, and tables read
// mostly by large sequential scans (missing-index candidates). Only flagged objects produce
// series, and each series' value is the size a fix would give back. A schema per tenant can flag
// tens of thousands of indexes (every tenant's never-scanned ones): the series are capped by
// PGVIGIL_MAX_INDEX_FINDINGS, invalid indexes first (rare, and each one an alert), then the
// largest; every finding, listed or not, is counted and summed per kind. Exact sizes are read for
// the listed ones only: pg_relation_size() stats each file, and 40,000 calls took 2 s.
//
// - invalid: pg_index.indisvalid = false and no CREATE INDEX in progress for it (a failed
//   CREATE INDEX CONCURRENTLY leaves one behind; it costs writes and is never used).
// - unused: valid, not enforcing a constraint (primary key, unique, exclusion: dropping those
//   changes behaviour even when never scanned), not backing a foreign key's referencing columns
//   (its checks and cascades use it) nor the replica identity (logical replication finds rows
//   by it), and never scanned since the stats reset — or, on
//   16+, last scanned longer ago than $1 seconds. The stats reset resets idx_scan: judge after
//   the stats have run through a full business cycle. Partitioned indexes (relkind 'I') are
//   never scanned themselves (their partitions' indexes are), so they are not judged.
// - duplicate: valid indexes of one table with the same access method, key and INCLUDE columns
//   (expressions compared as stored trees), operator classes, collations, options and predicate.
//   The one enforcing a constraint (else the oldest) is kept; the others are reported with
//   duplicate_of naming it. A unique and a plain index on the same key count as duplicates.
const findingsSql = (lastIdxScan: string) => `
WITH ${LOCKED_RELATIONS_CTE},
-- Sets joined by hash: pg_constraint has no index on conindid, and a correlated EXISTS per index
-- made this query quadratic (seconds at 6,000 indexes).
constraint_indexes AS (SELECT DISTINCT conindid AS indexrelid FROM pg_constraint WHERE contype IN ('p', 'u', 'x')),
-- Non-partial indexes whose leading key columns are exactly a foreign key's referencing columns
-- (the foreign_keys collector's "supporting index"): idx_scan counts them only when a DELETE or
-- key UPDATE on the referenced table ran, which may be a monthly purge.
fk_indexes AS (
  SELECT DISTINCT i.indexrelid
  FROM pg_constraint k
  JOIN pg_index i ON i.indrelid = k.conrelid AND i.indpred IS NULL
  WHERE k.contype = 'f'
    AND (string_to_array(i.indkey::text, ' ')::int2[])[1:cardinality(k.conkey)] @> k.conkey
    AND (string_to_array(i.indkey::text, ' ')::int2[])[1:cardinality(k.conkey)] <@ k.conkey
),
builds AS (SELECT DISTINCT index_relid AS indexrelid FROM pg_stat_progress_create_index),
idx AS (
  SELECT s.schemaname, s.relname, s.indexrelname, s.indexrelid, s.relid, s.idx_scan, i.indisvalid,
         ${lastIdxScan} AS last_idx_scan_age_seconds,
         i.indisunique OR i.indisprimary OR k.indexrelid IS NOT NULL AS enforces_constraint,
         f.indexrelid IS NOT NULL OR i.indisreplident AS backs_key,
         b.indexrelid IS NOT NULL AS building,
         c.relkind, c.relam, c.relpages, i.indkey::text AS indkey, i.indnkeyatts, i.indclass::text AS indclass,
         i.indcollation::text AS indcollation, i.indoption::text AS indoption,
         -- Stored expression trees without their :location fields (offsets into the CREATE INDEX
         -- text). Not pg_get_expr(): on newer releases it opens the table, so it would queue
         -- behind an ACCESS EXCLUSIVE lock.
         coalesce(regexp_replace(i.indexprs::text, ' :location -?[0-9]+', '', 'g'), '') AS exprs,
         coalesce(regexp_replace(i.indpred::text, ' :location -?[0-9]+', '', 'g'), '') AS pred
  FROM pg_stat_user_indexes s
  JOIN pg_index i ON i.indexrelid = s.indexrelid
  JOIN pg_class c ON c.oid = s.indexrelid
  LEFT JOIN constraint_indexes k ON k.indexrelid = s.indexrelid
  LEFT JOIN fk_indexes f ON f.indexrelid = s.indexrelid
  LEFT JOIN builds b ON b.indexrelid = s.indexrelid
),
dup AS (
  SELECT indexrelid, first_value(indexrelname) OVER w AS keeper, row_number() OVER w AS n
  FROM idx
  WHERE indisvalid
  WINDOW w AS (PARTITION BY relid, relam, indkey, indnkeyatts, indclass, indcollation, indoption, exprs, pred
               ORDER BY enforces_constraint DESC, indexrelid)
),
flagged AS (
  SELECT idx.*,
         NOT indisvalid AND NOT building AS invalid,
         indisvalid AND NOT enforces_constraint AND NOT backs_key AND relkind <> 'I'
           AND (idx_scan = 0 OR coalesce(last_idx_scan_age_seconds > $2::float8, false)) AS unused,
         CASE WHEN dup.n > 1 THEN dup.keeper END AS duplicate_of
  FROM idx LEFT JOIN dup USING (indexrelid)
),
findings AS MATERIALIZED (SELECT * FROM flagged WHERE invalid OR unused OR duplicate_of IS NOT NULL),
listed AS (
  SELECT indexrelid FROM findings ORDER BY invalid DESC, relpages DESC, schemaname, relname, indexrelname LIMIT $3
)
SELECT 'index' AS row_kind, schemaname, relname, indexrelname, invalid, unused,
       coalesce(duplicate_of, '') AS duplicate_of, ${indexSizeSql('indexrelid', 'relid', 'relpages')} AS size_bytes,
       NULL::float8 AS invalid_count, NULL::float8 AS unused_count, NULL::float8 AS duplicate_count,
       NULL::float8 AS invalid_bytes, NULL::float8 AS unused_bytes, NULL::float8 AS duplicate_bytes,
       NULL::float8 AS omitted
FROM findings
WHERE indexrelid IN (SELECT indexrelid FROM listed)
UNION ALL
SELECT 'database', '', '', '', false, false, '', NULL,
       count(*) FILTER (WHERE invalid), count(*) FILTER (WHERE unused),
       count(*) FILTER (WHERE duplicate_of IS NOT NULL),
       ${BLOCK_SIZE} * coalesce(sum(relpages) FILTER (WHERE invalid), 0),
       ${BLOCK_SIZE} * coalesce(sum(relpages) FILTER (WHERE unused), 0),
       ${BLOCK_SIZE} * coalesce(sum(relpages) FILTER (WHERE duplicate_of IS NOT NULL), 0),
       greatest(count(*) - $3, 0)
FROM findings
ORDER BY 1 DESC, 2, 3, 4`;

// Sizes from relpages (no lock taken; as of the last VACUUM/ANALYZE). "Mostly" means the rows read
// by sequential scans outnumber those fetched through indexes. The columns of pg_stat_user_tables
// (its filters: a table, materialized view or partitioned table outside the system schemas) come
// from the pg_stat_get_* functions it calls, and its idx_tup_fetch, a sum over the table's indexes,
// only for the tables that pass the cheaper tests: the view sums it for every table.
const SEQ_SCAN_HEAVY_SQL = `
WITH scanned AS (
  SELECT c.oid, n.nspname AS schemaname, c.relname,
         pg_stat_get_numscans(c.oid)::float8 AS seq_scan, pg_stat_get_tuples_returned(c.oid)::float8 AS seq_tup_read
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'm', 'p')
    AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
    AND c.relpages::float8 * ${BLOCK_SIZE} >= $3::float8
)
SELECT schemaname, relname, seq_tup_read / seq_scan AS rows_per_scan
FROM scanned
WHERE seq_scan >= $1::int8
  AND seq_tup_read >= $2::float8 * seq_scan
  AND seq_tup_read > pg_stat_get_tuples_fetched(oid)
                     + (SELECT coalesce(sum(pg_stat_get_tuples_fetched(i.indexrelid)), 0)
                        FROM pg_index i WHERE i.indrelid = scanned.oid)
ORDER BY schemaname, relname`;

interface IndexHealthSettings {
  readonly unusedIndexAgeSeconds: number;
  readonly maxFindings: number;
  readonly seqScanMinTableBytes: number;
  readonly seqScanMinScans: number;
  readonly seqScanMinRowsPerScan: number;
}

/** Every finding of a database, listed or not, from the last poll. */
const TOTAL_COLUMNS = {
  invalid_count: 'float',
  unused_count: 'float',
  duplicate_count: 'float',
  invalid_bytes: 'float',
  unused_bytes: 'float',
  duplicate_bytes: 'float',
  omitted: 'float',
} as const;

type FindingTotals = RowOf<typeof TOTAL_COLUMNS>;

interface IndexHealthState {
  readonly totals: Map<string, FindingTotals>;
}

type Input = RunInput<IndexHealthSettings, IndexHealthState>;

const FINDING_COLUMNS = {
  row_kind: 'text',
  schemaname: 'text',
  relname: 'text',
  indexrelname: 'text',
  invalid: 'bool',
  unused: 'bool',
  duplicate_of: 'text',
  size_bytes: 'float?',
  invalid_count: 'float?',
  unused_count: 'float?',
  duplicate_count: 'float?',
  invalid_bytes: 'float?',
  unused_bytes: 'float?',
  duplicate_bytes: 'float?',
  omitted: 'float?',
} as const;

type FindingRow = RowOf<typeof FINDING_COLUMNS>;

/** One series per kind of finding, from the totals column of that kind. */
const byKind = <Suffix extends 'count' | 'bytes'>(suffix: Suffix) =>
  ({
    label: 'kind',
    values: { invalid: `invalid_${suffix}`, unused: `unused_${suffix}`, duplicate: `duplicate_${suffix}` },
  }) as const;

const INDEX = ['schemaname', 'relname', 'indexrelname'] as const;

const FINDINGS = query({
  sql: [
    { server: { from: 16 }, sql: findingsSql(LAST_IDX_SCAN_AGE_16) },
    { server: { before: 16 }, sql: findingsSql(LAST_IDX_SCAN_AGE_OLD) },
  ],
  columns: FINDING_COLUMNS,
  datnameLabel: true,
  run: async ({ query, ctx: { datname }, settings, state }: Input, sql) => {
    const rows = await withLockFallback((exact) =>
      query<FindingRow>(sql!, [exact, settings.unusedIndexAgeSeconds, settings.maxFindings]),
    );
    const totals = rows.find((r) => r.row_kind === 'database');
    state.totals.set(datname, {
      invalid_count: totals?.invalid_count ?? 0,
      unused_count: totals?.unused_count ?? 0,
      duplicate_count: totals?.duplicate_count ?? 0,
      invalid_bytes: totals?.invalid_bytes ?? 0,
      unused_bytes: totals?.unused_bytes ?? 0,
      duplicate_bytes: totals?.duplicate_bytes ?? 0,
      omitted: totals?.omitted ?? 0,
    });
    return rows.filter((r) => r.row_kind === 'index');
  },
  metrics: [
    {
      name: INVALID_INDEX_FAMILY,
      type: 'gauge',
      unit: 'bytes',
      help:
        'Invalid index (indisvalid = false, e.g. left by a failed CREATE INDEX CONCURRENTLY; ' +
        'builds in progress excluded); value: its size.',
      labels: INDEX,
      value: (r) => (r.invalid ? (r.size_bytes ?? 0) : null),
    },
    {
      name: UNUSED_INDEX_FAMILY,
      type: 'gauge',
      unit: 'bytes',
      help:
        'Index never scanned since the stats reset (16+: or not within PGVIGIL_UNUSED_INDEX_AGE_SECONDS); ' +
        'indexes enforcing a constraint, backing a foreign key or the replica identity excluded; value: its size.',
      labels: INDEX,
      value: (r) => (r.unused ? (r.size_bytes ?? 0) : null),
    },
    {
      name: 'pg_index_duplicate_size_bytes',
      type: 'gauge',
      unit: 'bytes',
      help:
        'Index with the same table, key, operator classes and predicate as the index in duplicate_of ' +
        '(which is kept); value: its size.',
      labels: [...INDEX, 'duplicate_of'],
      value: (r) => (r.duplicate_of !== '' ? (r.size_bytes ?? 0) : null),
    },
  ],
});

const TOTALS = query({
  columns: TOTAL_COLUMNS,
  datnameLabel: true,
  run: ({ ctx, state }: Input) => storedRow(state.totals, ctx.datname),
  metrics: [
    {
      name: 'pg_index_findings',
      type: 'gauge',
      help: 'Indexes found invalid, unused or duplicate (as the pg_index_*_size_bytes series), listed there or not.',
      value: byKind('count'),
    },
    {
      name: 'pg_index_findings_size_bytes',
      type: 'gauge',
      unit: 'bytes',
      help:
        'Size of all indexes found invalid, unused or duplicate, listed or not ' +
        '(relpages * block_size, as of the last VACUUM/ANALYZE).',
      value: byKind('bytes'),
    },
    {
      name: 'pgvigil_index_health_omitted',
      type: 'gauge',
      help:
        'Index findings left out of the pg_index_*_size_bytes series by PGVIGIL_MAX_INDEX_FINDINGS ' +
        '(invalid ones and the largest are kept).',
      value: 'omitted',
    },
  ],
});

const SEQ_SCAN_HEAVY = query({
  columns: { schemaname: 'text', relname: 'text', rows_per_scan: 'float' },
  datnameLabel: true,
  run: ({ query, settings }: Input) =>
    query<{ schemaname: string; relname: string; rows_per_scan: number }>(SEQ_SCAN_HEAVY_SQL, [
      settings.seqScanMinScans,
      settings.seqScanMinRowsPerScan,
      settings.seqScanMinTableBytes,
    ]),
  metrics: [
    {
      name: 'pg_table_seq_scan_heavy_rows_per_scan',
      type: 'gauge',
      help:
        'Missing-index candidate: a large table read mostly by sequential scans; ' +
        'value: average rows read per sequential scan.',
      labels: ['schemaname', 'relname'],
      value: 'rows_per_scan',
    },
  ],
});

export const indexHealth = defineCollector<IndexHealthSettings, IndexHealthState>({
  name: 'index_health',
  description:
    'Invalid, unused and duplicate indexes; tables read by large sequential scans (missing-index candidates)',
  scope: 'database',
  defaultIntervalSeconds: 300,
  subsystems: ['pg_index', 'pg_table', 'pgvigil_index_health'],
  namesReason:
    'findings are named after what they are about, an index (pg_index_*) or a table (pg_table_*); ' +
    "pgvigil_index_health_omitted counts pgvigil's own cut",
  settings: {
    variables: {
      PGVIGIL_UNUSED_INDEX_AGE_SECONDS: seconds(
        30 * 86400,
        1,
        10 * 365 * 86400,
        'PostgreSQL 16+: an index last scanned longer ago than this ' +
          'counts as unused (any major: never scanned since the stats reset)',
      ),
      PGVIGIL_MAX_INDEX_FINDINGS: Type.Integer({
        default: 1000,
        minimum: 1,
        maximum: 1000000,
        description:
          'Per database: invalid, unused and duplicate indexes with their own series (invalid ones first, then ' +
          'the largest; pg_index_findings counts them all)',
      }),
      PGVIGIL_SEQ_SCAN_MIN_TABLE_BYTES: Type.Number({
        default: 10 * 1024 * 1024,
        minimum: 0,
        description: 'Missing-index candidates: tables at least this big (relpages * block_size)',
      }),
      PGVIGIL_SEQ_SCAN_MIN_SCANS: Type.Integer({
        default: 100,
        minimum: 1,
        description: 'Missing-index candidates: at least this many sequential scans',
      }),
      PGVIGIL_SEQ_SCAN_MIN_ROWS_PER_SCAN: Type.Number({
        default: 10000,
        minimum: 1,
        description: 'Missing-index candidates: at least this many rows read per sequential scan on average',
      }),
    },
    resolve: (values) => ({
      unusedIndexAgeSeconds: (values.PGVIGIL_UNUSED_INDEX_AGE_SECONDS as number | undefined) ?? 30 * 86400,
      maxFindings: (values.PGVIGIL_MAX_INDEX_FINDINGS as number | undefined) ?? 1000,
      seqScanMinTableBytes: (values.PGVIGIL_SEQ_SCAN_MIN_TABLE_BYTES as number | undefined) ?? 10 * 1024 * 1024,
      seqScanMinScans: (values.PGVIGIL_SEQ_SCAN_MIN_SCANS as number | undefined) ?? 100,
      seqScanMinRowsPerScan: (values.PGVIGIL_SEQ_SCAN_MIN_ROWS_PER_SCAN as number | undefined) ?? 10000,
    }),
  },
  state: () => ({ totals: new Map() }),
  queries: [FINDINGS, TOTALS, SEQ_SCAN_HEAVY],
});
