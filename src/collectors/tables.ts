import { Type } from '@sinclair/typebox';
import { ObjectCap, STICKINESS } from './cardinality.js';
import type { MetricSpec, RowOf, RunInput } from './collector-spec.js';
import { defineCollector, query, storedRow } from './define.js';
import { LOCKED_RELATIONS_CTE, withLockFallback } from './relation-locks.js';
import { inBatchTransaction, passSettings, SIZES_INTERVAL_VARIABLE, SizePasses } from './size-cache.js';

// pg_stat_user_tables + pg_statio_user_tables + pg_class, one query per database: activity,
// vacuum state, I/O, sizes, wraparound age and a bloat estimate for every user table. These views
// only show the connected database, so this collector runs on every discovered database.

// Statistics, every poll: the columns of pg_stat_user_tables and pg_statio_user_tables, read from
// the pg_stat_get_* functions those views call, with what pg_class holds (no file is opened). The
// views each group every table's indexes again (pg_stat_user_tables to sum idx_scan, statio to sum
// index blocks), and joining them made this read cost 1.5x warm and 3.5x on a new connection what
// one pass over pg_index does here (20,000 tables, 60,000 indexes; same rows). Their filters: a
// table or matview (statio lists no partitioned parent) outside pg_catalog, information_schema and
// the pg_toast schemas.
//
// The cap is applied here rather than in Node, so a database of 50,000 tables ships a few thousand
// rows, not all of them: a table is a candidate when it ranks within the first $1 by size, by scans
// or by writes (the rankings ObjectCap applies to the candidates, computed the same way, so the
// kept set is the one a cap over all tables would keep). Size for ranking is pg_class.relpages of
// the table, its TOAST table and their indexes (as of the last VACUUM/ANALYZE): exact sizes need
// every file statted. $2: tables kept last poll, which rank as if STICKINESS times larger and
// busier. Rows of row_kind 'schema' sum every table of a schema.
const STATISTICS_SQL = `
WITH index_pages AS MATERIALIZED (
  SELECT i.indrelid, sum(ic.relpages) AS pages,
         sum(pg_stat_get_numscans(i.indexrelid)) AS idx_scan,
         sum(pg_stat_get_tuples_fetched(i.indexrelid)) AS idx_tup_fetch,
         sum(pg_stat_get_blocks_fetched(i.indexrelid) - pg_stat_get_blocks_hit(i.indexrelid)) AS blks_read,
         sum(pg_stat_get_blocks_hit(i.indexrelid)) AS blks_hit
  FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
  GROUP BY i.indrelid
),
kept_before AS (SELECT DISTINCT unnest($2::oid[]) AS relid),
tables AS MATERIALIZED (
  SELECT c.oid::int8::float8 AS relid, n.nspname AS schemaname, c.relname,
         pg_stat_get_numscans(c.oid)::float8 AS seq_scan,
         pg_stat_get_tuples_returned(c.oid)::float8 AS seq_tup_read,
         coalesce(ip.idx_scan, 0)::float8 AS idx_scan,
         coalesce(ip.idx_tup_fetch + pg_stat_get_tuples_fetched(c.oid), 0)::float8 AS idx_tup_fetch,
         pg_stat_get_tuples_inserted(c.oid)::float8 AS n_tup_ins,
         pg_stat_get_tuples_updated(c.oid)::float8 AS n_tup_upd,
         pg_stat_get_tuples_deleted(c.oid)::float8 AS n_tup_del,
         pg_stat_get_tuples_hot_updated(c.oid)::float8 AS n_tup_hot_upd,
         pg_stat_get_live_tuples(c.oid)::float8 AS n_live_tup, pg_stat_get_dead_tuples(c.oid)::float8 AS n_dead_tup,
         pg_stat_get_mod_since_analyze(c.oid)::float8 AS n_mod_since_analyze,
         pg_stat_get_vacuum_count(c.oid)::float8 AS vacuum_count,
         pg_stat_get_autovacuum_count(c.oid)::float8 AS autovacuum_count,
         pg_stat_get_analyze_count(c.oid)::float8 AS analyze_count,
         pg_stat_get_autoanalyze_count(c.oid)::float8 AS autoanalyze_count,
         extract(epoch FROM now() - pg_stat_get_last_vacuum_time(c.oid))::float8 AS last_vacuum_age_seconds,
         extract(epoch FROM now() - pg_stat_get_last_autovacuum_time(c.oid))::float8 AS last_autovacuum_age_seconds,
         extract(epoch FROM now() - pg_stat_get_last_analyze_time(c.oid))::float8 AS last_analyze_age_seconds,
         extract(epoch FROM now() - pg_stat_get_last_autoanalyze_time(c.oid))::float8 AS last_autoanalyze_age_seconds,
         (pg_stat_get_blocks_fetched(c.oid) - pg_stat_get_blocks_hit(c.oid))::float8 AS heap_blks_read,
         pg_stat_get_blocks_hit(c.oid)::float8 AS heap_blks_hit,
         ip.blks_read::float8 AS idx_blks_read, ip.blks_hit::float8 AS idx_blks_hit,
         (pg_stat_get_blocks_fetched(t.oid) - pg_stat_get_blocks_hit(t.oid))::float8 AS toast_blks_read,
         pg_stat_get_blocks_hit(t.oid)::float8 AS toast_blks_hit,
         tip.blks_read::float8 AS tidx_blks_read, tip.blks_hit::float8 AS tidx_blks_hit,
         (CASE WHEN c.relkind <> 'p' THEN greatest(age(c.relfrozenxid), age(t.relfrozenxid)) END)::float8 AS xid_age,
         ((c.relpages + coalesce(t.relpages, 0) + coalesce(ip.pages, 0) + coalesce(tip.pages, 0))
          * current_setting('block_size')::float8) AS catalog_bytes,
         CASE WHEN k.relid IS NOT NULL THEN ${STICKINESS}::float8 ELSE 1::float8 END AS bonus
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_class t ON t.oid = c.reltoastrelid
  LEFT JOIN index_pages ip ON ip.indrelid = c.oid
  LEFT JOIN index_pages tip ON tip.indrelid = c.reltoastrelid
  LEFT JOIN kept_before k ON k.relid = c.oid
  WHERE c.relkind IN ('r', 'm')
    AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
),
ranked AS (
  SELECT *,
         row_number() OVER (ORDER BY catalog_bytes * bonus DESC, schemaname, relname) AS by_size,
         row_number() OVER (ORDER BY (seq_scan + idx_scan) * bonus DESC, catalog_bytes * bonus DESC,
                                     schemaname, relname) AS by_scans,
         row_number() OVER (ORDER BY (n_tup_ins + n_tup_upd + n_tup_del) * bonus DESC, catalog_bytes * bonus DESC,
                                     schemaname, relname) AS by_writes
  FROM tables
)
SELECT 'table' AS row_kind, relid, schemaname, relname, seq_scan, seq_tup_read, idx_scan, idx_tup_fetch,
       n_tup_ins, n_tup_upd, n_tup_del, n_tup_hot_upd, n_live_tup, n_dead_tup, n_mod_since_analyze,
       (CASE WHEN n_live_tup + n_dead_tup > 0 THEN n_dead_tup / (n_live_tup + n_dead_tup) ELSE 0 END)
         AS dead_tuple_ratio,
       vacuum_count, autovacuum_count, analyze_count, autoanalyze_count,
       last_vacuum_age_seconds, last_autovacuum_age_seconds, last_analyze_age_seconds, last_autoanalyze_age_seconds,
       heap_blks_read, heap_blks_hit, idx_blks_read, idx_blks_hit,
       toast_blks_read, toast_blks_hit, tidx_blks_read, tidx_blks_hit, xid_age, catalog_bytes,
       1::float8 AS tables
FROM ranked
WHERE by_size <= $1 OR (by_scans <= $1 AND seq_scan + idx_scan > 0)
   OR (by_writes <= $1 AND n_tup_ins + n_tup_upd + n_tup_del > 0)
UNION ALL
SELECT 'schema', 0, schemaname, '', sum(seq_scan), sum(seq_tup_read), sum(idx_scan), sum(idx_tup_fetch),
       sum(n_tup_ins), sum(n_tup_upd), sum(n_tup_del), sum(n_tup_hot_upd), sum(n_live_tup), sum(n_dead_tup),
       sum(n_mod_since_analyze), 0, sum(vacuum_count), sum(autovacuum_count), sum(analyze_count),
       sum(autoanalyze_count), NULL, NULL, NULL, NULL,
       sum(heap_blks_read), sum(heap_blks_hit), sum(idx_blks_read), sum(idx_blks_hit),
       sum(toast_blks_read), sum(toast_blks_hit), sum(tidx_blks_read), sum(tidx_blks_hit), max(xid_age),
       sum(catalog_bytes), count(*)
FROM tables GROUP BY schemaname
ORDER BY 1 DESC, 3, 4`;

// Sizes and the bloat estimate, on their slow interval, for the tables with OIDs after $2, at most
// $3 of them ($1 = false: catalog sizes only, see relation-locks.ts); size-cache.ts reads a pass of such
// batches across polls.
//
// A table counts as locked when it, its TOAST table or one of its indexes is: pg_total_relation_size
// opens all of them (see relation-locks.ts). Catalog sizes are relpages from the last VACUUM/ANALYZE.
//
// Bloat estimate (ioguix's pgsql-bloat-estimation, table query): the size the live rows would take
// if packed at the table's fillfactor, from pg_class.reltuples and pg_stats.avg_width/null_frac,
// compared with the pages the table has. Limits: it is only as fresh as the last ANALYZE; it assumes
// 8-byte MAXALIGN (64-bit) and ignores per-column alignment padding, so tables of many small
// mixed-width columns read a little high; TOAST is approximated as 4 chunks per page. It needs
// pg_stats rows for every column, which PostgreSQL shows only to roles that may SELECT those columns
// (pg_monitor alone may not): without them, or before the first ANALYZE, the series is absent.
// Tables with `name` columns are skipped as ioguix does (their avg_width misleads the estimate).
// The relkind and schema filters are those of pg_stat_user_tables.
const SIZES_SQL = `
WITH ${LOCKED_RELATIONS_CTE},
tables AS MATERIALIZED (
  SELECT c.oid AS relid, n.nspname AS schemaname, c.relname, c.relpages, c.reltuples, c.reltoastrelid,
         t.relpages AS toast_relpages, t.reltuples AS toast_reltuples,
         coalesce((regexp_match(array_to_string(c.reloptions, ','), 'fillfactor=([0-9]+)'))[1]::int, 100) AS fillfactor
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_class t ON t.oid = c.reltoastrelid
  WHERE c.oid > $2::oid AND c.relkind IN ('r', 't', 'm', 'p')
    AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
  ORDER BY c.oid
  LIMIT $3
),
blocked AS (
  SELECT relid FROM locked
  UNION SELECT i.indrelid FROM pg_index i JOIN locked ON locked.relid = i.indexrelid
  UNION SELECT c.oid FROM pg_class c JOIN locked ON locked.relid = c.reltoastrelid
),
-- pg_stats read once for the batch and hash-joined: joined per column, its view (privilege checks
-- on every pg_statistic row) ran as a nested loop.
stats AS MATERIALIZED (
  SELECT schemaname, tablename, attname, null_frac, avg_width FROM pg_stats
  WHERE NOT inherited AND (schemaname, tablename) IN (SELECT schemaname, relname FROM tables)
),
widths AS (
  SELECT t.relid,
         23 + CASE WHEN max(coalesce(st.null_frac, 0)) > 0 THEN (7 + count(*)) / 8 ELSE 0 END AS header_bytes,
         sum((1 - coalesce(st.null_frac, 0)) * coalesce(st.avg_width, 0)) AS data_bytes,
         count(*) = count(st.attname) AND NOT bool_or(a.atttypid = 'pg_catalog.name'::regtype) AS estimable
  FROM tables t
  JOIN pg_attribute a ON a.attrelid = t.relid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN stats st ON st.schemaname = t.schemaname AND st.tablename = t.relname AND st.attname = a.attname
  GROUP BY t.relid
),
-- pg_total_relation_size = pg_table_size + pg_indexes_size: calling the two parts once each gives
-- all three sizes without statting the index files twice.
sized AS (
  SELECT t.*, w.estimable, current_setting('block_size')::float8 AS bs,
         4 + ceil(w.header_bytes / 8.0) * 8 + ceil(w.data_bytes / 8.0) * 8 AS tuple_bytes,
         b.relid IS NOT NULL OR NOT $1::bool AS catalog_sizes
  FROM tables t LEFT JOIN widths w ON w.relid = t.relid LEFT JOIN blocked b ON b.relid = t.relid
),
measured AS (
  SELECT s.*,
         CASE WHEN s.catalog_sizes
              THEN (s.relpages + coalesce(s.toast_relpages, 0)
                    + (SELECT coalesce(sum(ic.relpages), 0) FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
                       WHERE i.indrelid = s.reltoastrelid)) * s.bs
              ELSE pg_table_size(s.relid) END AS heap_and_toast_bytes,
         CASE WHEN s.catalog_sizes
              THEN (SELECT coalesce(sum(ic.relpages), 0) FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
                    WHERE i.indrelid = s.relid) * s.bs
              ELSE pg_indexes_size(s.relid) END AS index_bytes
  FROM sized s
)
SELECT relid::int8::float8 AS relid, schemaname,
       (CASE WHEN catalog_sizes THEN relpages * bs ELSE pg_relation_size(relid) END)::float8 AS table_size_bytes,
       (heap_and_toast_bytes + index_bytes)::float8 AS total_size_bytes,
       index_bytes::float8 AS index_size_bytes,
       catalog_sizes,
       (CASE WHEN estimable AND reltuples >= 0 AND tuple_bytes > 0 THEN
          greatest(relpages + coalesce(toast_relpages, 0)
                   - ceil(reltuples / ((bs - 24) * fillfactor / (100.0 * tuple_bytes)))
                   - ceil(greatest(coalesce(toast_reltuples, 0), 0) / 4), 0) * bs
        END)::float8 AS bloat_estimate_bytes
FROM measured
ORDER BY relid`;

const TABLE_COLUMNS = {
  row_kind: 'text',
  relid: 'float',
  schemaname: 'text',
  relname: 'text',
  seq_scan: 'float',
  seq_tup_read: 'float',
  idx_scan: 'float',
  idx_tup_fetch: 'float',
  n_tup_ins: 'float',
  n_tup_upd: 'float',
  n_tup_del: 'float',
  n_tup_hot_upd: 'float',
  n_live_tup: 'float',
  n_dead_tup: 'float',
  n_mod_since_analyze: 'float',
  dead_tuple_ratio: 'float',
  vacuum_count: 'float',
  autovacuum_count: 'float',
  analyze_count: 'float',
  autoanalyze_count: 'float',
  last_vacuum_age_seconds: 'float?',
  last_autovacuum_age_seconds: 'float?',
  last_analyze_age_seconds: 'float?',
  last_autoanalyze_age_seconds: 'float?',
  heap_blks_read: 'float?',
  heap_blks_hit: 'float?',
  idx_blks_read: 'float?',
  idx_blks_hit: 'float?',
  toast_blks_read: 'float?',
  toast_blks_hit: 'float?',
  tidx_blks_read: 'float?',
  tidx_blks_hit: 'float?',
  table_size_bytes: 'float?',
  total_size_bytes: 'float?',
  index_size_bytes: 'float?',
  catalog_sizes: 'bool',
  xid_age: 'float?',
  bloat_estimate_bytes: 'float?',
  catalog_bytes: 'float',
  tables: 'float',
} as const;

type TableRow = RowOf<typeof TABLE_COLUMNS>;

const SIZE_COLUMNS = {
  relid: 'float',
  schemaname: 'text',
  table_size_bytes: 'float?',
  total_size_bytes: 'float?',
  index_size_bytes: 'float?',
  catalog_sizes: 'bool',
  bloat_estimate_bytes: 'float?',
} as const;

type SizeRow = RowOf<typeof SIZE_COLUMNS>;
type TableSizes = Omit<SizeRow, 'relid'>;

const NO_SIZES: Omit<TableSizes, 'schemaname'> = {
  table_size_bytes: null,
  total_size_bytes: null,
  index_size_bytes: null,
  bloat_estimate_bytes: null,
  catalog_sizes: false,
};

const pickSizes = ({ relid: _, ...sizes }: SizeRow): TableSizes => sizes;

const TABLE = ['schemaname', 'relname'] as const;

const TABLE_METRICS: readonly MetricSpec<typeof TABLE_COLUMNS>[] = [
  {
    value: 'seq_scan',
    name: 'pg_stat_user_tables_seq_scan_total',
    labels: TABLE,
    type: 'counter',
    help: 'Sequential scans started on the table.',
  },
  {
    value: 'seq_tup_read',
    name: 'pg_stat_user_tables_seq_tup_read_total',
    labels: TABLE,
    type: 'counter',
    help: 'Live rows fetched by sequential scans.',
  },
  {
    value: 'idx_scan',
    name: 'pg_stat_user_tables_idx_scan_total',
    labels: TABLE,
    type: 'counter',
    help: 'Index scans started on the table (0 without indexes).',
  },
  {
    value: 'idx_tup_fetch',
    name: 'pg_stat_user_tables_idx_tup_fetch_total',
    labels: TABLE,
    type: 'counter',
    help: 'Live rows fetched by index scans.',
  },
  {
    value: 'n_tup_ins',
    name: 'pg_stat_user_tables_n_tup_ins_total',
    labels: TABLE,
    type: 'counter',
    help: 'Rows inserted.',
  },
  {
    value: 'n_tup_upd',
    name: 'pg_stat_user_tables_n_tup_upd_total',
    labels: TABLE,
    type: 'counter',
    help: 'Rows updated (HOT updates included).',
  },
  {
    value: 'n_tup_del',
    name: 'pg_stat_user_tables_n_tup_del_total',
    labels: TABLE,
    type: 'counter',
    help: 'Rows deleted.',
  },
  {
    value: 'n_tup_hot_upd',
    name: 'pg_stat_user_tables_n_tup_hot_upd_total',
    labels: TABLE,
    type: 'counter',
    help: 'Rows HOT-updated (no index entry written).',
  },
  {
    value: 'n_live_tup',
    name: 'pg_stat_user_tables_n_live_tup',
    labels: TABLE,
    type: 'gauge',
    help: 'Estimated live rows.',
  },
  {
    value: 'n_dead_tup',
    name: 'pg_stat_user_tables_n_dead_tup',
    labels: TABLE,
    type: 'gauge',
    help: 'Estimated dead rows, waiting for VACUUM.',
  },
  {
    value: 'n_mod_since_analyze',
    name: 'pg_stat_user_tables_n_mod_since_analyze',
    labels: TABLE,
    type: 'gauge',
    help: 'Rows modified since the last ANALYZE.',
  },
  {
    value: 'dead_tuple_ratio',
    name: 'pg_stat_user_tables_dead_tuple_ratio',
    unit: 'ratio',
    labels: TABLE,
    type: 'gauge',
    help: 'n_dead_tup / (n_live_tup + n_dead_tup); 0 for an empty table.',
  },
  {
    value: 'vacuum_count',
    name: 'pg_stat_user_tables_vacuum_total',
    labels: TABLE,
    type: 'counter',
    help: 'Manual VACUUMs (not FULL) of the table.',
  },
  {
    value: 'autovacuum_count',
    name: 'pg_stat_user_tables_autovacuum_total',
    labels: TABLE,
    type: 'counter',
    help: 'Autovacuum runs on the table.',
  },
  {
    value: 'analyze_count',
    name: 'pg_stat_user_tables_analyze_total',
    labels: TABLE,
    type: 'counter',
    help: 'Manual ANALYZEs of the table.',
  },
  {
    value: 'autoanalyze_count',
    name: 'pg_stat_user_tables_autoanalyze_total',
    labels: TABLE,
    type: 'counter',
    help: 'Autovacuum ANALYZE runs on the table.',
  },
  {
    value: 'last_vacuum_age_seconds',
    name: 'pg_stat_user_tables_last_vacuum_age_seconds',
    unit: 'seconds',
    labels: TABLE,
    type: 'gauge',
    help: 'Seconds since the last manual VACUUM (absent when never since the stats reset).',
  },
  {
    value: 'last_autovacuum_age_seconds',
    name: 'pg_stat_user_tables_last_autovacuum_age_seconds',
    unit: 'seconds',
    labels: TABLE,
    type: 'gauge',
    help: 'Seconds since the last autovacuum (absent when never since the stats reset).',
  },
  {
    value: 'last_analyze_age_seconds',
    name: 'pg_stat_user_tables_last_analyze_age_seconds',
    unit: 'seconds',
    labels: TABLE,
    type: 'gauge',
    help: 'Seconds since the last manual ANALYZE (absent when never since the stats reset).',
  },
  {
    value: 'last_autoanalyze_age_seconds',
    name: 'pg_stat_user_tables_last_autoanalyze_age_seconds',
    unit: 'seconds',
    labels: TABLE,
    type: 'gauge',
    help: 'Seconds since the last autovacuum ANALYZE (absent when never since the stats reset).',
  },
  {
    value: 'heap_blks_read',
    name: 'pg_statio_user_tables_heap_blocks_read_total',
    labels: TABLE,
    type: 'counter',
    help: 'Heap blocks read from outside shared buffers.',
  },
  {
    value: 'heap_blks_hit',
    name: 'pg_statio_user_tables_heap_blocks_hit_total',
    labels: TABLE,
    type: 'counter',
    help: 'Heap blocks found in shared buffers.',
  },
  {
    value: 'idx_blks_read',
    name: 'pg_statio_user_tables_idx_blocks_read_total',
    labels: TABLE,
    type: 'counter',
    help: "Blocks of all the table's indexes read from outside shared buffers.",
  },
  {
    value: 'idx_blks_hit',
    name: 'pg_statio_user_tables_idx_blocks_hit_total',
    labels: TABLE,
    type: 'counter',
    help: "Blocks of all the table's indexes found in shared buffers.",
  },
  {
    value: 'toast_blks_read',
    name: 'pg_statio_user_tables_toast_blocks_read_total',
    labels: TABLE,
    type: 'counter',
    help: 'TOAST blocks read from outside shared buffers (absent without TOAST).',
  },
  {
    value: 'toast_blks_hit',
    name: 'pg_statio_user_tables_toast_blocks_hit_total',
    labels: TABLE,
    type: 'counter',
    help: 'TOAST blocks found in shared buffers (absent without TOAST).',
  },
  {
    value: 'tidx_blks_read',
    name: 'pg_statio_user_tables_tidx_blocks_read_total',
    labels: TABLE,
    type: 'counter',
    help: 'TOAST index blocks read from outside shared buffers.',
  },
  {
    value: 'tidx_blks_hit',
    name: 'pg_statio_user_tables_tidx_blocks_hit_total',
    labels: TABLE,
    type: 'counter',
    help: 'TOAST index blocks found in shared buffers.',
  },
  {
    value: 'table_size_bytes',
    name: 'pg_stat_user_tables_table_size_bytes',
    unit: 'bytes',
    labels: TABLE,
    type: 'gauge',
    help: 'Main fork size (pg_relation_size); relpages * block_size while the table is ACCESS EXCLUSIVE locked.',
  },
  {
    value: 'total_size_bytes',
    name: 'pg_stat_user_tables_total_size_bytes',
    unit: 'bytes',
    labels: TABLE,
    type: 'gauge',
    help: 'Table, TOAST and indexes (pg_total_relation_size); from relpages while ACCESS EXCLUSIVE locked.',
  },
  {
    value: 'index_size_bytes',
    name: 'pg_stat_user_tables_index_size_bytes',
    unit: 'bytes',
    labels: TABLE,
    type: 'gauge',
    help: 'All indexes of the table (pg_indexes_size); from relpages while ACCESS EXCLUSIVE locked.',
  },
  {
    value: 'xid_age',
    name: 'pg_stat_user_tables_xid_age',
    labels: TABLE,
    type: 'gauge',
    help:
      'Transactions since relfrozenxid (the older of table and TOAST); autovacuum ' +
      'forces a freeze at autovacuum_freeze_max_age, wraparound stops writes near 2^31.',
  },
  {
    value: 'bloat_estimate_bytes',
    name: 'pg_stat_user_tables_bloat_estimate_bytes',
    unit: 'bytes',
    labels: TABLE,
    type: 'gauge',
    help:
      'Catalog-based estimate of space beyond what live rows need at the ' +
      'fillfactor (no pgstattuple); absent without pg_stats for every column.',
  },
];

interface TablesSettings {
  readonly maxTables: number;
  readonly sizesIntervalSeconds: number;
}

interface SchemaRollup {
  schemaname: string;
  tables: number;
  seq_scan: number;
  idx_scan: number;
  n_live_tup: number;
  n_dead_tup: number;
  n_tup_ins: number;
  n_tup_upd: number;
  n_tup_del: number;
  total_size_bytes: number | null;
  bloat_estimate_bytes: number | null;
}

interface DatabaseSummary {
  sized_from_catalog: number;
  omitted: number;
  sizes_stale: number;
  sizes_age_seconds: number | null;
}

interface TablesState {
  readonly sizes: SizePasses<TableSizes>;
  readonly cap: ObjectCap<TableRow>;
  /** What the last read of each database left out, summed per schema and did with sizes. */
  readonly summary: Map<string, DatabaseSummary>;
  readonly schemas: Map<string, SchemaRollup[]>;
}

type Input = RunInput<TablesSettings, TablesState>;

const readSizes = async ({ query, ctx: { datname, now }, state }: Input, sql: string) => {
  await state.sizes.advance(
    datname,
    now,
    (after, limit) =>
      withLockFallback((exact) =>
        inBatchTransaction(query, state.sizes.settings, () => query<SizeRow>(sql, [exact, after, limit])),
      ),
    pickSizes,
  );
};

/** Per schema: the statistics of every table (rolled up in SQL) and the sizes of every table read. */
function rollUp(schemaRows: TableRow[], sizes: Iterable<TableSizes>): SchemaRollup[] {
  const bySchema = new Map<string, SchemaRollup>();
  for (const r of schemaRows) {
    bySchema.set(r.schemaname, {
      schemaname: r.schemaname,
      tables: r.tables,
      seq_scan: r.seq_scan,
      idx_scan: r.idx_scan,
      n_live_tup: r.n_live_tup,
      n_dead_tup: r.n_dead_tup,
      n_tup_ins: r.n_tup_ins,
      n_tup_upd: r.n_tup_upd,
      n_tup_del: r.n_tup_del,
      total_size_bytes: null,
      bloat_estimate_bytes: null,
    });
  }
  for (const s of sizes) {
    const rollup = bySchema.get(s.schemaname);
    if (rollup === undefined) continue; // a schema with no table left
    if (s.total_size_bytes !== null) rollup.total_size_bytes = (rollup.total_size_bytes ?? 0) + s.total_size_bytes;
    if (s.bloat_estimate_bytes !== null) {
      rollup.bloat_estimate_bytes = (rollup.bloat_estimate_bytes ?? 0) + s.bloat_estimate_bytes;
    }
  }
  return [...bySchema.values()];
}

const TABLES = query({
  sql: [{ sql: STATISTICS_SQL }],
  companionSql: { sizes: [{ sql: SIZES_SQL }] },
  columns: TABLE_COLUMNS,
  datnameLabel: true,
  run: async (input: Input, sql, companions) => {
    const { query, ctx, settings, state } = input;
    const read = await query<TableRow>(sql!, [settings.maxTables, state.cap.keptKeys(ctx.datname)]);
    const tableRows = read.filter((r) => r.row_kind === 'table');
    const schemaRows = read.filter((r) => r.row_kind === 'schema');
    await readSizes(input, companions.sizes!);
    for (const r of tableRows) Object.assign(r, state.sizes.lookup(ctx.datname, r.relid) ?? NO_SIZES);
    const total = schemaRows.reduce((n, r) => n + r.tables, 0);
    const { kept } = state.cap.apply(ctx.datname, tableRows, settings.maxTables);
    const status = state.sizes.status(ctx.datname, ctx.now);
    state.summary.set(ctx.datname, {
      sized_from_catalog: kept.filter((r) => r.catalog_sizes).length,
      omitted: total - kept.length,
      sizes_stale: status.stale,
      sizes_age_seconds: status.ageSeconds,
    });
    state.schemas.set(ctx.datname, rollUp(schemaRows, state.sizes.all(ctx.datname)));
    return kept;
  },
  metrics: TABLE_METRICS,
});

const SCHEMA = ['schemaname'] as const;

const SCHEMAS = query({
  columns: {
    schemaname: 'text',
    tables: 'float',
    seq_scan: 'float',
    idx_scan: 'float',
    n_live_tup: 'float',
    n_dead_tup: 'float',
    n_tup_ins: 'float',
    n_tup_upd: 'float',
    n_tup_del: 'float',
    total_size_bytes: 'float?',
    bloat_estimate_bytes: 'float?',
  },
  datnameLabel: true,
  run: ({ ctx, state }: Input) => state.schemas.get(ctx.datname) ?? [],
  metrics: [
    {
      name: 'pg_stat_user_tables_schema_tables',
      type: 'gauge',
      help: 'User tables in the schema (all of them, whether or not PGVIGIL_MAX_TABLES kept their own series).',
      labels: SCHEMA,
      value: 'tables',
    },
    {
      name: 'pg_stat_user_tables_schema_seq_scan_total',
      type: 'counter',
      help: 'Sequential scans started on all user tables of the schema.',
      labels: SCHEMA,
      value: 'seq_scan',
    },
    {
      name: 'pg_stat_user_tables_schema_idx_scan_total',
      type: 'counter',
      help: 'Index scans started on all user tables of the schema.',
      labels: SCHEMA,
      value: 'idx_scan',
    },
    {
      name: 'pg_stat_user_tables_schema_n_tup_ins_total',
      type: 'counter',
      help: 'Rows inserted into all user tables of the schema.',
      labels: SCHEMA,
      value: 'n_tup_ins',
    },
    {
      name: 'pg_stat_user_tables_schema_n_tup_upd_total',
      type: 'counter',
      help: 'Rows updated in all user tables of the schema.',
      labels: SCHEMA,
      value: 'n_tup_upd',
    },
    {
      name: 'pg_stat_user_tables_schema_n_tup_del_total',
      type: 'counter',
      help: 'Rows deleted from all user tables of the schema.',
      labels: SCHEMA,
      value: 'n_tup_del',
    },
    {
      name: 'pg_stat_user_tables_schema_n_live_tup',
      type: 'gauge',
      help: 'Estimated live rows in all user tables of the schema.',
      labels: SCHEMA,
      value: 'n_live_tup',
    },
    {
      name: 'pg_stat_user_tables_schema_n_dead_tup',
      type: 'gauge',
      help: 'Estimated dead rows in all user tables of the schema, waiting for VACUUM.',
      labels: SCHEMA,
      value: 'n_dead_tup',
    },
    {
      name: 'pg_stat_user_tables_schema_total_size_bytes',
      type: 'gauge',
      unit: 'bytes',
      help:
        'Sum of pg_stat_user_tables_total_size_bytes over all user tables of the schema, from the size ' +
        'pass (absent before the first size read of the schema).',
      labels: SCHEMA,
      value: 'total_size_bytes',
    },
    {
      name: 'pg_stat_user_tables_schema_bloat_estimate_bytes',
      type: 'gauge',
      unit: 'bytes',
      help: 'Sum of pg_stat_user_tables_bloat_estimate_bytes over the tables of the schema that have one.',
      labels: SCHEMA,
      value: 'bloat_estimate_bytes',
    },
  ],
});

const SUMMARY = query({
  columns: { sized_from_catalog: 'float', omitted: 'float', sizes_stale: 'float', sizes_age_seconds: 'float?' },
  datnameLabel: true,
  run: ({ ctx, state }: Input) => storedRow(state.summary, ctx.datname),
  metrics: [
    {
      name: 'pgvigil_tables_sized_from_catalog',
      type: 'gauge',
      help:
        'Tables with their own series whose sizes were taken from pg_class.relpages at their last size read ' +
        'because an ACCESS EXCLUSIVE lock was held or awaited.',
      value: 'sized_from_catalog',
    },
    {
      name: 'pgvigil_tables_omitted',
      type: 'gauge',
      help: 'User tables left out of the per-table series by PGVIGIL_MAX_TABLES (the largest and busiest are kept).',
      value: 'omitted',
    },
    {
      name: 'pgvigil_tables_part_stale',
      type: 'gauge',
      help:
        'Per part of the tables collector: 1 when the series it feeds are behind (sizes: the last size pass ' +
        'completed more than two PGVIGIL_SIZES_INTERVAL_SECONDS ago, never, or a batch was cancelled by the ' +
        'statement timeout this poll; the next poll resumes where it stopped), else 0.',
      value: { label: 'part', values: { sizes: 'sizes_stale' } },
    },
    {
      name: 'pgvigil_tables_sizes_age_seconds',
      type: 'gauge',
      unit: 'seconds',
      help: 'Seconds since the start of the last complete pass over table sizes (absent before the first).',
      value: 'sizes_age_seconds',
    },
  ],
});

export const tables = defineCollector<TablesSettings, TablesState>({
  name: 'tables',
  description:
    'pg_stat_user_tables, pg_statio_user_tables: scans, tuples, vacuum ages, I/O, sizes, xid age, bloat estimate',
  scope: 'database',
  defaultIntervalSeconds: 60,
  subsystems: ['pg_stat_user_tables', 'pg_statio_user_tables', 'pgvigil_tables'],
  namesReason:
    'families keep the names of the views they read, as ' +
    "postgres_exporter's do; pgvigil_tables_* count pgvigil's own cut",
  settings: {
    variables: {
      PGVIGIL_MAX_TABLES: Type.Integer({
        default: 1000,
        minimum: 1,
        maximum: 1000000,
        description:
          'Per database: tables with their own series (the largest and ' +
          'busiest are kept; pgvigil_tables_omitted counts the rest)',
      }),
      ...SIZES_INTERVAL_VARIABLE,
    },
    resolve: (values) => ({
      maxTables: (values.PGVIGIL_MAX_TABLES as number | undefined) ?? 1000,
      sizesIntervalSeconds: (values.PGVIGIL_SIZES_INTERVAL_SECONDS as number | undefined) ?? 300,
    }),
  },
  state: (settings, config) => ({
    sizes: new SizePasses<TableSizes>(passSettings(settings.sizesIntervalSeconds, config)),
    cap: new ObjectCap<TableRow>(
      (r) => String(r.relid),
      [(r) => r.catalog_bytes, (r) => r.seq_scan + r.idx_scan, (r) => r.n_tup_ins + r.n_tup_upd + r.n_tup_del],
    ),
    summary: new Map(),
    schemas: new Map(),
  }),
  queries: [TABLES, SCHEMAS, SUMMARY],
});
