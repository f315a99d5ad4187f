import t from 'tap';
import { collectorDefinitions } from '../../src/collectors/index.js';
import { intervalVariable } from '../../src/config.js';
import { pgvigilBackends } from '../helpers/faults.js';
import { eventually, startPgvigil, type TestPgvigil } from '../helpers/pgvigil.js';
import { type TestPostgres, testPostgres } from '../helpers/postgres.js';

// A new backend starts with cold catalog caches, and the size functions the table and index
// collectors call cost 3-4x more there (bench/). So the connection database keeps its connection:
// polls must not close and reopen it. A discovered database is connected for each run and left at
// once (an idle session there would make a plain DROP DATABASE fail), and with more databases
// than the pool holds every database must still be polled by taking a connection in turn.

const EVERY_SECOND: Record<string, string> = Object.fromEntries(
  collectorDefinitions.map((d) => [intervalVariable(d.name), '1']),
);

/** Runs per collector so far, from pgvigil_collector_duration_seconds_count. */
async function fewestRuns(exporter: TestPgvigil): Promise<number> {
  const m = await exporter.scrape();
  const enabled = collectorDefinitions.filter((d) => m.value('pgvigil_collector_enabled', { collector: d.name }) === 1);
  return Math.min(
    ...enabled.map((d) => m.value('pgvigil_collector_duration_seconds_count', { collector: d.name }) ?? 0),
  );
}

async function waitForRounds(exporter: TestPgvigil, rounds: number): Promise<void> {
  await eventually(async () => (await fewestRuns(exporter)) >= rounds, 60_000, `every collector run ${rounds} times`);
}

async function withTables(pg: TestPostgres, databases: string[]): Promise<void> {
  for (const db of databases) {
    await pg.sql(`CREATE DATABASE ${db}`);
    await pg.sql('CREATE TABLE orders (id int PRIMARY KEY, note text)', [], db);
  }
}

t.test('two databases, pool of two: the connection database keeps its warm connection', async (t) => {
  const pg = await testPostgres(t, { needsControl: true });
  await withTables(pg, ['warm_app']);
  const exporter = await startPgvigil(
    t,
    pg.urlFor('warm_app'),
    {
      ...EVERY_SECOND,
      PGVIGIL_POOL_SIZE: '2',
      PGVIGIL_INCLUDE_DATABASES: '^(warm_app|postgres)$',
      PGVIGIL_LOG_LEVEL: 'warn',
    },
    { schedule: true },
  );
  await waitForRounds(exporter, 3);
  const warmBackends = async () =>
    (
      await pg.sql<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE application_name = 'pgvigil' AND datname = 'warm_app'
         ORDER BY backend_start`,
      )
    ).map((r) => r.pid);
  const before = await warmBackends();
  const start = await fewestRuns(exporter);
  await waitForRounds(exporter, start + 8);
  // Two runs on warm_app at once may open a second connection while postgres has none; the pool
  // closes that younger one when postgres needs the slot, never the warm one.
  const after = await warmBackends();
  t.ok(before.length >= 1 && after.length <= 2, `at most two connections to warm_app (${after.length})`);
  t.ok(after.includes(before[0]!), 'the oldest backend is still there after 8 more rounds of every collector');
  const m = await exporter.scrape();
  t.equal(
    m.find('pg_stat_user_tables_n_live_tup', { datname: 'warm_app', relname: 'orders' }).length,
    1,
    'tables of warm_app exported',
  );
  t.equal(
    m.value('pgvigil_collector_success', { collector: 'tables' }),
    1,
    'tables collector succeeds on both databases',
  );
});

t.test('three databases, pool of two: every database is still polled, within the cap', async (t) => {
  const pg = await testPostgres(t, { needsControl: true });
  await withTables(pg, ['warm_one', 'warm_two', 'warm_three']);
  const exporter = await startPgvigil(
    t,
    pg.urlFor('warm_one'),
    { ...EVERY_SECOND, PGVIGIL_POOL_SIZE: '2', PGVIGIL_INCLUDE_DATABASES: '^warm_', PGVIGIL_LOG_LEVEL: 'warn' },
    { schedule: true },
  );
  let most = 0;
  await eventually(
    async () => {
      most = Math.max(most, await pgvigilBackends(pg));
      return (await fewestRuns(exporter)) >= 5;
    },
    60_000,
    'five rounds',
  );
  t.ok(most <= 2, `never more than 2 pgvigil backends (most seen ${most})`);
  const m = await exporter.scrape();
  for (const datname of ['warm_one', 'warm_two', 'warm_three']) {
    t.equal(
      m.find('pg_stat_user_tables_n_live_tup', { datname, relname: 'orders' }).length,
      1,
      `orders of ${datname} exported`,
    );
  }
  t.equal(m.value('pgvigil_collector_success', { collector: 'tables' }), 1, 'tables collector succeeded on all three');
});
