import { Type } from '@sinclair/typebox';
import { seconds } from '../config.js';
import type { RowOf } from './collector-spec.js';
import { defineCollector, query } from './define.js';
import { LAST_IDX_SCAN_AGE_16, LAST_IDX_SCAN_AGE_OLD } from './indexes.js';
import { indexSizeSql, LOCKED_RELATIONS_CTE, withLockFallback } from './relation-locks.js';
import type { QueryFn } from './types.js';

/** Also read by the status page (src/status-page.ts). */
export const UNUSED_INDEX_FAMILY = 'pg_index_unused_size_bytes';

/** Also read by the status page (src/status-page.ts). */
export const INVALID_INDEX_FAMILY = 'pg_index_invalid_size_bytes';

// Findings about indexes, per database: invalid, unused and duplicate indexes, and tables read
// mostly by large sequential scans (missing-index candidates). Only flagged objects produce
// series, so these families are small and are NOT subject to PGVIGIL_MAX_TABLES/_INDEXES: a
// finding must never be cut. Each series' value is the size a fix would give back.
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
)
SELECT schemaname, relname, indexrelname, invalid, unused, coalesce(duplicate_of, '') AS duplicate_of,
       ${indexSizeSql('indexrelid', 'relid', 'relpages')} AS size_bytes
FROM flagged
WHERE invalid OR unused OR duplicate_of IS NOT NULL
ORDER BY schemaname, relname, indexrelname`;

// Sizes from relpages (no lock taken; as of the last VACUUM/ANALYZE). "Mostly" means the rows read
// by sequential scans outnumber those fetched through indexes.
const SEQ_SCAN_HEAVY_SQL = `
SELECT s.schemaname, s.relname, (s.seq_tup_read::float8 / s.seq_scan) AS rows_per_scan
FROM pg_stat_user_tables s
JOIN pg_class c ON c.oid = s.relid
WHERE s.seq_scan >= $1::int8
  AND s.seq_tup_read >= $2::float8 * s.seq_scan
  AND s.seq_tup_read > coalesce(s.idx_tup_fetch, 0)
  AND c.relpages::float8 * current_setting('block_size')::float8 >= $3::float8
ORDER BY s.schemaname, s.relname`;

interface IndexHealthSettings {
  readonly unusedIndexAgeSeconds: number;
  readonly seqScanMinTableBytes: number;
  readonly seqScanMinScans: number;
  readonly seqScanMinRowsPerScan: number;
}

type Input = { query: QueryFn; settings: IndexHealthSettings };

const FINDING_COLUMNS = {
  schemaname: 'text',
  relname: 'text',
  indexrelname: 'text',
  invalid: 'bool',
  unused: 'bool',
  duplicate_of: 'text',
  size_bytes: 'float?',
} as const;

const INDEX = ['schemaname', 'relname', 'indexrelname'] as const;

const FINDINGS = query({
  sql: [
    { server: { from: 16 }, sql: findingsSql(LAST_IDX_SCAN_AGE_16) },
    { server: { before: 16 }, sql: findingsSql(LAST_IDX_SCAN_AGE_OLD) },
  ],
  columns: FINDING_COLUMNS,
  datnameLabel: true,
  run: ({ query, settings }: Input, sql) =>
    withLockFallback((exact) => query<RowOf<typeof FINDING_COLUMNS>>(sql!, [exact, settings.unusedIndexAgeSeconds])),
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

export const indexHealth = defineCollector<IndexHealthSettings>({
  name: 'index_health',
  description:
    'Invalid, unused and duplicate indexes; tables read by large sequential scans (missing-index candidates)',
  scope: 'database',
  defaultIntervalSeconds: 300,
  subsystems: ['pg_index', 'pg_table'],
  namesReason: 'findings are named after what they are about, an index (pg_index_*) or a table (pg_table_*)',
  settings: {
    variables: {
      PGVIGIL_UNUSED_INDEX_AGE_SECONDS: seconds(
        30 * 86400,
        1,
        10 * 365 * 86400,
        'PostgreSQL 16+: an index last scanned longer ago than this ' +
          'counts as unused (any major: never scanned since the stats reset)',
      ),
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
      seqScanMinTableBytes: (values.PGVIGIL_SEQ_SCAN_MIN_TABLE_BYTES as number | undefined) ?? 10 * 1024 * 1024,
      seqScanMinScans: (values.PGVIGIL_SEQ_SCAN_MIN_SCANS as number | undefined) ?? 100,
      seqScanMinRowsPerScan: (values.PGVIGIL_SEQ_SCAN_MIN_ROWS_PER_SCAN as number | undefined) ?? 10000,
    }),
  },
  queries: [FINDINGS, SEQ_SCAN_HEAVY],
});
