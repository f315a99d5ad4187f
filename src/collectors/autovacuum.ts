import { Type } from '@sinclair/typebox';
import type { RowOf } from './collector-spec.js';
import { defineCollector, query } from './define.js';
import type { CollectContext, QueryFn } from './types.js';

// Autovacuum due-ness, per database: how close each table is to the point where autovacuum acts
// on it, computed the way autovacuum's relation_needs_vacanalyze() does, with the table's own
// reloptions taking the place of the global settings. A ratio of 1 is the trigger point; a table
// staying above 1 is one autovacuum does not get to (workers busy, cost limit, a long transaction
// holding back cleanup, autovacuum_enabled = false). Running vacuums come from
// pg_stat_progress_vacuum; on PostgreSQL 18 the time spent vacuuming and analyzing each table.
//
// - vacuum: n_dead_tup against threshold + scale_factor * reltuples (18: at most
//   autovacuum_vacuum_max_threshold, unless that is -1).
// - insert: n_ins_since_vacuum against insert_threshold + insert_scale_factor * reltuples
//   (18: the scale factor applies to the pages not yet all-frozen); absent when the insert
//   threshold is -1 (disabled).
// - analyze: n_mod_since_analyze against analyze_threshold + analyze_scale_factor * reltuples.
// - xid / mxid: age of relfrozenxid / relminmxid (the older of table and TOAST) against
//   autovacuum_freeze_max_age / autovacuum_multixact_freeze_max_age; a table's reloption can only
//   lower these. Above 1, autovacuum runs an anti-wraparound vacuum even where it is disabled.
//
// reltuples is -1 (14+) for a table never vacuumed or analyzed; autovacuum counts that as 0.
// Partitioned parents (relkind 'p') are never vacuumed themselves and are left out.

// Reloptions are parsed only for the tables that have any (most have none), from the pg_class row
// already read: a CTE of its own scanned all of pg_class again (once per parallel worker). The
// settings are read once. The counters come from the pg_stat_get_* functions on pg_class rather
// than from pg_stat_user_tables, whose GROUP BY over every index made this query cost ten times
// as much at 2,000 tables (bench/advice-cost.ts). The counts of due tables are one aggregate over
// the ratios, and the listed tables a bounded top-N sort: as window counts beside the LIMIT, every
// row was kept and sorted whole.
const OPTIONS_LATERAL = `
CROSS JOIN LATERAL (
  SELECT CASE WHEN c.reloptions IS NOT NULL
              THEN (SELECT jsonb_object_agg(o.option_name, o.option_value) FROM pg_options_to_table(c.reloptions) o)
         END AS o
) opts`;
const option = (name: string) => `(opts.o ->> '${name}')::float8`;
const setting = (name: string) => `g.${name}`;
const effective = (name: string) => `coalesce(${option(name)}, ${setting(name)})`;

/** What the majors differ in for these thresholds. */
interface ThresholdRules {
  /** 18: autovacuum_vacuum_max_threshold caps the dead-tuple threshold. */
  readonly maxThreshold: boolean;
  /** 18: the insert scale factor applies to the unfrozen share of the table (relallfrozen). */
  readonly unfrozenInsertScale: boolean;
}

const SETTINGS = [
  'autovacuum_vacuum_threshold',
  'autovacuum_vacuum_scale_factor',
  'autovacuum_vacuum_insert_threshold',
  'autovacuum_vacuum_insert_scale_factor',
  'autovacuum_analyze_threshold',
  'autovacuum_analyze_scale_factor',
  'autovacuum_freeze_max_age',
  'autovacuum_multixact_freeze_max_age',
];

// $1: the most tables to list, those nearest their trigger first. Every row also carries the
// counts of tables past each trigger, over all tables.
function dueSql(v: ThresholdRules): string {
  const settings = [...SETTINGS, ...(v.maxThreshold ? ['autovacuum_vacuum_max_threshold'] : [])]
    .map((name) => `current_setting('${name}')::float8 AS ${name}`)
    .join(', ');
  const scale = effective('autovacuum_vacuum_scale_factor');
  const vacuum = `${effective('autovacuum_vacuum_threshold')} + ${scale} * tuples`;
  const cappedVacuum = v.maxThreshold
    ? `CASE WHEN ${effective('autovacuum_vacuum_max_threshold')} < 0 THEN ${vacuum}
            ELSE least(${vacuum}, ${effective('autovacuum_vacuum_max_threshold')}) END`
    : vacuum;
  const unfrozen = v.unfrozenInsertScale
    ? ' * CASE WHEN c.relpages > 0 THEN 1 - least(c.relallfrozen, c.relpages)::float8 / c.relpages ELSE 1 END'
    : '';
  return `
WITH g AS (SELECT ${settings}),
t AS (
  SELECT n.nspname AS schemaname, c.relname,
         pg_stat_get_dead_tuples(c.oid) AS n_dead_tup,
         pg_stat_get_ins_since_vacuum(c.oid) AS n_ins_since_vacuum,
         pg_stat_get_mod_since_analyze(c.oid) AS n_mod_since_analyze,
         ${cappedVacuum} AS vacuum_threshold,
         CASE WHEN ${effective('autovacuum_vacuum_insert_threshold')} >= 0
              THEN ${effective('autovacuum_vacuum_insert_threshold')}
                   + ${effective('autovacuum_vacuum_insert_scale_factor')} * tuples${unfrozen} END AS insert_threshold,
         ${effective('autovacuum_analyze_threshold')} + ${effective('autovacuum_analyze_scale_factor')} * tuples
           AS analyze_threshold,
         greatest(age(c.relfrozenxid), coalesce(age(tc.relfrozenxid), 0))::float8
           / least(${effective('autovacuum_freeze_max_age')}, ${setting('autovacuum_freeze_max_age')}) AS xid_ratio,
         greatest(mxid_age(c.relminmxid), coalesce(mxid_age(tc.relminmxid), 0))::float8
           / least(${effective('autovacuum_multixact_freeze_max_age')},
                   ${setting('autovacuum_multixact_freeze_max_age')}) AS mxid_ratio
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_class tc ON tc.oid = c.reltoastrelid
  CROSS JOIN g${OPTIONS_LATERAL}
  CROSS JOIN LATERAL (SELECT greatest(c.reltuples, 0)::float8 AS tuples) r
  -- The tables pg_stat_user_tables lists, less partitioned parents.
  WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname !~ '^pg_toast'
),
ratios AS MATERIALIZED (
  SELECT schemaname, relname,
         n_dead_tup::float8 / greatest(vacuum_threshold, 1) AS vacuum_ratio,
         n_ins_since_vacuum::float8 / greatest(insert_threshold, 1) AS insert_ratio,
         n_mod_since_analyze::float8 / greatest(analyze_threshold, 1) AS analyze_ratio,
         xid_ratio, mxid_ratio
  FROM t
),
counts AS (
  SELECT (count(*) FILTER (WHERE vacuum_ratio > 1))::float8 AS due_vacuum,
         (count(*) FILTER (WHERE insert_ratio > 1))::float8 AS due_insert,
         (count(*) FILTER (WHERE analyze_ratio > 1))::float8 AS due_analyze,
         (count(*) FILTER (WHERE xid_ratio > 1))::float8 AS due_xid,
         (count(*) FILTER (WHERE mxid_ratio > 1))::float8 AS due_mxid
  FROM ratios
),
nearest AS (
  SELECT *, greatest(vacuum_ratio, coalesce(insert_ratio, 0), analyze_ratio, xid_ratio, mxid_ratio) AS nearness
  FROM ratios
  ORDER BY nearness DESC, schemaname, relname
  LIMIT $1
)
SELECT schemaname, relname, vacuum_ratio::float8, insert_ratio::float8, analyze_ratio::float8,
       xid_ratio::float8, mxid_ratio::float8, due_vacuum, due_insert, due_analyze, due_xid, due_mxid
FROM nearest CROSS JOIN counts
ORDER BY nearness DESC, schemaname, relname`;
}

const OLD: ThresholdRules = { maxThreshold: false, unfrozenInsertScale: false };
const V18: ThresholdRules = { maxThreshold: true, unfrozenInsertScale: true };

interface AutovacuumSettings {
  readonly maxTables: number;
}

type Input = { query: QueryFn; ctx: CollectContext; settings: AutovacuumSettings; state: AutovacuumState };

const TABLE = ['schemaname', 'relname'] as const;

const DUE_COLUMNS = {
  schemaname: 'text',
  relname: 'text',
  vacuum_ratio: 'float',
  insert_ratio: 'float?',
  analyze_ratio: 'float',
  xid_ratio: 'float',
  mxid_ratio: 'float',
  due_vacuum: 'float',
  due_insert: 'float',
  due_analyze: 'float',
  due_xid: 'float',
  due_mxid: 'float',
} as const;

type DueRow = RowOf<typeof DUE_COLUMNS>;

const COUNT_COLUMNS = { vacuum: 'float', insert: 'float', analyze: 'float', xid: 'float', mxid: 'float' } as const;
type Counts = RowOf<typeof COUNT_COLUMNS>;

/** The counts DUE just read in each database, for DUE_COUNTS in the same run. */
type AutovacuumState = Map<string, Counts>;

const DUE = query({
  sql: [
    { server: { from: 18 }, sql: dueSql(V18) },
    { server: { before: 18 }, sql: dueSql(OLD) },
  ],
  columns: DUE_COLUMNS,
  datnameLabel: true,
  run: async ({ query, ctx, settings, state }: Input, sql) => {
    const rows = await query<DueRow>(sql!, [settings.maxTables]);
    const r = rows[0];
    state.set(ctx.datname, {
      vacuum: r?.due_vacuum ?? 0,
      insert: r?.due_insert ?? 0,
      analyze: r?.due_analyze ?? 0,
      xid: r?.due_xid ?? 0,
      mxid: r?.due_mxid ?? 0,
    });
    return rows;
  },
  metrics: [
    {
      name: 'pg_autovacuum_vacuum_due_ratio',
      type: 'gauge',
      unit: 'ratio',
      help:
        'Dead tuples over the effective autovacuum vacuum threshold (reloptions first, then settings); ' +
        'above 1: autovacuum should vacuum the table.',
      labels: TABLE,
      value: 'vacuum_ratio',
    },
    {
      name: 'pg_autovacuum_insert_due_ratio',
      type: 'gauge',
      unit: 'ratio',
      help:
        'Rows inserted since the last vacuum over the effective insert threshold; above 1: autovacuum should ' +
        'vacuum the table (absent where the insert threshold is -1).',
      labels: TABLE,
      value: 'insert_ratio',
    },
    {
      name: 'pg_autovacuum_analyze_due_ratio',
      type: 'gauge',
      unit: 'ratio',
      help: 'Rows modified since the last analyze over the effective analyze threshold; above 1: analyze is due.',
      labels: TABLE,
      value: 'analyze_ratio',
    },
    {
      name: 'pg_autovacuum_xid_age_ratio',
      type: 'gauge',
      unit: 'ratio',
      help:
        'Transaction-ID age of the table (the older of table and TOAST) over its effective ' +
        'autovacuum_freeze_max_age; above 1: an anti-wraparound vacuum is due.',
      labels: TABLE,
      value: 'xid_ratio',
    },
    {
      name: 'pg_autovacuum_mxid_age_ratio',
      type: 'gauge',
      unit: 'ratio',
      help:
        'Multixact age of the table over its effective autovacuum_multixact_freeze_max_age; ' +
        'above 1: an anti-wraparound vacuum is due.',
      labels: TABLE,
      value: 'mxid_ratio',
    },
  ],
});

const DUE_COUNTS = query({
  columns: COUNT_COLUMNS,
  datnameLabel: true,
  // Runs right after DUE in the same run (a collector's queries run in order); taking the counts
  // out leaves nothing behind for a database that is later dropped.
  run: ({ ctx, state }: { ctx: CollectContext; state: AutovacuumState }) => {
    const counts = state.get(ctx.datname) ?? { vacuum: 0, insert: 0, analyze: 0, xid: 0, mxid: 0 };
    state.delete(ctx.datname);
    return [counts];
  },
  metrics: [
    {
      name: 'pg_autovacuum_due_tables',
      type: 'gauge',
      help:
        'Tables past an autovacuum trigger, by reason (vacuum: dead tuples, insert: inserts, analyze, ' +
        'xid and mxid: freeze age); every table counted, not only the listed ones.',
      value: {
        label: 'reason',
        values: { vacuum: 'vacuum', insert: 'insert', analyze: 'analyze', xid: 'xid', mxid: 'mxid' },
      },
    },
  ],
});

// Running vacuums of this database (the view is cluster-wide, its relid means something only
// here). pg_monitor sees every row (pg_read_all_stats).
const PROGRESS_SQL = `
SELECT n.nspname AS schemaname, c.relname, p.phase,
       (a.backend_type = 'autovacuum worker')::text AS autovacuum,
       (p.heap_blks_scanned::float8 / nullif(p.heap_blks_total, 0))::float8 AS scanned_ratio,
       extract(epoch FROM now() - a.xact_start)::float8 AS running_seconds
FROM pg_stat_progress_vacuum p
JOIN pg_class c ON c.oid = p.relid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_activity a ON a.pid = p.pid
WHERE p.datid = (SELECT oid FROM pg_database WHERE datname = current_database())
ORDER BY 1, 2`;

const PROGRESS_LABELS = ['schemaname', 'relname', 'phase', 'autovacuum'] as const;

const PROGRESS = query({
  sql: [{ sql: PROGRESS_SQL }],
  columns: {
    schemaname: 'text',
    relname: 'text',
    phase: 'text',
    autovacuum: 'text',
    scanned_ratio: 'float?',
    running_seconds: 'float?',
  },
  datnameLabel: true,
  metrics: [
    {
      name: 'pg_stat_progress_vacuum_heap_scanned_ratio',
      type: 'gauge',
      unit: 'ratio',
      help: 'Running VACUUM (autovacuum="true": an autovacuum worker): heap blocks scanned over heap blocks total.',
      labels: PROGRESS_LABELS,
      value: 'scanned_ratio',
    },
    {
      name: 'pg_stat_progress_vacuum_running_seconds',
      type: 'gauge',
      unit: 'seconds',
      help: 'Running VACUUM: seconds since its transaction started (pg_stat_activity.xact_start).',
      labels: PROGRESS_LABELS,
      value: 'running_seconds',
    },
  ],
});

// PostgreSQL 18 counts the time spent in vacuum and analyze per table (milliseconds). The tables
// that spent most are listed (cumulative, so the list is stable).
const TIMES_18_SQL = `
SELECT n.nspname AS schemaname, c.relname,
       (pg_stat_get_total_vacuum_time(c.oid) / 1000.0)::float8 AS vacuum_manual,
       (pg_stat_get_total_autovacuum_time(c.oid) / 1000.0)::float8 AS vacuum_auto,
       (pg_stat_get_total_analyze_time(c.oid) / 1000.0)::float8 AS analyze_manual,
       (pg_stat_get_total_autoanalyze_time(c.oid) / 1000.0)::float8 AS analyze_auto
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_toast'
ORDER BY pg_stat_get_total_vacuum_time(c.oid) + pg_stat_get_total_autovacuum_time(c.oid)
           + pg_stat_get_total_analyze_time(c.oid) + pg_stat_get_total_autoanalyze_time(c.oid) DESC,
         1, 2
LIMIT $1`;

const TIMES_OLD_SQL = `
SELECT ''::text AS schemaname, ''::text AS relname, NULL::float8 AS vacuum_manual, NULL::float8 AS vacuum_auto,
       NULL::float8 AS analyze_manual, NULL::float8 AS analyze_auto
WHERE $1::int IS NULL`;

const TIME_COLUMNS = {
  schemaname: 'text',
  relname: 'text',
  vacuum_manual: 'float?',
  vacuum_auto: 'float?',
  analyze_manual: 'float?',
  analyze_auto: 'float?',
} as const;

const TIMES = query({
  sql: [
    { server: { from: 18 }, sql: TIMES_18_SQL },
    { server: { before: 18 }, sql: TIMES_OLD_SQL },
  ],
  columns: TIME_COLUMNS,
  datnameLabel: true,
  run: ({ query, settings }: Input, sql) => query<RowOf<typeof TIME_COLUMNS>>(sql!, [settings.maxTables]),
  metrics: [
    {
      name: 'pg_autovacuum_table_vacuum_seconds_total',
      type: 'counter',
      unit: 'seconds',
      help: 'PostgreSQL 18+: time spent vacuuming the table, by mode (manual VACUUM or autovacuum).',
      labels: TABLE,
      value: { label: 'mode', values: { manual: 'vacuum_manual', auto: 'vacuum_auto' } },
      server: { from: 18 },
    },
    {
      name: 'pg_autovacuum_table_analyze_seconds_total',
      type: 'counter',
      unit: 'seconds',
      help: 'PostgreSQL 18+: time spent analyzing the table, by mode (manual ANALYZE or autovacuum).',
      labels: TABLE,
      value: { label: 'mode', values: { manual: 'analyze_manual', auto: 'analyze_auto' } },
      server: { from: 18 },
    },
  ],
});

export const autovacuum = defineCollector<AutovacuumSettings, AutovacuumState>({
  name: 'autovacuum',
  description:
    'Autovacuum due-ness per table against the effective thresholds (reloptions included), freeze ages, ' +
    'running vacuums (pg_stat_progress_vacuum), 18+: vacuum and analyze time per table',
  scope: 'database',
  defaultIntervalSeconds: 60,
  subsystems: ['pg_autovacuum', 'pg_stat_progress_vacuum'],
  namesReason: 'running vacuums keep the name of the view they read, pg_stat_progress_vacuum',
  settings: {
    variables: {
      PGVIGIL_AUTOVACUUM_MAX_TABLES: Type.Integer({
        default: 100,
        minimum: 1,
        maximum: 100000,
        description:
          'Per database: tables with their own autovacuum series (those nearest or past a trigger first; ' +
          '18+: the time series list those that spent most time in vacuum and analyze)',
      }),
    },
    resolve: (values) => ({ maxTables: (values.PGVIGIL_AUTOVACUUM_MAX_TABLES as number | undefined) ?? 100 }),
  },
  state: () => new Map(),
  queries: [DUE, DUE_COUNTS, PROGRESS, TIMES],
});
