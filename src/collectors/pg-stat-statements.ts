import type { Config } from '../config.js';
import { MissingExtensionError } from '../errors.js';
import { versionAtLeast } from '../server-facts.js';
import type { EntrySnapshot } from '../statements/deltas.js';
import { StatementsEngine, type ApiSnapshot, type StatementSample } from '../statements/engine.js';
import { textKey } from '../statements/text-cache.js';
import type { Collector, CollectorDefinition, QueryFn } from './types.js';

// pg_stat_statements: the view is cluster-wide, but its functions exist only in databases where
// the extension was created, so this runs on the connection database. Statistics are read
// without text every poll (pg_stat_statements(false) skips reading the query-text file); texts
// are fetched separately, only for entries not seen before. Columns follow the installed
// EXTENSION version, not the server version: a PostgreSQL 17 server may still run 1.10.

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

/** Column expressions per extension version; every variant returns the same row shape. */
function statementsSql(schema: string, v: string): string {
  const v18 = versionAtLeast(v, '1.8');
  const v19 = versionAtLeast(v, '1.9');
  const v111 = versionAtLeast(v, '1.11');
  const exec = v18 ? 'exec_time' : 'time'; // 1.8 renamed total_time → total_exec_time
  const ms = (col: string) => `(${col} / 1000.0)::float8`;
  return `
SELECT s.dbid, s.userid,
       coalesce(s.queryid::text, '') AS queryid,
       ${v19 ? 's.toplevel' : 'NULL::bool'} AS toplevel,
       coalesce(d.datname, s.dbid::text) AS datname,
       coalesce(r.rolname, s.userid::text) AS usename,
       ${v111 ? 'extract(epoch FROM s.stats_since)::float8' : 'NULL::float8'} AS stats_since,
       s.calls::float8 AS calls,
       ${ms(`s.total_${exec}`)} AS exec_seconds,
       ${v18 ? ms('s.total_plan_time') : '0::float8'} AS plan_seconds,
       s.rows::float8 AS rows,
       s.shared_blks_hit::float8 AS shared_blks_hit,
       s.shared_blks_read::float8 AS shared_blks_read,
       s.temp_blks_written::float8 AS temp_blks_written,
       ${ms(v111 ? 's.shared_blk_read_time' : 's.blk_read_time')} AS blk_read_seconds,
       ${ms(v111 ? 's.shared_blk_write_time' : 's.blk_write_time')} AS blk_write_seconds,
       ${v18 ? 's.wal_bytes::float8' : '0::float8'} AS wal_bytes,
       ${ms(`s.mean_${exec}`)} AS mean_seconds,
       ${ms(`s.stddev_${exec}`)} AS stddev_seconds,
       ${ms(`s.min_${exec}`)} AS min_seconds,
       ${ms(`s.max_${exec}`)} AS max_seconds
FROM ${schema}.pg_stat_statements(false) s
LEFT JOIN pg_database d ON d.oid = s.dbid
LEFT JOIN pg_roles r ON r.oid = s.userid`;
}

interface StatementRow {
  dbid: number;
  userid: number;
  queryid: string;
  toplevel: boolean | null;
  datname: string;
  usename: string;
  stats_since: number | null;
  calls: number;
  exec_seconds: number;
  plan_seconds: number;
  rows: number;
  shared_blks_hit: number;
  shared_blks_read: number;
  temp_blks_written: number;
  blk_read_seconds: number;
  blk_write_seconds: number;
  wal_bytes: number;
  mean_seconds: number;
  stddev_seconds: number;
  min_seconds: number;
  max_seconds: number;
}

// 1.9+: evictions and the time of the last full reset.
const infoSql = (schema: string) => `
SELECT dealloc::float8 AS dealloc, extract(epoch FROM stats_reset)::float8 AS stats_reset
FROM ${schema}.pg_stat_statements_info`;

// Texts of the given queryids only; left() bounds what crosses the wire and sits in memory
// before redaction. Own transaction and statement_timeout: the text file can be hundreds of MB.
const textsSql = (schema: string) => `
SELECT dbid, userid, queryid::text AS queryid, left(query, $2) AS query
FROM ${schema}.pg_stat_statements(true)
WHERE queryid = ANY($1::int8[])`;

export interface StatementsCollector extends Collector {
  /** Current top statements for GET /api/statements. */
  snapshot(): ApiSnapshot;
}

async function fetchTexts(query: QueryFn, schema: string, entries: readonly EntrySnapshot[], timeoutMs: number, maxChars: number) {
  const wanted = new Set(entries.map((e) => textKey(e.dbid, e.userid, e.queryid)));
  const ids = [...new Set(entries.map((e) => e.queryid).filter((q) => q !== ''))];
  const texts = new Map<string, string>();
  if (ids.length === 0) return texts;
  await query('BEGIN');
  try {
    await query(`SET LOCAL statement_timeout = ${Math.max(1, Math.round(timeoutMs))}`);
    const rows = await query<{ dbid: number; userid: number; queryid: string; query: string | null }>(textsSql(schema), [ids, maxChars]);
    for (const r of rows) {
      const key = textKey(r.dbid, r.userid, r.queryid);
      if (r.query !== null && wanted.has(key)) texts.set(key, r.query);
    }
  } finally {
    await query('ROLLBACK').catch(() => undefined);
  }
  return texts;
}

function toSample(r: StatementRow): StatementSample {
  return {
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
  };
}

export const pgStatStatements: CollectorDefinition = {
  name: 'statements',
  description: 'pg_stat_statements: per-statement counters (top N + other), latency histograms per database and query class, slow-statement log',
  scope: 'cluster',
  defaultIntervalSeconds: 15,
  notApplicable(facts) {
    if (!facts.statementsPreloaded) return 'pg_stat_statements is not in shared_preload_libraries';
    if (!facts.extensions.has('pg_stat_statements')) {
      return `extension pg_stat_statements is not created in database ${facts.datname} (run CREATE EXTENSION pg_stat_statements there)`;
    }
    return undefined;
  },
  create(config: Config, log): StatementsCollector {
    const textTimeoutMs = config.PGVIGIL_STATEMENTS_TEXT_TIMEOUT_SECONDS * 1000;
    // Enough of the text for class rules to see the WHERE clause even when the kept text is short.
    const fetchChars = Math.max(config.PGVIGIL_STATEMENTS_TEXT_MAX_LENGTH, 4096);
    // Opt-in: resetting min/max changes what every other reader of the view sees.
    let minmaxReset = config.PGVIGIL_STATEMENTS_MINMAX_RESET;
    /** The previous poll reset min/max on this server incarnation: this poll's extremes are the interval's. */
    let resetSince: number | undefined;
    const engine = new StatementsEngine(
      {
        topN: config.PGVIGIL_STATEMENTS_TOP_N,
        maxSeries: config.PGVIGIL_STATEMENTS_MAX_SERIES,
        textMaxLength: config.PGVIGIL_STATEMENTS_TEXT_MAX_LENGTH,
        textCacheBytes: config.PGVIGIL_STATEMENTS_TEXT_CACHE_BYTES,
        textTimeoutMs,
        slowThresholdSeconds: config.PGVIGIL_SLOW_QUERY_THRESHOLD_SECONDS,
        slowLogIntervalMs: config.PGVIGIL_SLOW_QUERY_LOG_INTERVAL_SECONDS * 1000,
        explain: config.PGVIGIL_SLOW_QUERY_EXPLAIN,
        seqScanMinRows: config.PGVIGIL_SLOW_QUERY_SEQ_SCAN_MIN_ROWS,
        classes: config.queryClasses,
      },
      log,
    );
    return {
      snapshot: () => engine.snapshot(),
      async collect({ query, facts, datname, now }) {
        const [meta] = await query<MetaRow>(META_SQL);
        if (meta === undefined) {
          throw new MissingExtensionError('pg_stat_statements', `not created in database ${datname}`);
        }
        const v = meta.extversion;
        // stats_reset read before and after the entries: a full reset in between would make
        // this snapshot half old, half new, so such a poll only sets a new baseline.
        const readInfo = async () =>
          versionAtLeast(v, '1.9') ? (await query<{ dealloc: number; stats_reset: number }>(infoSql(meta.schema)))[0] : undefined;
        const infoBefore = await readInfo();
        const rows = await query<StatementRow>(statementsSql(meta.schema, v));
        const info = await readInfo();
        const intervalExtremes = resetSince === meta.server_start;
        resetSince = undefined;
        if (minmaxReset && versionAtLeast(v, '1.11')) {
          try {
            // Right after the read, so the next poll's min/max cover (nearly) exactly its interval.
            await query(`SELECT ${meta.schema}.pg_stat_statements_reset(0, 0, 0, true)`);
            resetSince = meta.server_start;
          } catch (err) {
            minmaxReset = false; // usually permission: pg_stat_statements_reset is superuser-only unless granted
            log.warn({ err }, 'pg_stat_statements min/max reset failed; latency histograms use lifetime min/max');
          }
        }
        return engine.poll(
          {
            now,
            entries: rows.map(toSample),
            statsReset: info?.stats_reset ?? null,
            dealloc: info?.dealloc ?? null,
            maxEntries: meta.max_entries,
            trackPlanning: meta.track_planning,
            hasToplevel: versionAtLeast(v, '1.9'),
            serverStart: meta.server_start,
            torn: infoBefore?.stats_reset !== info?.stats_reset,
            extversion: v,
            connectionDatname: datname,
            major: facts.major,
            intervalExtremes,
          },
          {
            query,
            fetchTexts: (entries) => fetchTexts(query, meta.schema, entries, textTimeoutMs, fetchChars),
          },
        );
      },
    };
  },
};
