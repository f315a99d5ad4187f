import { counter, gauge, type Family } from '../exposition.js';
import { ObjectCap } from './cardinality.js';
import { indexSizeSql, LOCKED_RELATIONS_CTE, withLockFallback } from './relation-locks.js';
import { familiesFromRows, type ColumnMetric } from './row-families.js';
import { SizeCache, withCachedSizes } from './size-cache.js';
import type { CollectorDefinition } from './types.js';

// pg_stat_user_indexes + pg_statio_user_indexes + pg_index, one query per database: how often each
// index is used, its buffer hits and reads (hit ratio in PromQL), its size and its flags. Sizes
// avoid pg_relation_size() for an index or table with an ACCESS EXCLUSIVE lock held or awaited
// (see relation-locks.ts), and are read at most every PGVIGIL_SIZES_INTERVAL_SECONDS (size-cache.ts).

// last_idx_scan exists from PostgreSQL 16 on; before, the column is NULL and the series absent.
const indexesSql = (lastIdxScan: string) => `
WITH ${LOCKED_RELATIONS_CTE}
SELECT s.schemaname, s.relname, s.indexrelname,
       s.idx_scan::float8, s.idx_tup_read::float8, s.idx_tup_fetch::float8,
       io.idx_blks_read::float8, io.idx_blks_hit::float8,
       ${indexSizeSql('s.indexrelid', 's.relid', 'c.relpages', '$2::bool')} AS size_bytes,
       i.indisvalid AS valid, i.indisunique AS is_unique, i.indisprimary AS is_primary,
       ${lastIdxScan} AS last_idx_scan_age_seconds
FROM pg_stat_user_indexes s
JOIN pg_statio_user_indexes io ON io.indexrelid = s.indexrelid
JOIN pg_index i ON i.indexrelid = s.indexrelid
JOIN pg_class c ON c.oid = s.indexrelid
ORDER BY s.schemaname, s.relname, s.indexrelname`;

const indexKey = (r: IndexRow) => `${r.schemaname}\u0000${r.indexrelname}`;

export const LAST_IDX_SCAN_AGE_16 = 'extract(epoch FROM now() - s.last_idx_scan)::float8';
export const LAST_IDX_SCAN_AGE_OLD = 'NULL::float8';

interface IndexRow {
  schemaname: string;
  relname: string;
  indexrelname: string;
  idx_scan: number;
  idx_tup_read: number;
  idx_tup_fetch: number;
  idx_blks_read: number;
  idx_blks_hit: number;
  size_bytes: number | null;
  valid: boolean;
  is_unique: boolean;
  is_primary: boolean;
  last_idx_scan_age_seconds: number | null;
}

const I = 'pg_stat_user_indexes';
const IO = 'pg_statio_user_indexes';

const INDEX_METRICS: readonly ColumnMetric<IndexRow>[] = [
  { column: 'idx_scan', name: `${I}_idx_scan_total`, type: 'counter', help: 'Scans started on the index.' },
  { column: 'idx_tup_read', name: `${I}_idx_tup_read_total`, type: 'counter', help: 'Index entries returned by scans of the index.' },
  { column: 'idx_tup_fetch', name: `${I}_idx_tup_fetch_total`, type: 'counter', help: 'Live table rows fetched by simple index scans of the index.' },
  { column: 'idx_blks_read', name: `${IO}_idx_blks_read_total`, type: 'counter', help: 'Index blocks read from outside shared buffers.' },
  { column: 'idx_blks_hit', name: `${IO}_idx_blks_hit_total`, type: 'counter', help: 'Index blocks found in shared buffers.' },
  {
    column: 'size_bytes',
    name: `${I}_size_bytes`,
    type: 'gauge',
    help: 'Index size (pg_relation_size); relpages * block_size while the index or its table is ACCESS EXCLUSIVE locked.',
  },
  {
    column: 'last_idx_scan_age_seconds',
    name: `${I}_last_idx_scan_age_seconds`,
    type: 'gauge',
    help: 'PostgreSQL 16+: seconds since the index was last scanned (absent when never, or before 16).',
  },
];

const flag = (b: boolean) => (b ? 'true' : 'false');

export const pgStatUserIndexes: CollectorDefinition = {
  name: 'indexes',
  description: 'pg_stat_user_indexes, pg_statio_user_indexes, pg_index: scans, tuples, I/O, size, flags',
  scope: 'database',
  defaultIntervalSeconds: 60,
  create(config) {
    const sizes = new SizeCache<Pick<IndexRow, 'size_bytes'>>(config.PGVIGIL_SIZES_INTERVAL_SECONDS * 1000);
    const cap = new ObjectCap<IndexRow>(indexKey, [(r) => r.size_bytes ?? 0, (r) => r.idx_scan]);
    return {
      async collect({ query, datname, facts, now }): Promise<Family[]> {
        const sql = indexesSql(facts.major >= 16 ? LAST_IDX_SCAN_AGE_16 : LAST_IDX_SCAN_AGE_OLD);
        const sizesDue = sizes.due(datname, now);
        const fetched = await withLockFallback((exact) => query<IndexRow>(sql, [exact, sizesDue]));
        const rows = withCachedSizes(sizes, datname, now, sizesDue, fetched, indexKey, (r) => ({ size_bytes: r.size_bytes }), { size_bytes: null });
        // The per-database pair covers every index, so the hit ratio stays whole when the cap cuts.
        let hit = 0;
        let read = 0;
        for (const r of rows) {
          hit += r.idx_blks_hit;
          read += r.idx_blks_read;
        }
        const { kept, omitted } = cap.apply(datname, rows, config.PGVIGIL_MAX_INDEXES);
        const labelsOf = (r: IndexRow) => ({ datname, schemaname: r.schemaname, relname: r.relname, indexrelname: r.indexrelname });
        const labels = { datname };
        return [
          ...familiesFromRows(INDEX_METRICS, kept, labelsOf),
          gauge(
            `${I}_info`,
            'One series per index with its flags as labels (valid=false: a failed or running CREATE INDEX CONCURRENTLY); always 1.',
            kept.map((r) => ({
              labels: { ...labelsOf(r), valid: flag(r.valid), unique: flag(r.is_unique), primary: flag(r.is_primary) },
              value: 1,
            })),
          ),
          counter(`${IO}_database_idx_blks_hit_total`, 'Index blocks found in shared buffers, all user indexes of the database.', [
            { labels, value: hit },
          ]),
          counter(`${IO}_database_idx_blks_read_total`, 'Index blocks read from outside shared buffers, all user indexes of the database.', [
            { labels, value: read },
          ]),
          gauge(
            'pgvigil_indexes_omitted',
            'User indexes left out of the per-index series by PGVIGIL_MAX_INDEXES (the largest and most scanned are kept).',
            [{ labels, value: omitted }],
          ),
        ];
      },
    };
  },
};
