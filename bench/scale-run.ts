import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { delta, describeTop, snapshot, totalMs } from './db-time.js';
import { type Exporter, startPeer, startPgvigil } from './exporters.js';
import { buildFixture, DATABASE, type Fixture, ROLES } from './fixture.js';
import { percentile, prometheusScrape, seriesCount } from './http.js';
import { collectorRuns } from './poll.js';

// Large schemas: pgvigil and postgres_exporter side by side on fixtures of 2,000, 20,000 and
// 50,000 extra tables (3 indexes each; the application data stays small), each started cold and
// scraped every 15 s from its first second on, so the first poll after start counts too.
// `npm run bench:scale -- --scales=1,10,25`; --help for options.

const { values: opts } = parseArgs({
  options: {
    scales: { type: 'string', default: '1,10,25' },
    tables: { type: 'string', default: '2000' },
    users: { type: 'string', default: '10000' },
    window: { type: 'string', default: '180' },
    scrape: { type: 'string', default: '15' },
    'statement-timeout': { type: 'string', default: '5' },
    help: { type: 'boolean', default: false },
  },
});
if (opts.help) {
  process.stdout.write(
    'npm run bench:scale -- [--scales=1,10,25] [--tables=2000] [--users=10000] [--window=180] [--scrape=15] ' +
      '[--statement-timeout=5]\n',
  );
  process.exit(0);
}

const log = (line: string) => process.stderr.write(`[scale ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const MiB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Peak resident set size (VmHWM) of a process, bytes. */
const rssPeak = (pid: number) =>
  Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) * 1024;

interface Side {
  readonly scrapes: number[];
  failedScrapes: number;
  lastBody: string;
}

/** Scrapes on a fixed tick for the window; a tick that finds the previous scrape running is skipped. */
async function scrapeWindow(exporter: Exporter, everyS: number, windowS: number, failed: (body: string) => boolean) {
  const side: Side = { scrapes: [], failedScrapes: 0, lastBody: '' };
  const t0 = Date.now();
  for (let tick = 0; tick * everyS < windowS; tick++) {
    await sleep(Math.max(0, t0 + tick * everyS * 1000 - Date.now()));
    if (Date.now() - t0 > (tick + 1) * everyS * 1000) continue;
    try {
      const r = await prometheusScrape(exporter.url);
      side.scrapes.push(r.ms);
      side.lastBody = r.body;
      if (r.status !== 200 || failed(side.lastBody)) side.failedScrapes++;
    } catch {
      side.failedScrapes++;
    }
  }
  return side;
}

/** pgvigil's per-collector runs and failures, from its self-metrics. */
function vigilCollectors(body: string) {
  const runs = collectorRuns(body);
  const failures = new Map<string, number>();
  for (const m of body.matchAll(/^pgvigil_collector_errors_total\{[^}]*collector="([^"]+)"[^}]*\} (\S+)$/gm)) {
    failures.set(m[1]!, (failures.get(m[1]!) ?? 0) + Number(m[2]));
  }
  return { runs, failures };
}

interface Result {
  readonly scale: number;
  readonly tables: number;
  readonly indexes: number;
  readonly vigil: Measured;
  readonly peer: Measured;
  /** Failed pgvigil runs per collector (all collectors listed when none failed). */
  readonly vigilFailures: string;
  /** tables and indexes collectors: mean run time (s). */
  readonly vigilPollS: { tables: number; indexes: number; max: number };
  readonly vigilMaxStatementMs: number;
  readonly vigilTop: string;
  readonly peerTop: string;
}

interface Measured {
  readonly dbMsPerMinute: number;
  readonly series: number;
  readonly rssPeakMiB: number;
  readonly scrapeP99Ms: number;
  readonly scrapes: number;
  readonly failedScrapes: number;
}

async function maxStatementMs(fixture: Fixture, role: string): Promise<number> {
  const [row] = await fixture.sql<{ ms: number | null }>(
    `SELECT max(max_exec_time)::float8 AS ms FROM pg_stat_statements
     WHERE userid = (SELECT oid FROM pg_roles WHERE rolname = $1)`,
    [role],
  );
  return row?.ms ?? NaN;
}

async function runScale(scale: number): Promise<Result> {
  const fixture = await buildFixture({ scale, tables: Number(opts.tables), users: Number(opts.users), log });
  let vigil: Exporter | undefined;
  let peer: Exporter | undefined;
  try {
    await fixture.sql('SELECT pg_stat_statements_reset()');
    const before = await Promise.all([snapshot(fixture, ROLES.pgvigil), snapshot(fixture, ROLES.peer)]);
    const windowS = Number(opts.window);
    const everyS = Number(opts.scrape);
    log(`scale ${scale}×: both exporters started cold, scraped every ${everyS} s for ${windowS} s`);
    vigil = await startPgvigil(fixture.url(ROLES.pgvigil), {
      PGVIGIL_STATEMENT_TIMEOUT_SECONDS: String(opts['statement-timeout']),
      PGVIGIL_COLLECTOR_TIMEOUT_SECONDS: String(Number(opts['statement-timeout']) * 2),
    });
    peer = await startPeer(`postgresql://${ROLES.peer}@127.0.0.1:${fixture.cluster.port}/${DATABASE}?sslmode=disable`);
    const started = Date.now();
    const [v, p] = await Promise.all([
      scrapeWindow(vigil, everyS, windowS, () => false),
      scrapeWindow(peer, everyS, windowS, (body) => /^pg_exporter_last_scrape_error 1$/m.test(body)),
    ]);
    const minutes = (Date.now() - started) / 60_000;
    const after = await Promise.all([snapshot(fixture, ROLES.pgvigil), snapshot(fixture, ROLES.peer)]);
    const vigilDb = delta(before[0], after[0]);
    const peerDb = delta(before[1], after[1]);
    const { runs, failures } = vigilCollectors(v.lastBody);
    const mean = (c: string) => (runs.seconds.get(c) ?? NaN) / (runs.count.get(c) ?? NaN);
    const failed = [...failures].filter(([, n]) => n > 0);
    const measured = (e: Exporter, side: Side, db: typeof vigilDb): Measured => ({
      dbMsPerMinute: totalMs(db) / minutes,
      series: seriesCount(side.lastBody),
      rssPeakMiB: rssPeak(e.pid) / MiB,
      scrapeP99Ms: percentile(side.scrapes, 99),
      scrapes: side.scrapes.length,
      failedScrapes: side.failedScrapes,
    });
    const result: Result = {
      scale,
      tables: fixture.tables,
      indexes: fixture.indexes,
      vigil: measured(vigil, v, vigilDb),
      peer: measured(peer, p, peerDb),
      vigilFailures:
        failed.length === 0
          ? `none (${[...runs.count].map(([c, n]) => `${c} ${n}`).join(', ')} runs)`
          : failed.map(([c, n]) => `${c} ${n} of ${runs.count.get(c) ?? 0}`).join(', '),
      vigilPollS: {
        tables: mean('tables'),
        indexes: mean('indexes'),
        max: Math.max(...[...runs.count.keys()].map(mean).filter(Number.isFinite)),
      },
      vigilMaxStatementMs: await maxStatementMs(fixture, ROLES.pgvigil),
      vigilTop: describeTop(vigilDb, 5),
      peerTop: describeTop(peerDb, 3),
    };
    if (failed.length > 0) log(`pgvigil output:\n${vigil.output().slice(-3000)}`);
    // Printed before the fixture is torn down (removing 50,000 tables' files takes minutes).
    log(`result: ${JSON.stringify(result)}`);
    return result;
  } finally {
    await vigil?.stop();
    await peer?.stop();
    await fixture.close();
  }
}

const results: Result[] = [];
for (const s of String(opts.scales).split(',').map(Number)) {
  results.push(await runScale(s));
}

const base = results[0]!;
const f = (n: number, d = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: d }) : '–');
const lines = [
  `\n## Scale run — ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
  '',
  `Each exporter started cold on the fixture, both scraped every ${opts.scrape} s for ${opts.window} s; ` +
    `pgvigil with its default intervals and PGVIGIL_STATEMENT_TIMEOUT_SECONDS=${opts['statement-timeout']}.`,
  '',
  '| scale | tables / indexes | exporter | failed runs or scrapes | tables / indexes poll (s) | ' +
    'longest statement (ms) | DB time per minute (ms) | growth | /peer | series | RSS peak (MiB) | scrape p99 (ms) |',
  '|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
];
for (const r of results) {
  lines.push(
    `| ${r.scale}× | ${f(r.tables)} / ${f(r.indexes)} | pgvigil | ${r.vigilFailures} | ` +
      `${f(r.vigilPollS.tables, 2)} / ${f(r.vigilPollS.indexes, 2)} | ${f(r.vigilMaxStatementMs)} | ` +
      `${f(r.vigil.dbMsPerMinute)} | ${(r.vigil.dbMsPerMinute / base.vigil.dbMsPerMinute).toFixed(2)}× | ` +
      `${(r.vigil.dbMsPerMinute / r.peer.dbMsPerMinute).toFixed(2)} | ${f(r.vigil.series)} | ` +
      `${f(r.vigil.rssPeakMiB, 1)} | ${f(r.vigil.scrapeP99Ms, 1)} |`,
    `| | | postgres_exporter | ${r.peer.failedScrapes} of ${r.peer.scrapes + r.peer.failedScrapes} scrapes | ` +
      `– | – | ${f(r.peer.dbMsPerMinute)} | ${(r.peer.dbMsPerMinute / base.peer.dbMsPerMinute).toFixed(2)}× | | ` +
      `${f(r.peer.series)} | ${f(r.peer.rssPeakMiB, 1)} | ${f(r.peer.scrapeP99Ms, 1)} |`,
  );
}
process.stdout.write(`${lines.join('\n')}\n`);
for (const r of results) {
  process.stdout.write(
    `\n${r.scale}×, where pgvigil's database time went:\n${r.vigilTop}\n` + `${r.scale}×, the peer's:\n${r.peerTop}\n`,
  );
}
