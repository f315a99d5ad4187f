import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { amortizedPerMinute, delta, describeTop, floorMs, snapshot, totalMs } from './db-time.js';
import { type Exporter, startPeer, startPgvigil } from './exporters.js';
import { buildFixture, DATABASE, type Fixture, ROLES } from './fixture.js';
import { familyNames, prometheusScrape, sequentialScrapes, seriesCount, wrk } from './http.js';
import { measurePoll, waitForRuns } from './poll.js';

// pgvigil against Debian's prometheus-postgres-exporter on the same fixture, in one run, and the
// growth of series and poll cost with the fixture's scale. `npm run bench`; --help for options.

const { values: opts } = parseArgs({
  options: {
    scales: { type: 'string', default: '1,2,4' },
    'skip-compare': { type: 'boolean', default: false },
    'skip-scale': { type: 'boolean', default: false },
    window: { type: 'string', default: '60' },
    scrapes: { type: 'string', default: '200' },
    'scrape-budget': { type: 'string', default: '180' },
    'wrk-seconds': { type: 'string', default: '10' },
    tables: { type: 'string', default: '2000' },
    users: { type: 'string', default: '100000' },
    help: { type: 'boolean', default: false },
  },
});
if (opts.help) {
  process.stdout.write(
    'npm run bench -- [--scales=1,2,4] [--skip-compare] [--skip-scale] [--window=60] ' +
      '[--scrapes=200] [--scrape-budget=180] [--wrk-seconds=10] [--tables=2000] [--users=100000]\n',
  );
  process.exit(0);
}

const log = (line: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const MiB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Scrapes like Prometheus: on a fixed tick, never two at once (a tick that finds the previous scrape
 * still running is dropped). Returns how many scrapes completed within the window.
 */
async function scrapeEvery(url: string, intervalS: number, windowS: number): Promise<number> {
  const t0 = Date.now();
  let done = 0;
  for (;;) {
    const tick = Math.ceil((Date.now() - t0) / (intervalS * 1000)) * intervalS * 1000;
    if (tick >= windowS * 1000) break;
    await sleep(Math.max(0, t0 + tick - Date.now()));
    await prometheusScrape(url);
    if (Date.now() - t0 <= windowS * 1000) done++;
  }
  await sleep(Math.max(0, t0 + windowS * 1000 - Date.now()));
  return done;
}

function peerDsn(fixture: Fixture): string {
  return `postgresql://${ROLES.peer}@127.0.0.1:${fixture.cluster.port}/${DATABASE}?sslmode=disable`;
}

/**
 * The peer's metric groups (one per built-in collector or query: pg_stat_user_tables, pg_settings ...)
 * with how many of their families pgvigil exports under the same name (counter suffix ignored).
 */
function coverage(peerBody: string, vigilBody: string): string {
  const strip = (n: string) => n.replace(/_total$/, '');
  const ours = [...familyNames(vigilBody)].map(strip);
  const groups = new Map<string, { all: number; same: number; prefix: boolean }>();
  const GROUPS = new RegExp(
    '^(pg_stat_user_tables|pg_statio_user_tables|pg_stat_statements|pg_stat_database_conflicts|pg_stat_database|' +
      'pg_stat_bgwriter|pg_stat_activity|pg_stat_archiver|pg_settings|pg_locks|pg_replication|pg_postmaster|' +
      'pg_process_idle|pg_database|pg_static|pg_up|pg_exporter|pg_scrape_collector)',
  );
  for (const name of familyNames(peerBody)) {
    if (/^(go|process|promhttp|postgres_exporter)_/.test(name)) continue;
    const group = GROUPS.exec(name)?.[1] ?? name;
    const g = groups.get(group) ?? { all: 0, same: 0, prefix: false };
    g.all++;
    if (ours.includes(strip(name))) g.same++;
    g.prefix ||= ours.some((n) => n.startsWith(group));
    groups.set(group, g);
  }
  return [...groups]
    .map(
      ([group, g]) =>
        `${group} ${g.same}/${g.all}${g.same === 0 && g.prefix ? ' (other names)' : g.same === 0 ? ' (**none**)' : ''}`,
    )
    .join(', ');
}

interface Row {
  readonly what: string;
  readonly vigil: number;
  readonly peer: number;
  readonly digits: number;
  /** Target on the ratio pgvigil/peer (or an absolute limit on pgvigil), and whether lower is better. */
  readonly target?: { ratio?: number; absolute?: number; label: string };
}

function machine(): string {
  const os = /PRETTY_NAME="([^"]+)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'Linux';
  return `${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'cpu'}), ${os}, Node ${process.version}`;
}

function printTable(rows: Row[]): void {
  const lines = [
    '| measure | pgvigil | postgres_exporter | pgvigil/peer | target | holds |',
    '|---|---:|---:|---:|---|---|',
  ];
  for (const r of rows) {
    const ratio = r.vigil / r.peer;
    let holds = '';
    if (r.target?.ratio !== undefined) holds = ratio <= r.target.ratio ? 'yes' : '**no**';
    if (r.target?.absolute !== undefined) holds = r.vigil <= r.target.absolute ? 'yes' : '**no**';
    lines.push(
      `| ${r.what} | ${r.vigil.toFixed(r.digits)} | ${Number.isNaN(r.peer) ? '–' : r.peer.toFixed(r.digits)} ` +
        `| ${Number.isFinite(ratio) ? ratio.toFixed(2) : '–'} | ${r.target?.label ?? ''} | ${holds} |`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function compare(): Promise<void> {
  const fixture = await buildFixture({ tables: Number(opts.tables), users: Number(opts.users), log });
  let vigil: Exporter | undefined;
  let peer: Exporter | undefined;
  try {
    vigil = await startPgvigil(fixture.url(ROLES.pgvigil));
    peer = await startPeer(peerDsn(fixture));
    log('warm-up: every pgvigil collector once, two peer scrapes');
    await waitForRuns(vigil, 1);
    for (let i = 0; i < 2; i++) await prometheusScrape(peer.url);
    const vigilBody = (await prometheusScrape(vigil.url)).body;
    const peerBody = (await prometheusScrape(peer.url)).body;
    const rssWarm = [vigil.rss(), peer.rss()];

    const windowS = Number(opts.window);
    log(`${windowS} s window, both scraped every 5 s`);
    const cpu0 = [vigil.cpuSeconds(), peer.cpuSeconds()];
    const snaps0 = await Promise.all([snapshot(fixture, ROLES.pgvigil), snapshot(fixture, ROLES.peer)]);
    const [, peerScrapes] = await Promise.all([scrapeEvery(vigil.url, 5, windowS), scrapeEvery(peer.url, 5, windowS)]);
    const cpu1 = [vigil.cpuSeconds(), peer.cpuSeconds()];
    const snaps1 = await Promise.all([snapshot(fixture, ROLES.pgvigil), snapshot(fixture, ROLES.peer)]);
    const perMinute = 60 / windowS;
    const vigilWindow = delta(snaps0[0], snaps1[0]);
    const peerWindow = delta(snaps0[1], snaps1[1]);

    const n = Number(opts.scrapes);
    const budget = Number(opts['scrape-budget']);
    log(`${n} sequential scrapes each (at most ${budget} s per exporter)`);
    const vigilSeq = await sequentialScrapes(vigil.url, n, budget);
    const peerSeq = await sequentialScrapes(peer.url, n, budget);
    const wrkS = Number(opts['wrk-seconds']);
    log(`wrk, 10 connections, ${wrkS} s each`);
    const vigilWrk = wrk(vigil.url, 10, wrkS);
    const peerWrk = wrk(peer.url, 10, wrkS);
    const rssLoad = [vigil.rss(), peer.rss()];
    await vigil.stop();
    await peer.stop();
    vigil = peer = undefined;

    log('one full poll, every collector on a 15 s interval');
    const poll = await measurePoll(fixture);
    const floor = await floorMs(fixture, poll.entries, ROLES.floor);
    const amortized = amortizedPerMinute(vigilWindow, windowS, poll.entries);

    process.stdout.write(
      `\n## pgvigil vs postgres_exporter 0.11 — ` +
        `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${machine()}\n\n`,
    );
    process.stdout.write(
      `Fixture: ${fixture.tables} extra tables, ${fixture.indexes} extra indexes, ` +
        `${fixture.statements} statements in pg_stat_statements, ` +
        `${Number(opts.users)} users / ${Number(opts.users) * 10} workshop steps, 200 idle connections; ` +
        `PostgreSQL ${fixture.cluster.major}.\n\n`,
    );
    const rows: Row[] = [
      { what: 'series on /metrics', vigil: seriesCount(vigilBody), peer: seriesCount(peerBody), digits: 0 },
      { what: 'families on /metrics', vigil: familyNames(vigilBody).size, peer: familyNames(peerBody).size, digits: 0 },
      { what: '/metrics median latency (ms)', vigil: vigilSeq.median, peer: peerSeq.median, digits: 2 },
      {
        what: `/metrics p99 latency (ms; ${vigilSeq.n} and ${peerSeq.n} sequential scrapes)`,
        vigil: vigilSeq.p99,
        peer: peerSeq.p99,
        digits: 2,
        target: { ratio: 0.2, label: '≤ 0.2×' },
      },
      { what: 'throughput (req/s, wrk 10 connections)', vigil: vigilWrk.rps, peer: peerWrk.rps, digits: 1 },
      { what: 'RSS after warm-up (MiB)', vigil: rssWarm[0]! / MiB, peer: rssWarm[1]! / MiB, digits: 1 },
      {
        what: 'RSS after load (MiB)',
        vigil: rssLoad[0]! / MiB,
        peer: rssLoad[1]! / MiB,
        digits: 1,
        target: { absolute: 100, label: '≤ 100 MiB' },
      },
      {
        what: 'exporter CPU per minute (s, 5 s scrapes)',
        vigil: (cpu1[0]! - cpu0[0]!) * perMinute,
        peer: (cpu1[1]! - cpu0[1]!) * perMinute,
        digits: 2,
        target: { ratio: 1.0, label: '≤ 1.0×' },
      },
      {
        what: 'database time per minute (ms, 5 s scrapes)',
        vigil: totalMs(vigilWindow) * perMinute,
        peer: totalMs(peerWindow) * perMinute,
        digits: 1,
        target: { ratio: 0.5, label: '≤ 0.5×' },
      },
      {
        what: 'database time per minute, reads every 300 s spread over 300 s (ms)',
        vigil: amortized.ms,
        peer: totalMs(peerWindow) * perMinute,
        digits: 1,
        target: { ratio: 0.5, label: '≤ 0.5×' },
      },
      {
        what: 'database time of one poll / one scrape (ms)',
        vigil: poll.dbMs,
        peer: totalMs(peerWindow) / Math.max(1, peerScrapes),
        digits: 1,
      },
    ];
    printTable(rows);
    process.stdout.write(
      `\n| floor | pgvigil poll (ms) | floor (ms) | ratio | target | holds |\n|---|---:|---:|---:|---|---|\n`,
    );
    const fr = poll.dbMs / floor.ms;
    process.stdout.write(
      `| same views read directly once | ${poll.dbMs.toFixed(1)} | ${floor.ms.toFixed(1)} ` +
        `| ${fr.toFixed(2)} | ≤ 1.5× | ${fr <= 1.5 ? 'yes' : '**no**'} |\n`,
    );
    process.stdout.write(
      `\nErrors: pgvigil ${vigilSeq.errors + vigilWrk.errors}, peer ${peerSeq.errors + peerWrk.errors}. ` +
        `Peer metric groups and how many of their families pgvigil ` +
        `exports by the same name: ${coverage(peerBody, vigilBody)}.\n`,
    );
    const ours = [...vigilBody.matchAll(/^# TYPE (\S+) (\S+)$/gm)].filter((m) => !m[1]!.startsWith('pgvigil_'));
    process.stdout.write(
      `pgvigil families: ${ours.filter((m) => /statement/.test(m[1]!)).length} on statements, ` +
        `${ours.filter((m) => /ind(ex|exes)_/.test(m[1]!)).length} on indexes, ` +
        `${ours.filter((m) => m[2] === 'histogram').length} histograms.\n`,
    );
    process.stdout.write(
      `pgvigil reads every 300 s, not in the ${windowS} s window, spread per minute: ` +
        `${amortized.slowMs.toFixed(1)} ms (settings, database sizes, index health) + ` +
        `${amortized.sizeMs.toFixed(1)} ms (table and index sizes, PGVIGIL_SIZES_INTERVAL_SECONDS).\n`,
    );
    process.stdout.write(`\nWhere pgvigil's database time goes (one poll):\n${describeTop(poll.entries)}\n`);
    process.stdout.write(
      `Failed collector runs in the measured polls: ${poll.failures} ` +
        `(a cancelled query is missing from pg_stat_statements).\n`,
    );
    process.stdout.write(
      `Collector run time, one poll (ms): ` +
        `${[...poll.perCollectorMs].map(([c, ms]) => `${c} ${ms.toFixed(1)}`).join(', ')}\n`,
    );
    process.stdout.write(`Floor reads: ${floor.reads.join('; ')}\n`);
    process.stdout.write(
      `\nWhere the peer's database time goes (${windowS} s window):\n${describeTop(peerWindow, 5)}\n`,
    );
  } finally {
    await vigil?.stop();
    await peer?.stop();
    await fixture.close();
  }
}

async function scale(): Promise<void> {
  const scales = String(opts.scales).split(',').map(Number);
  const results: {
    scale: number;
    tables: number;
    indexes: number;
    statements: number;
    series: number;
    wallMs: number;
    dbMs: number;
    failures: number;
    peerSeries: number;
    peerMs: number;
  }[] = [];
  for (const s of scales) {
    log(`scale ${s}×`);
    // Data rows do not scale (they do not change what an exporter reads); a small demo keeps this quick.
    const fixture = await buildFixture({ scale: s, tables: Number(opts.tables), users: 10_000, log });
    try {
      const poll = await measurePoll(fixture);
      const peer = await startPeer(peerDsn(fixture));
      try {
        await prometheusScrape(peer.url);
        const r = await prometheusScrape(peer.url);
        results.push({
          scale: s,
          tables: fixture.tables,
          indexes: fixture.indexes,
          statements: fixture.statements,
          series: poll.series,
          wallMs: poll.wallMs,
          dbMs: poll.dbMs,
          failures: poll.failures,
          peerSeries: seriesCount(r.body),
          peerMs: r.ms,
        });
      } finally {
        await peer.stop();
      }
    } finally {
      await fixture.close();
    }
  }
  const base = results[0]!;
  process.stdout.write(
    '\n## Scale\n\n| scale | extra tables | extra indexes | statements | pgvigil series | growth | ' +
      'pgvigil poll, collector time (ms) | growth | pgvigil poll, DB time (ms) | growth | failed runs | ' +
      'peer series | peer scrape (ms) |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n',
  );
  for (const r of results) {
    process.stdout.write(
      `| ${r.scale}× | ${r.tables} | ${r.indexes} | ${r.statements} | ${r.series} | ` +
        `${(r.series / base.series).toFixed(2)}× | ${r.wallMs.toFixed(0)} | ` +
        `${(r.wallMs / base.wallMs).toFixed(2)}× | ${r.dbMs.toFixed(1)} | ${(r.dbMs / base.dbMs).toFixed(2)}× | ` +
        `${r.failures} | ${r.peerSeries} | ${r.peerMs.toFixed(0)} |\n`,
    );
  }
}

if (!opts['skip-compare']) await compare();
if (!opts['skip-scale']) await scale();
