import { Type } from '@sinclair/typebox';
import { ObjectCap } from './cardinality.js';
import type { MetricSpec, RowOf } from './collector-spec.js';
import { defineCollector, query } from './define.js';
import { LOCKED_RELATIONS_CTE, withLockFallback } from './relation-locks.js';
import { SIZES_INTERVAL_VARIABLE, SizeCache, withCachedSizes } from './size-cache.js';
import type { CollectContext, QueryFn } from './types.js';

// pg_stat_user_tables + pg_statio_user_tables + pg_class, one query per database: activity,
// vacuum state, I/O, sizes, wraparound age and a bloat estimate for every user table. These views
// only show the connected database, so this collector runs on every discovered database.

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
const TABLES_SQL = `
WITH ${LOCKED_RELATIONS_CTE},
blocked AS (
  SELECT relid FROM locked
  UNION SELECT i.indrelid FROM pg_index i JOIN locked ON locked.relid = i.indexrelid
  UNION SELECT c.oid FROM pg_class c JOIN locked ON locked.relid = c.reltoastrelid
),
tables AS MATERIALIZED (
  SELECT s.*, io.heap_blks_read, io.heap_blks_hit, io.idx_blks_read, io.idx_blks_hit,
         io.toast_blks_read, io.toast_blks_hit, io.tidx_blks_read, io.tidx_blks_hit,
         c.relkind, c.relpages, c.reltuples, c.reltoastrelid, c.relfrozenxid,
         t.relpages AS toast_relpages, t.reltuples AS toast_reltuples, t.relfrozenxid AS toast_relfrozenxid,
         coalesce((regexp_match(array_to_string(c.reloptions, ','), 'fillfactor=([0-9]+)'))[1]::int, 100) AS fillfactor,
         b.relid IS NOT NULL OR NOT $1::bool AS catalog_sizes
  FROM pg_stat_user_tables s
  JOIN pg_statio_user_tables io ON io.relid = s.relid
  JOIN pg_class c ON c.oid = s.relid
  LEFT JOIN pg_class t ON t.oid = c.reltoastrelid
  LEFT JOIN blocked b ON b.relid = s.relid
),
-- pg_stats read once and hash-joined: joined per column, its view (privilege checks on every
-- pg_statistic row) ran as a nested loop and took half of this query at 2,000 tables (bench/).
stats AS MATERIALIZED (
  SELECT schemaname, tablename, attname, null_frac, avg_width FROM pg_stats WHERE NOT inherited AND $2::bool
),
widths AS (
  SELECT t.relid,
         23 + CASE WHEN max(coalesce(st.null_frac, 0)) > 0 THEN (7 + count(*)) / 8 ELSE 0 END AS header_bytes,
         sum((1 - coalesce(st.null_frac, 0)) * coalesce(st.avg_width, 0)) AS data_bytes,
         count(*) = count(st.attname) AND NOT bool_or(a.atttypid = 'pg_catalog.name'::regtype) AS estimable
  FROM tables t
  JOIN pg_attribute a ON a.attrelid = t.relid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN stats st ON st.schemaname = t.schemaname AND st.tablename = t.relname AND st.attname = a.attname
  WHERE $2::bool
  GROUP BY t.relid
),
-- pg_total_relation_size = pg_table_size + pg_indexes_size: calling the two parts once each gives
-- all three sizes without statting the index files twice. $2 = false: no sizes this poll (size-cache.ts).
sized AS (
  SELECT t.*, w.estimable, current_setting('block_size')::float8 AS bs,
         4 + ceil(w.header_bytes / 8.0) * 8 + ceil(w.data_bytes / 8.0) * 8 AS tuple_bytes,
         CASE WHEN NOT $2::bool THEN NULL
              WHEN t.catalog_sizes
              THEN (t.relpages + coalesce(t.toast_relpages, 0)
                    + (SELECT coalesce(sum(ic.relpages), 0) FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
                       WHERE i.indrelid = t.reltoastrelid)) * current_setting('block_size')::float8
              ELSE pg_table_size(t.relid) END AS heap_and_toast_bytes,
         CASE WHEN NOT $2::bool THEN NULL
              WHEN t.catalog_sizes
              THEN (SELECT coalesce(sum(ic.relpages), 0) FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
                    WHERE i.indrelid = t.relid) * current_setting('block_size')::float8
              ELSE pg_indexes_size(t.relid) END AS index_bytes
  FROM tables t LEFT JOIN widths w ON w.relid = t.relid
)
SELECT schemaname, relname,
       seq_scan::float8, seq_tup_read::float8,
       coalesce(idx_scan, 0)::float8 AS idx_scan, coalesce(idx_tup_fetch, 0)::float8 AS idx_tup_fetch,
       n_tup_ins::float8, n_tup_upd::float8, n_tup_del::float8, n_tup_hot_upd::float8,
       n_live_tup::float8, n_dead_tup::float8, n_mod_since_analyze::float8,
       (CASE WHEN n_live_tup + n_dead_tup > 0 THEN n_dead_tup::float8 / (n_live_tup + n_dead_tup) ELSE 0 END)
         AS dead_tuple_ratio,
       vacuum_count::float8, autovacuum_count::float8, analyze_count::float8, autoanalyze_count::float8,
       extract(epoch FROM now() - last_vacuum)::float8 AS last_vacuum_age_seconds,
       extract(epoch FROM now() - last_autovacuum)::float8 AS last_autovacuum_age_seconds,
       extract(epoch FROM now() - last_analyze)::float8 AS last_analyze_age_seconds,
       extract(epoch FROM now() - last_autoanalyze)::float8 AS last_autoanalyze_age_seconds,
       heap_blks_read::float8, heap_blks_hit::float8, idx_blks_read::float8, idx_blks_hit::float8,
       toast_blks_read::float8, toast_blks_hit::float8, tidx_blks_read::float8, tidx_blks_hit::float8,
       (CASE WHEN NOT $2::bool THEN NULL WHEN catalog_sizes THEN relpages * bs ELSE pg_relation_size(relid) END)::float8
         AS table_size_bytes,
       (heap_and_toast_bytes + index_bytes)::float8 AS total_size_bytes,
       index_bytes::float8 AS index_size_bytes,
       catalog_sizes,
       -- Partitioned parents have no storage and relfrozenxid 0, whose age() is INT_MAX: leave them out.
       (CASE WHEN relkind <> 'p' THEN greatest(age(relfrozenxid), age(toast_relfrozenxid)) END)::float8 AS xid_age,
       (CASE WHEN estimable AND reltuples >= 0 AND tuple_bytes > 0 THEN
          greatest(relpages + coalesce(toast_relpages, 0)
                   - ceil(reltuples / ((bs - 24) * fillfactor / (100.0 * tuple_bytes)))
                   - ceil(greatest(coalesce(toast_reltuples, 0), 0) / 4), 0) * bs
        END)::float8 AS bloat_estimate_bytes
FROM sized
ORDER BY schemaname, relname`;

const TABLE_COLUMNS = {
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
} as const;

type TableRow = RowOf<typeof TABLE_COLUMNS>;

type TableSizes = Pick<
  TableRow,
  'table_size_bytes' | 'total_size_bytes' | 'index_size_bytes' | 'bloat_estimate_bytes' | 'catalog_sizes'
>;

const NO_SIZES: TableSizes = {
  table_size_bytes: null,
  total_size_bytes: null,
  index_size_bytes: null,
  bloat_estimate_bytes: null,
  catalog_sizes: false,
};

const pickSizes = (r: TableRow): TableSizes => ({
  table_size_bytes: r.table_size_bytes,
  total_size_bytes: r.total_size_bytes,
  index_size_bytes: r.index_size_bytes,
  bloat_estimate_bytes: r.bloat_estimate_bytes,
  catalog_sizes: r.catalog_sizes,
});

const tableKey = (r: TableRow) => `${r.schemaname}\u0000${r.relname}`;

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

interface TablesState {
  readonly sizes: SizeCache<TableSizes>;
  readonly cap: ObjectCap<TableRow>;
  /** What the last read of each database left out or sized from the catalog, for the summary families. */
  readonly summary: Map<string, { sized_from_catalog: number; omitted: number }>;
}

type Input = { query: QueryFn; ctx: CollectContext; settings: TablesSettings; state: TablesState };

const TABLES = query({
  sql: [{ sql: TABLES_SQL }],
  columns: TABLE_COLUMNS,
  datnameLabel: true,
  run: async ({ query, ctx: { datname, now }, settings, state }: Input, sql) => {
    const sizesDue = state.sizes.due(datname, now);
    const read = await withLockFallback((exact) => query<TableRow>(sql!, [exact, sizesDue]));
    const rows = withCachedSizes(state.sizes, datname, now, sizesDue, read, tableKey, pickSizes, NO_SIZES);
    const { kept, omitted } = state.cap.apply(datname, rows, settings.maxTables);
    state.summary.set(datname, { sized_from_catalog: rows.filter((r) => r.catalog_sizes).length, omitted });
    return kept;
  },
  metrics: TABLE_METRICS,
});

const SUMMARY = query({
  columns: { sized_from_catalog: 'float', omitted: 'float' },
  datnameLabel: true,
  run: ({ ctx, state }: { ctx: CollectContext; state: TablesState }) => [
    state.summary.get(ctx.datname) ?? { sized_from_catalog: 0, omitted: 0 },
  ],
  metrics: [
    {
      name: 'pgvigil_tables_sized_from_catalog',
      type: 'gauge',
      help:
        'Tables whose sizes were taken from pg_class.relpages at the last size read (PGVIGIL_SIZES_INTERVAL_SECONDS) ' +
        'because an ACCESS EXCLUSIVE lock was held or awaited.',
      value: 'sized_from_catalog',
    },
    {
      name: 'pgvigil_tables_omitted',
      type: 'gauge',
      help: 'User tables left out of the per-table series by PGVIGIL_MAX_TABLES (the largest and busiest are kept).',
      value: 'omitted',
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
  state: (settings) => ({
    sizes: new SizeCache<TableSizes>(settings.sizesIntervalSeconds * 1000),
    cap: new ObjectCap<TableRow>(tableKey, [
      (r) => r.total_size_bytes ?? 0,
      (r) => r.seq_scan + r.idx_scan,
      (r) => r.n_tup_ins + r.n_tup_upd + r.n_tup_del,
    ]),
    summary: new Map(),
  }),
  queries: [TABLES, SUMMARY],
});
