import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { pgStatStatements } from '../src/collectors/pg-stat-statements.js';
import { LocalCluster } from '../src/dev/local-cluster.js';
import { createLogger } from '../src/logger.js';
import { createPgvigil } from '../src/pgvigil.js';
import { loadConfig } from '../src/pgvigil-config.js';
import type { Histogram } from './latency-compare.js';
import { type LatencyShape, shapeClassesYaml } from './latency-shapes.js';
import { runPgbench } from './latency-truth.js';

// Runs pgbench shapes against a throwaway cluster while an in-process pgvigil (statements
// collector only) polls every `intervalSeconds`, and collects for every shape: pgbench's
// latencies (the truth), the class histogram pgvigil serves on /metrics, and the raw
// pg_stat_statements row read right after each poll (so other estimators can be replayed on the
// same intervals).

export interface HarnessOptions {
  readonly shapes: readonly LatencyShape[];
  readonly major?: number;
  /** Server under test instead of a throwaway cluster (its pg_stat_statements must be loaded). */
  readonly url?: string;
  readonly seconds?: number;
  readonly transactions?: number;
  readonly clients: number;
  readonly intervalSeconds: number;
  /** Extra pgvigil environment (PGVIGIL_...). */
  readonly env?: Record<string, string>;
  readonly log?: (line: string) => void;
}

/** One pg_stat_statements row of a shape, cumulative, in seconds, as read after a poll. */
export interface RawStatementRow {
  readonly calls: number;
  readonly totalSeconds: number;
  readonly meanSeconds: number;
  readonly stddevSeconds: number;
  readonly minSeconds: number;
  readonly maxSeconds: number;
}

export interface ShapeResult {
  readonly shape: LatencyShape;
  readonly truth: number[];
  readonly exporter: Histogram;
  /** Per poll, the shape's row (undefined before its first call). */
  readonly rows: (RawStatementRow | undefined)[];
}

const RAW_SQL = `
SELECT d.datname, s.calls::float8 AS calls, (s.total_exec_time / 1000)::float8 AS total_seconds,
       (s.mean_exec_time / 1000)::float8 AS mean_seconds, (s.stddev_exec_time / 1000)::float8 AS stddev_seconds,
       (s.min_exec_time / 1000)::float8 AS min_seconds, (s.max_exec_time / 1000)::float8 AS max_seconds
FROM pg_stat_statements(false) s JOIN pg_database d ON d.oid = s.dbid
WHERE d.datname = ANY($1) AND s.toplevel IS NOT FALSE AND s.calls > 0
ORDER BY s.calls DESC`;

/** The same server URL with another database. */
function databaseUrl(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** The class histogram of `className` from a text exposition. */
export function classHistogram(text: string, className: string): Histogram {
  const bounds: number[] = [];
  const buckets: number[] = [];
  let count = 0;
  let sum = 0;
  const name = 'pg_statement_class_duration_seconds';
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || !line.includes(`class="${className}"`)) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (line.startsWith(`${name}_sum`)) sum = value;
    if (line.startsWith(`${name}_bucket`)) {
      const le = /le="([^"]+)"/.exec(line)![1]!;
      if (le === '+Inf') count = value;
      else {
        bounds.push(Number(le));
        buckets.push(value);
      }
    }
  }
  return { bounds, buckets, count, sum };
}

export async function measureShapes(options: HarnessOptions): Promise<ShapeResult[]> {
  const say = options.log ?? (() => undefined);
  const dir = mkdtempSync(join(tmpdir(), 'pgvigil-latency-'));
  const cluster = options.url === undefined ? await LocalCluster.create({ major: options.major ?? 15 }) : undefined;
  const url = options.url ?? cluster!.url();
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  const stops: (() => Promise<unknown>)[] = [];
  try {
    await admin.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    for (const s of options.shapes) {
      await admin.query(`DROP DATABASE IF EXISTS ${s.name}`);
      await admin.query(`CREATE DATABASE ${s.name}`);
      if (s.before === undefined) continue;
      const c = new pg.Client({ connectionString: databaseUrl(url, s.name) });
      await c.connect();
      await c.query(s.before).finally(() => c.end());
    }
    writeFileSync(join(dir, 'classes.yaml'), shapeClassesYaml(options.shapes));
    const config = loadConfig({
      DATABASE_URL: url,
      PGVIGIL_PORT: '0',
      PGVIGIL_HOST: '127.0.0.1',
      PGVIGIL_LOG_LEVEL: 'warn',
      PGVIGIL_QUERY_CLASSES_FILE: join(dir, 'classes.yaml'),
      PGVIGIL_SLOW_QUERY_THRESHOLD_SECONDS: '30',
      ...options.env,
    });
    const pgvigil = await createPgvigil(config, createLogger('warn'), [pgStatStatements]);
    stops.push(() => pgvigil.close());
    const rows = new Map<string, (RawStatementRow | undefined)[]>(options.shapes.map((s) => [s.name, []]));
    // The raw row is read just before pgvigil's poll: with PGVIGIL_STATEMENTS_MINMAX_RESET the poll
    // resets min/max, and the replay must see the same interval extremes pgvigil saw.
    const pollAndRead = async () => {
      const names = options.shapes.map((s) => s.name);
      const read = await admin.query<{ datname: string } & Record<string, number>>(RAW_SQL, [names]);
      for (const s of options.shapes) {
        const r = read.rows.find((x) => x.datname === s.name); // the shape's statement: the most calls
        rows.get(s.name)!.push(
          r === undefined
            ? undefined
            : {
                calls: r.calls!,
                totalSeconds: r.total_seconds!,
                meanSeconds: r.mean_seconds!,
                stddevSeconds: r.stddev_seconds!,
                minSeconds: r.min_seconds!,
                maxSeconds: r.max_seconds!,
              },
        );
      }
      await pgvigil.poller.pollCollector('statements');
    };
    await pollAndRead(); // the baseline
    say(`pgbench: ${options.shapes.map((s) => s.name).join(', ')}, ${options.clients} client(s) each`);
    let running = true;
    const truths = Promise.all(
      options.shapes.map((s) =>
        runPgbench({
          url: databaseUrl(url, s.name),
          script: s.script,
          dir,
          name: s.name,
          clients: options.clients,
          ...(options.transactions !== undefined
            ? { transactions: options.transactions }
            : { seconds: options.seconds ?? 30 }),
        }),
      ),
    ).finally(() => (running = false));
    let polls = 0;
    while (running) {
      const tick = Date.now() + options.intervalSeconds * 1000;
      while (running && Date.now() < tick) await new Promise((r) => setTimeout(r, 100));
      if (!running) break;
      await pollAndRead();
      polls++;
    }
    const truth = await truths;
    await pollAndRead(); // the calls since the last tick
    say(`${polls + 1} polls after the baseline`);
    const text = (await pgvigil.app.inject({ method: 'GET', url: '/metrics' })).body;
    return options.shapes.map((shape, i) => ({
      shape,
      truth: truth[i]!,
      exporter: classHistogram(text, shape.name),
      rows: rows.get(shape.name)!,
    }));
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    await admin.end().catch(() => undefined);
    if (cluster !== undefined) await cluster.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}
