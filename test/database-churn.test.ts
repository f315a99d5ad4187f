import t from 'tap';
import { testMajors } from './helpers/majors.js';
import { eventually, startPgvigil, type TestPgvigil } from './helpers/pgvigil.js';
import { testPostgres } from './helpers/postgres.js';
import { createTenant, seriesOf } from './helpers/tenant-databases.js';

// Databases come and go on a database-per-tenant platform. pgvigil must not read as down when one
// of them is dropped, must not stand in the way of a plain DROP DATABASE (which waits at most
// 5 seconds for other sessions to leave, then fails), and must not keep exporting a tenant it once
// saw. Real servers throughout: what is asserted is what PostgreSQL did to pgvigil's connections.

const PER_DATABASE = ['tables', 'indexes', 'index_health'];

interface Watch {
  scrapes: number;
  upZero: number;
  failures: string[];
  maxBackends: number;
  maxPool: number;
}

/** Samples /metrics and pgvigil's sessions every 100 ms until stopped; the test asserts on what it saw. */
function watch(v: TestPgvigil, backends: () => Promise<number>) {
  const seen: Watch = { scrapes: 0, upZero: 0, failures: [], maxBackends: 0, maxPool: 0 };
  let running = true;
  const done = (async () => {
    while (running) {
      const m = await v.scrape();
      seen.scrapes++;
      if (m.value('pg_up') !== 1) seen.upZero++;
      for (const c of PER_DATABASE) {
        if (m.value('pgvigil_collector_success', { collector: c }) === 0) seen.failures.push(`${c} success 0`);
      }
      const errors = m.sum('pgvigil_collector_errors_total');
      if (errors > 0) seen.failures.push(`${errors} errors counted`);
      seen.maxPool = Math.max(seen.maxPool, m.value('pgvigil_pool_connections') ?? 0);
      seen.maxBackends = Math.max(seen.maxBackends, await backends());
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    seen,
    stop: async () => {
      running = false;
      await done;
    },
  };
}

for (const major of testMajors([16])) {
  t.test(`PostgreSQL ${major}: tenant databases created and dropped in a loop while pgvigil polls`, async (t) => {
    // No utility statements in pg_stat_statements: each CREATE/DROP DATABASE soak_N would be a new
    // statement of the connection database, and the series count could never return.
    const pg = await testPostgres(t, {
      major,
      needsControl: true,
      settings: { 'pg_stat_statements.track_utility': 'off' },
    });
    await pg.sql('CREATE EXTENSION pg_stat_statements');
    const poolSize = 3;
    const fast = Object.fromEntries(
      [...PER_DATABASE, 'statements', 'stat_database', 'database_size'].map((c) => [
        `PGVIGIL_${c.toUpperCase()}_INTERVAL_SECONDS`,
        '1',
      ]),
    );
    const v = await startPgvigil(
      t,
      pg.url,
      {
        ...fast,
        PGVIGIL_POOL_SIZE: String(poolSize),
        PGVIGIL_DATABASE_DISCOVERY_INTERVAL_SECONDS: '1',
        PGVIGIL_STALENESS_SECONDS: '3',
        // Every statement is a member of the top N: membership never changes what is counted.
        PGVIGIL_STATEMENTS_TOP_N: '1000',
        // Sessions and locks of the moment: their series come and go with whatever runs right then.
        PGVIGIL_DISABLED_COLLECTORS: 'activity,locks',
        PGVIGIL_LOG_LEVEL: 'info',
      },
      { schedule: true },
    );
    const admin = await pg.client();
    const backends = async () =>
      Number(
        (await admin.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'pgvigil'`))
          .rows[0].n,
      );
    // What pgvigil exports about PostgreSQL (pg_*); its own and Node's metrics gain series as events
    // first happen (a run overlapping the next, a kind of garbage collection), whatever the databases do.
    const seriesKeys = async () =>
      new Set(
        (await v.scrape()).samples
          .filter((s) => s.name.startsWith('pg_'))
          .map((s) => `${s.name}${JSON.stringify(s.labels)}`),
      );
    const count = async () => (await seriesKeys()).size;
    // Polled by the per-database collectors, and its statements in the latency histogram per database.
    const polled = async (db: string) => {
      const names = seriesOf(await v.scrape(), new RegExp(`^${db}$`));
      return names.includes('pg_stat_user_tables_n_live_tup') && names.includes('pg_statement_duration_seconds_count');
    };

    // One cycle before the baseline, so every statement the loop runs is already known.
    await createTenant(pg, 'soak_warmup');
    await eventually(() => polled('soak_warmup'), 20_000, 'soak_warmup polled');
    await pg.sql('DROP DATABASE soak_warmup');
    await backends();
    // The level before the loop: equal over two scrapes 2 s apart (every collector polled in between).
    let baseline = -1;
    let baselineKeys = new Set<string>();
    await eventually(
      async () => {
        const before = await count();
        await new Promise((r) => setTimeout(r, 2000));
        const after = await count();
        baseline = after;
        baselineKeys = await seriesKeys();
        return before === after && !(await polled('soak_warmup'));
      },
      30_000,
      'a steady series count',
    );
    t.comment(`series before the loop: ${baseline}`);

    const watcher = watch(v, backends);
    const dropFailures: string[] = [];
    const cycles = 6;
    for (let i = 0; i <= cycles; i++) {
      if (i < cycles) {
        await createTenant(pg, `soak_${i}`);
        await eventually(() => polled(`soak_${i}`), 20_000, `soak_${i} polled`);
      }
      // The previous tenant is dropped while the new one is polled.
      if (i > 0) await pg.sql(`DROP DATABASE soak_${i - 1}`).catch((err: Error) => dropFailures.push(err.message));
    }
    // The same series as before, not just as many. Read until they are: a connection pgvigil is
    // opening shows in pg_stat_activity without its application_name for a moment, so one read of
    // the client_pools series can catch a transient label set that the next read no longer has.
    let now = new Set<string>();
    const sameSet = () => now.size === baselineKeys.size && [...now].every((k) => baselineKeys.has(k));
    const returned = eventually(
      async () => {
        now = await seriesKeys();
        return (await count()) === baseline && seriesOf(await v.scrape(), /^(soak_\d+|\d+)$/).length === 0 && sameSet();
      },
      30_000,
      'the series back to those before the loop',
    );
    await t.resolves(returned, 'the series count returned to its level before the loop');
    t.same(
      [...now].filter((k) => !baselineKeys.has(k)),
      [],
      'no series more than before the loop',
    );
    t.same(
      [...baselineKeys].filter((k) => !now.has(k)),
      [],
      'none fewer',
    );
    await watcher.stop();
    const { seen } = watcher;
    t.comment(`after: ${await count()} series; ${seen.scrapes} scrapes watched; ${seen.maxBackends} sessions at most`);
    t.same(dropFailures, [], 'no plain DROP DATABASE failed');
    t.equal(seen.upZero, 0, 'pg_up stayed 1 on every scrape');
    t.same(seen.failures, [], 'no collector reported a failure');
    t.ok(seen.maxBackends <= poolSize, `pgvigil's sessions (${seen.maxBackends}) never exceeded the pool size`);
    t.ok(seen.maxPool <= poolSize, 'nor did its own count');
    t.ok(seen.scrapes > 20, 'the watch saw the whole loop');
    t.notMatch(v.logs(), /"msg":"collector failed/, 'no collector failure logged');
  });
}
