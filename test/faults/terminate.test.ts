import t from 'tap';
import { collectorDefinitions } from '../../src/collectors/index.js';
import type { CollectorDefinition } from '../../src/collectors/types.js';
import { gauge } from '../../src/exposition/families.js';
import { FAST_RECOVERY_ENV, pgvigilBackends } from '../helpers/faults.js';
import { parseMetrics } from '../helpers/metrics.js';
import { eventually, startPgvigil } from '../helpers/pgvigil.js';
import { testPostgres } from '../helpers/postgres.js';

// A DBA (or a pooler, or a failover script) kills pgvigil's sessions with pg_terminate_backend,
// idle or in the middle of a query. pgvigil must count it, reconnect and carry on.

const KILLS = 20;
const POOL_SIZE = 2;

/** A collector whose query takes a while, so some kills land mid-query. */
const slow: CollectorDefinition = {
  name: 'slow_probe',
  description: 'test: a 200 ms query',
  scope: 'cluster',
  defaultIntervalSeconds: 1,
  create: () => ({
    async collect({ query }) {
      const [row] = await query<{ v: number }>('SELECT 1::float8 AS v, pg_sleep(0.2)');
      return [gauge('test_slow_probe', 'test', [{ labels: {}, value: row?.v ?? 0 }])];
    },
  }),
};

t.test('sessions killed by pg_terminate_backend, idle and mid-query', async (t) => {
  const pg = await testPostgres(t, { needsControl: true });
  const exporter = await startPgvigil(
    t,
    pg.url,
    {
      PGVIGIL_POOL_SIZE: String(POOL_SIZE),
      ...FAST_RECOVERY_ENV,
      PGVIGIL_LOG_LEVEL: 'info',
    },
    { schedule: true, definitions: [...collectorDefinitions, slow] },
  );
  const scrape = async () => {
    const res = await exporter.pgvigil.app.inject({ method: 'GET', url: '/metrics' });
    t.equal(res.statusCode, 200, '/metrics answers', { diagnostic: false });
    return parseMetrics(res.body);
  };
  await eventually(async () => (await scrape()).value('test_slow_probe') === 1, 10_000, 'first slow probe');

  let killed = 0;
  let midQuery = 0;
  let maxBackends = 0;
  for (let i = 0; i < KILLS; i++) {
    // Alternate: any session, then only one running the slow query (kill and check in one statement).
    const onlyActive = i % 2 === 1 ? `AND state = 'active' AND query LIKE '%pg_sleep%'` : '';
    let rows: { pid: number }[] = [];
    await eventually(
      async () => {
        // OFFSET 0 fences the filter: the planner may otherwise call pg_terminate_backend before it.
        rows = await pg.sql<{ pid: number }>(
          `SELECT pid FROM (SELECT pid FROM pg_stat_activity
                           WHERE application_name = 'pgvigil' ${onlyActive} OFFSET 0) s
           WHERE pg_terminate_backend(pid)`,
        );
        return rows.length > 0;
      },
      10_000,
      `a pgvigil session to kill (#${i + 1})`,
    );
    killed += rows.length;
    if (onlyActive !== '') midQuery += rows.length;
    maxBackends = Math.max(maxBackends, await pgvigilBackends(pg));
  }
  t.comment(`killed ${killed} pgvigil sessions (${midQuery} mid-query); most backends seen ${maxBackends}`);
  t.ok(killed >= KILLS, 'every round killed at least one session');
  t.ok(midQuery >= KILLS / 2, 'half the rounds killed a session mid-query');
  t.ok(maxBackends <= POOL_SIZE, 'never more backends than PGVIGIL_POOL_SIZE');

  const probeRuns = (m: Awaited<ReturnType<typeof scrape>>) =>
    m.sum('pgvigil_collector_duration_seconds_count', { collector: 'slow_probe' });
  const before = probeRuns(await scrape());
  await eventually(
    async () => {
      const m = await scrape();
      return (
        m.value('pg_up') === 1 &&
        probeRuns(m) >= before + 2 &&
        m.value('pgvigil_collector_success', { collector: 'slow_probe' }) === 1
      );
    },
    10_000,
    'pgvigil polling normally again',
  );
  const m = await scrape();
  t.ok(
    m.sum('pgvigil_collector_errors_total', { collector: 'slow_probe', reason: 'connection' }) >= 1,
    'mid-query kills counted as connection errors',
  );
  t.ok(exporter.pgvigil.db.size <= POOL_SIZE, 'pool within its cap');
  t.notMatch(exporter.logs(), /"level":(50|60)/, 'nothing logged at error or fatal level');
});
