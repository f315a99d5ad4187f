import { parseArgs } from 'node:util';
import { delta, snapshot, totalMs } from './db-time.js';
import { type Exporter, startPgvigil } from './exporters.js';
import { buildFixture, ROLES } from './fixture.js';
import { percentile, prometheusScrape, seriesCount } from './http.js';
import { waitForRuns } from './poll.js';

// Load and memory (bench/README.md, "Load"): 50 concurrent scrapers for 60 s against a server with 4000
// statements and 8000 indexes — no errors, and pgvigil's polling load on the database unchanged
// (scrapes read the last snapshot, they never poll); then statement-id churn for 10 minutes
// while RSS and scrape latency are printed over time. `npm run bench:load -- --churn-seconds=120`.

const { values: opts } = parseArgs({
  options: {
    scrapers: { type: 'string', default: '50' },
    'load-seconds': { type: 'string', default: '60' },
    'churn-seconds': { type: 'string', default: '600' },
    'report-seconds': { type: 'string', default: '60' },
    'churn-per-5s': { type: 'string', default: '100' },
    help: { type: 'boolean', default: false },
  },
});
if (opts.help) {
  process.stdout.write(
    'npm run bench:load -- [--scrapers=50] [--load-seconds=60] ' +
      '[--churn-seconds=600] [--report-seconds=60] [--churn-per-5s=100]\n',
  );
  process.exit(0);
}

const log = (line: string) => process.stderr.write(`[load ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MiB = 1024 * 1024;
const out = (line: string) => process.stdout.write(`${line}\n`);

function metric(body: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(body);
  return m === null ? NaN : Number(m[1]);
}

/** pgvigil's database calls and time over `seconds`, while `during` runs. */
async function pollingLoad(
  fixture: Awaited<ReturnType<typeof buildFixture>>,
  seconds: number,
  during: (until: number) => Promise<void>,
) {
  const before = await snapshot(fixture, ROLES.pgvigil);
  const until = Date.now() + seconds * 1000;
  await Promise.all([during(until), sleep(seconds * 1000)]);
  const entries = delta(before, await snapshot(fixture, ROLES.pgvigil));
  return { calls: entries.reduce((s, e) => s + e.calls, 0), ms: totalMs(entries) };
}

async function scrapers(vigil: Exporter, n: number, until: number) {
  const times: number[] = [];
  let errors = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (Date.now() < until) {
        try {
          const r = await prometheusScrape(vigil.url);
          if (r.status !== 200) errors++;
          times.push(r.ms);
        } catch {
          errors++;
        }
      }
    }),
  );
  return { scrapes: times.length, errors, p50: percentile(times, 50), p99: percentile(times, 99) };
}

const fixture = await buildFixture({ tables: 2667, statements: 4000, statementsMax: 5000, log });
let vigil: Exporter | undefined;
try {
  vigil = await startPgvigil(fixture.url(ROLES.pgvigil));
  await waitForRuns(vigil, 1);
  const series = seriesCount((await prometheusScrape(vigil.url)).body);
  out(`\n## Load — ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`);
  out(
    `Fixture: ${fixture.tables} tables, ${fixture.indexes} extra indexes, ${fixture.statements} ` +
      `statements (pg_stat_statements.max 5000); pgvigil serves ${series} series.\n`,
  );

  const seconds = Number(opts['load-seconds']);
  const n = Number(opts.scrapers);
  log(`${seconds} s without scrapers, then ${seconds} s with ${n}`);
  const idle = await pollingLoad(fixture, seconds, async () => undefined);
  let load = { scrapes: 0, errors: 0, p50: NaN, p99: NaN };
  const busy = await pollingLoad(fixture, seconds, async (until) => {
    load = await scrapers(vigil!, n, until);
  });
  out('| window | scrapes | errors | p50 (ms) | p99 (ms) | pgvigil DB calls | pgvigil DB time (ms) |');
  out('|---|---:|---:|---:|---:|---:|---:|');
  out(`| ${seconds} s, no scrapers | 0 | 0 | – | – | ${idle.calls} | ${idle.ms.toFixed(0)} |`);
  out(
    `| ${seconds} s, ${n} concurrent scrapers | ${load.scrapes} | ${load.errors} | ` +
      `${load.p50.toFixed(1)} | ${load.p99.toFixed(1)} | ${busy.calls} | ${busy.ms.toFixed(0)} |`,
  );
  out(
    `\nDB calls with scrapers / without: ${(busy.calls / idle.calls).toFixed(2)} ` +
      `(polls do not multiply with scrapes when this is ~1).\n`,
  );

  const churnS = Number(opts['churn-seconds']);
  const reportS = Number(opts['report-seconds']);
  const perTick = Number(opts['churn-per-5s']);
  log(`${churnS} s of statement churn, ${perTick} new statements every 5 s, one scrape every 5 s`);
  out('| t (s) | RSS (MiB) | V8 heap used (MiB) | scrape p99 (ms) | series | statements evicted (dealloc) |');
  out('|---:|---:|---:|---:|---:|---:|');
  const t0 = Date.now();
  let offset = fixture.statements + 10_000;
  let window: number[] = [];
  const rss: number[] = [];
  let nextReport = reportS;
  while (Date.now() - t0 < churnS * 1000) {
    const tickStart = Date.now();
    await fixture.runStatements(perTick, offset);
    offset += perTick;
    const r = await prometheusScrape(vigil.url);
    if (r.status !== 200) throw new Error(`scrape failed with ${r.status}`);
    window.push(r.ms);
    const t = (Date.now() - t0) / 1000;
    if (t >= nextReport) {
      nextReport += reportS;
      const [info] = await fixture.sql<{ dealloc: number }>(
        'SELECT dealloc::float8 AS dealloc FROM pg_stat_statements_info',
      );
      rss.push(vigil.rss() / MiB);
      out(
        `| ${t.toFixed(0)} | ${(vigil.rss() / MiB).toFixed(1)} | ` +
          `${(metric(r.body, 'nodejs_heap_size_used_bytes') / MiB).toFixed(1)} | ` +
          `${percentile(window, 99).toFixed(1)} | ${seriesCount(r.body)} | ${info?.dealloc ?? NaN} |`,
      );
      window = [];
    }
    await sleep(Math.max(0, tickStart + 5000 - Date.now()));
  }
  if (rss.length >= 2) {
    const half = Math.floor(rss.length / 2);
    const mean = (xs: number[]) => xs.reduce((s, v) => s + v, 0) / xs.length;
    out(
      `\nRSS: first half mean ${mean(rss.slice(0, half)).toFixed(1)} MiB, second half ` +
        `${mean(rss.slice(half)).toFixed(1)} MiB, max ${Math.max(...rss).toFixed(1)} MiB.`,
    );
  }
} finally {
  await vigil?.stop();
  await fixture.close();
}
