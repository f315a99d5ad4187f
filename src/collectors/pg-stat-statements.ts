import { Type } from '@sinclair/typebox';
import { loadQueryClasses } from 'pgvigil-pool/classes';
import type { Logger } from 'pino';
import { seconds, stalenessMs } from '../config.js';
import { MissingExtensionError, StaleServerFactsError } from '../errors.js';
import type { EntrySnapshot } from '../statements/deltas.js';
import { type ApiSnapshot, StatementsEngine, type StatementsSettings } from '../statements/engine.js';
import { STATEMENT_FAMILIES } from '../statements/statement-families.js';
import { textKey } from '../statements/text-cache.js';
import type { RowOf, RunInput } from './collector-spec.js';
import { defineCollector, query } from './define.js';
import type { Collector, QueryFn } from './types.js';

// pg_stat_statements: the view is cluster-wide, but its functions exist only in databases where
// the extension was created, so this runs on the connection database. Statistics are read
// without text every poll (pg_stat_statements(false) skips reading the query-text file); texts
// are fetched separately, only for entries not seen before. Columns follow the installed
// EXTENSION version, not the server version: a PostgreSQL 17 server may still run 1.10. The
// statements engine (src/statements/) keeps the deltas and builds the families.
//
// The extension's functions live in the schema it was created in, which need not be on the
// search_path: the SQL below names it `@extschema@` (as extension scripts do) and each poll puts
// in the schema pg_extension gives.

const PGSS = 'pg_stat_statements';
const DEFAULT_INTERVAL_SECONDS = 15;

const META_SQL = `
SELECT e.extversion,
       quote_ident(n.nspname) AS schema,
       coalesce(current_setting('pg_stat_statements.max', true), '5000')::float8 AS max_entries,
       coalesce(current_setting('pg_stat_statements.track_planning', true), 'off') = 'on' AS track_planning,
       extract(epoch FROM pg_postmaster_start_time())::float8 AS server_start
FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname = 'pg_stat_statements'`;

interface MetaRow {
  extversion: string;
  schema: string;
  max_entries: number;
  track_planning: boolean;
  server_start: number;
}

/** What the extension versions differ in, for the columns read here. */
interface ExtensionColumns {
  /** 1.8: total_time split into total_exec_time and total_plan_time (mean_, min_ ... alike); wal_bytes. */
  readonly execAndPlan: boolean;
  /** 1.9: toplevel (a statement run inside a function is an entry of its own). */
  readonly toplevel: boolean;
  /** 1.11: blk_read_time / blk_write_time renamed shared_blk_read_time / shared_blk_write_time; stats_since. */
  readonly sharedBlkTimeAndStatsSince: boolean;
}

/**
 * The statistics of every entry; every variant returns the same row (STATEMENT_COLUMNS). Entries of
 * a dropped database stay in the view until evicted or reset: their dbid no longer resolves, so the
 * inner join leaves them out rather than export them under the OID as datname. Unless
 * $1 (PGVIGIL_STATEMENTS_INCLUDE_OWN), entries of pgvigil's own role are left out: its catalog
 * reads would otherwise fill the top N, the `other` series, the latency histograms and the slow
 * log with monitoring; pgvigil_collector_db_seconds_total reports their cost instead. Not when
 * that role is a superuser: such a role is usually shared with people and applications, whose
 * statements would vanish with pgvigil's (pg_stat_statements keys entries by role, not session).
 */
function statementsSql(v: ExtensionColumns): string {
  const exec = v.execAndPlan ? 'exec_time' : 'time';
  const ms = (col: string) => `(${col} / 1000.0)::float8`;
  return `
SELECT s.dbid, s.userid,
       coalesce(s.queryid::text, '') AS queryid,
       ${v.toplevel ? 's.toplevel' : 'NULL::bool'} AS toplevel,
       d.datname,
       coalesce(r.rolname, s.userid::text) AS usename,
       ${v.sharedBlkTimeAndStatsSince ? 'extract(epoch FROM s.stats_since)::float8' : 'NULL::float8'} AS stats_since,
       s.calls::float8 AS calls,
       ${ms(`s.total_${exec}`)} AS exec_seconds,
       ${v.execAndPlan ? ms('s.total_plan_time') : '0::float8'} AS plan_seconds,
       s.rows::float8 AS rows,
       s.shared_blks_hit::float8 AS shared_blks_hit,
       s.shared_blks_read::float8 AS shared_blks_read,
       s.temp_blks_written::float8 AS temp_blks_written,
       ${ms(v.sharedBlkTimeAndStatsSince ? 's.shared_blk_read_time' : 's.blk_read_time')} AS blk_read_seconds,
       ${ms(v.sharedBlkTimeAndStatsSince ? 's.shared_blk_write_time' : 's.blk_write_time')} AS blk_write_seconds,
       ${v.execAndPlan ? 's.wal_bytes::float8' : '0::float8'} AS wal_bytes,
       ${ms(`s.mean_${exec}`)} AS mean_seconds,
       ${ms(`s.stddev_${exec}`)} AS stddev_seconds,
       ${ms(`s.min_${exec}`)} AS min_seconds,
       ${ms(`s.max_${exec}`)} AS max_seconds
FROM @extschema@.pg_stat_statements(false) s
JOIN pg_database d ON d.oid = s.dbid
LEFT JOIN pg_roles r ON r.oid = s.userid
WHERE $1::bool OR s.userid IS DISTINCT FROM (SELECT oid FROM pg_roles WHERE rolname = session_user AND NOT rolsuper)`;
}

const STATEMENT_COLUMNS = {
  // oids: node-postgres parses them as numbers.
  dbid: 'float',
  userid: 'float',
  queryid: 'text',
  toplevel: 'bool?',
  datname: 'text',
  usename: 'text',
  stats_since: 'float?',
  calls: 'float',
  exec_seconds: 'float',
  plan_seconds: 'float',
  rows: 'float',
  shared_blks_hit: 'float',
  shared_blks_read: 'float',
  temp_blks_written: 'float',
  blk_read_seconds: 'float',
  blk_write_seconds: 'float',
  wal_bytes: 'float',
  mean_seconds: 'float',
  stddev_seconds: 'float',
  min_seconds: 'float',
  max_seconds: 'float',
} as const;

type StatementRow = RowOf<typeof STATEMENT_COLUMNS>;

// 1.9+: evictions and the time of the last full reset.
const INFO_SQL = `
SELECT dealloc::float8 AS dealloc, extract(epoch FROM stats_reset)::float8 AS stats_reset
FROM @extschema@.pg_stat_statements_info`;

interface InfoRow {
  dealloc: number;
  stats_reset: number;
}

// 1.11+: minmax_only resets min/max of every entry and keeps its counters.
const MINMAX_RESET_SQL = 'SELECT @extschema@.pg_stat_statements_reset(0, 0, 0, true)';

// Texts of the given queryids only; left() bounds what crosses the wire and sits in memory
// before redaction. Own transaction and statement_timeout: the text file can be hundreds of MB.
const TEXTS_SQL = `
SELECT dbid, userid, queryid::text AS queryid, left(query, $2) AS query
FROM @extschema@.pg_stat_statements(true)
WHERE queryid = ANY($1::int8[])`;

async function fetchTexts(
  query: QueryFn,
  sql: string,
  entries: readonly EntrySnapshot[],
  timeoutMs: number,
  maxChars: number,
): Promise<Map<string, string>> {
  const wanted = new Set(entries.map((e) => textKey(e.dbid, e.userid, e.queryid)));
  const ids = [...new Set(entries.map((e) => e.queryid).filter((q) => q !== ''))];
  const texts = new Map<string, string>();
  if (ids.length === 0) return texts;
  await query('BEGIN');
  try {
    await query(`SET LOCAL statement_timeout = ${Math.max(1, Math.round(timeoutMs))}`);
    type TextRow = { dbid: number; userid: number; queryid: string; query: string | null };
    const rows = await query<TextRow>(sql, [ids, maxChars]);
    for (const r of rows) {
      const key = textKey(r.dbid, r.userid, r.queryid);
      if (r.query !== null && wanted.has(key)) texts.set(key, r.query);
    }
  } finally {
    await query('ROLLBACK').catch(() => undefined);
  }
  return texts;
}

interface Settings extends Omit<StatementsSettings, 'seriesStaleMs'> {
  /** Opt-in: resetting min/max changes what every other reader of the view sees. */
  readonly minmaxReset: boolean;
  /** Keep the statements of pgvigil's own role (PGVIGIL_STATEMENTS_INCLUDE_OWN). */
  readonly includeOwn: boolean;
}

/** What this poll's run read besides the rows, for build. */
interface StoreRead {
  readonly meta: MetaRow;
  readonly info: InfoRow | undefined;
  /** stats_reset moved while the entries were read. */
  readonly torn: boolean;
  readonly intervalExtremes: boolean;
}

interface State {
  readonly engine: StatementsEngine;
  readonly log: Logger;
  /** Turned off when a min/max reset fails (usually permission). */
  minmaxReset: boolean;
  /** The server start of the incarnation whose min/max the previous poll reset. */
  resetSince: number | undefined;
  read: StoreRead | undefined;
}

export interface StatementsCollector extends Collector {
  /** Current top statements for GET /api/statements. */
  snapshot(): ApiSnapshot;
  /** The class of a statement by database, user and queryid (for sampled sessions); undefined if unknown. */
  classOf(datname: string, usename: string, queryid: string): string | undefined;
}

const inSchema = (sql: string, meta: MetaRow) => sql.replaceAll('@extschema@', meta.schema);

async function readStatements(
  { query, ctx, settings, state }: RunInput<Settings, State>,
  sql: string | undefined,
  companions: Readonly<Record<string, string | undefined>>,
): Promise<StatementRow[]> {
  const [meta] = await query<MetaRow>(META_SQL);
  if (meta === undefined) throw new MissingExtensionError(PGSS, `not created in database ${ctx.datname}`);
  const planned = ctx.facts.extensions.get(PGSS);
  if (meta.extversion !== planned) {
    // ALTER EXTENSION UPDATE since this connection's facts were read: the planned columns may be gone.
    throw new StaleServerFactsError(`${PGSS} is ${meta.extversion} now, the plan was made for ${planned}`);
  }
  // stats_reset read before and after the entries: a full reset in between would make this
  // snapshot half old, half new, so such a poll only sets a new baseline.
  const readInfo = async () =>
    companions.info === undefined ? undefined : (await query<InfoRow>(inSchema(companions.info, meta)))[0];
  const infoBefore = await readInfo();
  const rows = await query<StatementRow>(inSchema(sql!, meta), [settings.includeOwn]);
  const info = await readInfo();
  const intervalExtremes = state.resetSince === meta.server_start;
  state.resetSince = undefined;
  if (state.minmaxReset && companions.minmaxReset !== undefined) {
    try {
      // Right after the read, so the next poll's min/max cover (nearly) exactly its interval.
      await query(inSchema(companions.minmaxReset, meta));
      state.resetSince = meta.server_start;
    } catch (err) {
      state.minmaxReset = false; // pg_stat_statements_reset is superuser-only unless granted
      state.log.warn({ err }, 'pg_stat_statements min/max reset failed; latency histograms use lifetime min/max');
    }
  }
  state.read = { meta, info, torn: infoBefore?.stats_reset !== info?.stats_reset, intervalExtremes };
  return rows;
}

async function buildFamilies({ query, ctx, settings, state }: RunInput<Settings, State>, rows: StatementRow[]) {
  const { meta, info, torn, intervalExtremes } = state.read!;
  state.read = undefined;
  // Enough of the text for class rules to see the WHERE clause even when the kept text is short.
  const fetchChars = Math.max(settings.textMaxLength, 4096);
  const textsSql = inSchema(TEXTS_SQL, meta);
  return state.engine.poll(
    {
      now: ctx.now,
      entries: rows.map((r) => ({
        dbid: r.dbid,
        userid: r.userid,
        queryid: r.queryid,
        toplevel: r.toplevel,
        datname: r.datname,
        usename: r.usename,
        statsSince: r.stats_since,
        counters: {
          calls: r.calls,
          exec_seconds: r.exec_seconds,
          plan_seconds: r.plan_seconds,
          rows: r.rows,
          shared_blks_hit: r.shared_blks_hit,
          shared_blks_read: r.shared_blks_read,
          temp_blks_written: r.temp_blks_written,
          blk_read_seconds: r.blk_read_seconds,
          blk_write_seconds: r.blk_write_seconds,
          wal_bytes: r.wal_bytes,
        },
        meanSeconds: r.mean_seconds,
        stddevSeconds: r.stddev_seconds,
        minSeconds: r.min_seconds,
        maxSeconds: r.max_seconds,
      })),
      statsReset: info?.stats_reset ?? null,
      dealloc: info?.dealloc ?? null,
      maxEntries: meta.max_entries,
      trackPlanning: meta.track_planning,
      // toplevel is NULL only in the variants before 1.9, which have no such column.
      hasToplevel: rows.some((r) => r.toplevel !== null),
      serverStart: meta.server_start,
      torn,
      extversion: meta.extversion,
      connectionDatname: ctx.datname,
      major: ctx.facts.major,
      intervalExtremes,
    },
    {
      query,
      fetchTexts: (entries) => fetchTexts(query, textsSql, entries, settings.textTimeoutMs, fetchChars),
    },
  );
}

const STATEMENTS = query({
  sql: [
    {
      extension: { name: PGSS, before: '1.8' },
      sql: statementsSql({ execAndPlan: false, toplevel: false, sharedBlkTimeAndStatsSince: false }),
    },
    {
      extension: { name: PGSS, from: '1.8', before: '1.9' },
      sql: statementsSql({ execAndPlan: true, toplevel: false, sharedBlkTimeAndStatsSince: false }),
    },
    {
      extension: { name: PGSS, from: '1.9', before: '1.11' },
      sql: statementsSql({ execAndPlan: true, toplevel: true, sharedBlkTimeAndStatsSince: false }),
    },
    {
      extension: { name: PGSS, from: '1.11' },
      sql: statementsSql({ execAndPlan: true, toplevel: true, sharedBlkTimeAndStatsSince: true }),
    },
  ],
  companionSql: {
    info: [{ extension: { name: PGSS, from: '1.9' }, sql: INFO_SQL }],
    minmaxReset: [{ extension: { name: PGSS, from: '1.11' }, sql: MINMAX_RESET_SQL }],
  },
  columns: STATEMENT_COLUMNS,
  run: readStatements,
  built: { families: STATEMENT_FAMILIES, build: buildFamilies },
});

const VARIABLES = {
  PGVIGIL_STATEMENTS_TOP_N: Type.Integer({
    default: 50,
    minimum: 1,
    maximum: 1000,
    description: 'Statements exported with their own queryid series',
  }),
  PGVIGIL_STATEMENTS_MAX_SERIES: Type.Integer({
    default: 2000,
    minimum: 10,
    maximum: 100000,
    description: 'Hard cap on per-statement series across all statement families',
  }),
  PGVIGIL_STATEMENTS_TEXT_MAX_LENGTH: Type.Integer({
    default: 1000,
    minimum: 50,
    maximum: 100000,
    description:
      'Statement texts (redacted) are cut to this many characters in /api/statements and pg_stat_statements_query_info',
  }),
  PGVIGIL_STATEMENTS_TEXT_CACHE_BYTES: Type.Integer({
    default: 4 * 1024 * 1024,
    minimum: 65536,
    description: 'Memory cap of the redacted statement-text cache (texts of top statements are kept first)',
  }),
  PGVIGIL_STATEMENTS_TEXT_TIMEOUT_SECONDS: seconds(
    2,
    0.1,
    600,
    'statement_timeout of the separate statement-text fetch (and of EXPLAIN)',
  ),
  PGVIGIL_STATEMENTS_MINMAX_RESET: Type.Boolean({
    default: false,
    description:
      'pg_stat_statements 1.11+ (PostgreSQL 17+): reset min/max_exec_time after every poll (minmax_only), so latency ' +
      "histograms are bounded by each interval's own extremes; other readers of the view then see per-interval " +
      'min/max',
  }),
  PGVIGIL_STATEMENTS_INCLUDE_OWN: Type.Boolean({
    default: false,
    description:
      "Keep the statements of pgvigil's own role in the statement families and the slow log (by default " +
      'they are left out unless the role is a superuser; pgvigil_collector_db_seconds_total reports their cost)',
  }),
  PGVIGIL_QUERY_CLASSES_FILE: Type.String({
    default: '',
    description:
      'YAML or JSON file of query classes with latency objectives (see deploy/examples/query-classes.yaml); ' +
      'empty: every statement is class "other"',
  }),
  PGVIGIL_SLOW_QUERY_THRESHOLD_SECONDS: seconds(
    0.1,
    0.000001,
    3600,
    'Slow-statement log: interval mean above which a statement of no class (class "other") is logged',
  ),
  PGVIGIL_SLOW_QUERY_LOG_INTERVAL_SECONDS: seconds(
    300,
    1,
    86400,
    'Slow-statement log: at most one line per queryid per this many seconds',
  ),
  PGVIGIL_SLOW_QUERY_EXPLAIN: Type.Boolean({
    default: true,
    description:
      'PostgreSQL 16+: attach EXPLAIN (GENERIC_PLAN) of the slow statement (plan only, never executed) ' +
      'when it is on the connection database',
  }),
  PGVIGIL_PLAN_CHECKS: Type.Boolean({
    default: true,
    description:
      'PostgreSQL 16+: plan the top statements and every statement of a configured class with EXPLAIN ' +
      "(GENERIC_PLAN) (never executed), on the statements collector's database; needs the privileges the " +
      'statements need (pg_monitor alone is refused: GRANT pg_read_all_data covers reads)',
  }),
  PGVIGIL_PLAN_CHECKS_PER_POLL: Type.Integer({
    default: 5,
    minimum: 1,
    maximum: 1000,
    description: 'Plan checks: at most this many EXPLAINs per statements poll',
  }),
  PGVIGIL_PLAN_SEQ_SCAN_MIN_TABLE_BYTES: Type.Number({
    default: 10 * 1024 * 1024,
    minimum: 0,
    description: 'Plan checks: a sequential scan is flagged on tables at least this big (relpages * block_size)',
  }),
  PGVIGIL_PLAN_RECHECK_SECONDS: seconds(
    3600,
    1,
    7 * 86400,
    'Plan checks: a plan is checked again after this long even when nothing it reads changed',
  ),
  PGVIGIL_SLOW_QUERY_SEQ_SCAN_MIN_ROWS: Type.Number({
    default: 10000,
    minimum: 0,
    description:
      'Slow-statement log: flag sequential scans on tables with at least this many rows (pg_class.reltuples)',
  }),
};

function resolveSettings(values: Readonly<Record<string, unknown>>, problems: string[]): Settings {
  const value = <T>(name: keyof typeof VARIABLES) => (values[name] ?? VARIABLES[name].default) as T;
  const classesFile = value<string>('PGVIGIL_QUERY_CLASSES_FILE');
  const classes = classesFile === '' ? undefined : loadQueryClasses(classesFile);
  problems.push(...(classes?.problems ?? []));
  return {
    topN: value('PGVIGIL_STATEMENTS_TOP_N'),
    maxSeries: value('PGVIGIL_STATEMENTS_MAX_SERIES'),
    textMaxLength: value('PGVIGIL_STATEMENTS_TEXT_MAX_LENGTH'),
    textCacheBytes: value('PGVIGIL_STATEMENTS_TEXT_CACHE_BYTES'),
    textTimeoutMs: value<number>('PGVIGIL_STATEMENTS_TEXT_TIMEOUT_SECONDS') * 1000,
    slowThresholdSeconds: value('PGVIGIL_SLOW_QUERY_THRESHOLD_SECONDS'),
    slowLogIntervalMs: value<number>('PGVIGIL_SLOW_QUERY_LOG_INTERVAL_SECONDS') * 1000,
    explain: value('PGVIGIL_SLOW_QUERY_EXPLAIN'),
    seqScanMinRows: value('PGVIGIL_SLOW_QUERY_SEQ_SCAN_MIN_ROWS'),
    classes: classes?.classes ?? [],
    minmaxReset: value('PGVIGIL_STATEMENTS_MINMAX_RESET'),
    includeOwn: value('PGVIGIL_STATEMENTS_INCLUDE_OWN'),
    planChecks: value('PGVIGIL_PLAN_CHECKS'),
    planChecksPerPoll: value('PGVIGIL_PLAN_CHECKS_PER_POLL'),
    planSeqScanMinBytes: value('PGVIGIL_PLAN_SEQ_SCAN_MIN_TABLE_BYTES'),
    planRecheckMs: value<number>('PGVIGIL_PLAN_RECHECK_SECONDS') * 1000,
  };
}

export const pgStatStatements = defineCollector<Settings, State>({
  name: 'statements',
  description:
    'pg_stat_statements: per-statement counters (top N + other), latency histograms per database and query class, ' +
    'slow-statement log',
  scope: 'cluster',
  defaultIntervalSeconds: DEFAULT_INTERVAL_SECONDS,
  subsystems: ['pg_stat_statements', 'pg_statement', 'pgvigil_statements'],
  namesReason:
    "pg_stat_statements_* keep the view's name as postgres_exporter does; pg_statement_* are histograms across " +
    "statements; pgvigil_statements_* count pgvigil's own bookkeeping",
  settings: { variables: VARIABLES, resolve: (values, _env, problems) => resolveSettings(values, problems) },
  notApplicable(facts) {
    if (!facts.statementsPreloaded) return 'pg_stat_statements is not in shared_preload_libraries';
    if (!facts.extensions.has(PGSS)) {
      const fix = 'run CREATE EXTENSION pg_stat_statements there';
      return `extension pg_stat_statements is not created in database ${facts.datname} (${fix})`;
    }
    return undefined;
  },
  state: (settings, config, log): State => ({
    engine: new StatementsEngine(
      {
        ...settings,
        seriesStaleMs: stalenessMs(config, config.intervals.get('statements') ?? DEFAULT_INTERVAL_SECONDS),
      },
      log,
    ),
    log,
    minmaxReset: settings.minmaxReset,
    resetSince: undefined,
    read: undefined,
  }),
  expose: (state): Pick<StatementsCollector, 'snapshot' | 'classOf'> => ({
    snapshot: () => state.engine.snapshot(),
    classOf: (datname, usename, queryid) => state.engine.classOf(datname, usename, queryid),
  }),
  queries: [STATEMENTS],
});
