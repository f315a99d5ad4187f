import pg from 'pg';
import { delta, type StatementEntry, snapshot, totalMs } from './db-time.js';
import { startPgvigil } from './exporters.js';
import { buildFixture, ROLES } from './fixture.js';

// The cost of the wait sampler (waits collector, pg_stat_activity every second) and of the lock
// trees read (locks collector, every 15 s), in database time per minute from pg_stat_statements,
// at 200 idle connections and again with 50 of them active; and pgvigil's RSS with the sampler on
// and off. Each pgvigil runs as its users run it (dist/src/main.js, a process of its own).
//
//   npm run build && node dist/bench/waits.js [--window=60]

const WINDOW_S = Number(/--window=(\d+)/.exec(process.argv.join(' '))?.[1] ?? 60);
const WARM_UP_MS = 15_000;
const ACTIVE = 50;
const MiB = 1024 * 1024;

// pg_stat_statements stores the sampler's text normalized: 'active' becomes $1.
const isSampler = (e: StatementEntry) =>
  /AS sessions\s+FROM pg_stat_activity\s+WHERE state = (\$\d+|'active') AND pid <> pg_backend_pid\(\)/.test(e.query);
const isLockTrees = (e: StatementEntry) => /involved AS/.test(e.query);

async function measure(fixtureUrl: string, fixture: Awaited<ReturnType<typeof buildFixture>>, env = {}) {
  const vigil = await startPgvigil(fixtureUrl, env);
  try {
    await new Promise((r) => setTimeout(r, WARM_UP_MS));
    const before = await snapshot(fixture, ROLES.pgvigil);
    await new Promise((r) => setTimeout(r, WINDOW_S * 1000));
    const entries = delta(before, await snapshot(fixture, ROLES.pgvigil));
    const perMinute = (xs: StatementEntry[]) => (totalMs(xs) * 60) / WINDOW_S;
    const sampler = entries.filter(isSampler);
    const body = await (await fetch(vigil.url)).text();
    const skipped = /pgvigil_collector_overlaps_total\{collector="waits"\} (\S+)/.exec(body)?.[1] ?? 'not found';
    return {
      rssMiB: vigil.rss() / MiB,
      samplerMs: perMinute(sampler),
      samplerCalls: sampler.reduce((n, e) => n + e.calls, 0),
      lockTreesMs: perMinute(entries.filter(isLockTrees)),
      allMs: perMinute(entries),
      skipped,
    };
  } finally {
    await vigil.stop();
  }
}

async function main(): Promise<void> {
  const fixture = await buildFixture({ tables: 200, statements: 400, users: 10_000, log: console.log });
  const url = fixture.url(ROLES.pgvigil);
  const rows: string[] = [];
  const row = (what: string, r: Awaited<ReturnType<typeof measure>>) =>
    rows.push(
      `| ${what} | ${r.samplerMs.toFixed(1)} (${r.samplerCalls} samples) | ${r.lockTreesMs.toFixed(1)} | ` +
        `${r.allMs.toFixed(0)} | ${r.rssMiB.toFixed(1)} | ${r.skipped} |`,
    );
  try {
    row('200 idle, sampler on', await measure(url, fixture));
    row('200 idle, sampler off', await measure(url, fixture, { PGVIGIL_DISABLED_COLLECTORS: 'waits' }));

    const active = new pg.Pool({ connectionString: fixture.url(ROLES.app), max: ACTIVE });
    let running = true;
    const loops = Array.from({ length: ACTIVE }, async () => {
      while (running) await active.query('SELECT pg_sleep(0.2)').catch(() => undefined);
    });
    try {
      row(`200 idle + ${ACTIVE} active, sampler on`, await measure(url, fixture));
    } finally {
      running = false;
      await Promise.all(loops);
      await active.end();
    }
  } finally {
    await fixture.close();
  }
  console.log(`\nwindow ${WINDOW_S} s after ${WARM_UP_MS / 1000} s warm-up; database time per minute (ms)\n`);
  console.log('| connections | waits sampler | lock trees read | all of pgvigil | RSS (MiB) | skipped ticks |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const r of rows) console.log(r);
}

await main();
