import t from 'tap';
import { FAST_RECOVERY_ENV, openFds, pgvigilBackends } from '../helpers/faults.js';
import { parseMetrics } from '../helpers/metrics.js';
import { eventually, startPgvigil } from '../helpers/pgvigil.js';
import { testPostgres } from '../helpers/postgres.js';

// The server goes away and comes back 50 times while pgvigil polls on its real schedule.
// Half the stops are fast shutdowns (sessions get 57P01), half immediate (like a crash).

const RESTARTS = Number(process.env.RESTARTS ?? 50);
const POOL_SIZE = 2;

t.test('PostgreSQL stopped and restarted 50 times during polling', async (t) => {
  const pg = await testPostgres(t, { needsControl: true });
  const cluster = pg.cluster!;
  const exporter = await startPgvigil(
    t,
    pg.url,
    {
      PGVIGIL_POOL_SIZE: String(POOL_SIZE),
      ...FAST_RECOVERY_ENV,
      PGVIGIL_CONNECT_TIMEOUT_SECONDS: '2',
      PGVIGIL_LOG_LEVEL: 'info',
    },
    { schedule: true },
  );
  const scrape = async () => {
    const res = await exporter.pgvigil.app.inject({ method: 'GET', url: '/metrics' });
    if (res.statusCode !== 200) throw new Error(`/metrics answered ${res.statusCode}`);
    return parseMetrics(res.body);
  };
  const upIs = (v: number) => async () => (await scrape()).value('pg_up') === v;

  await eventually(upIs(1), 10_000, 'pg_up 1 at start');
  const fdsBefore = openFds();
  let maxBackends = await pgvigilBackends(pg);
  const started = Date.now();

  for (let i = 0; i < RESTARTS; i++) {
    const t0 = Date.now();
    await cluster.stop(i % 2 === 0 ? 'fast' : 'immediate');
    const t1 = Date.now();
    await eventually(upIs(0), 10_000, `pg_up 0 after stop #${i + 1}`);
    const t2 = Date.now();
    await cluster.start();
    const t3 = Date.now();
    await eventually(upIs(1), 10_000, `pg_up 1 after start #${i + 1}`);
    if (process.env.RESTARTS)
      t.comment(`stop ${t1 - t0} detect0 ${t2 - t1} start ${t3 - t2} detect1 ${Date.now() - t3}`);
    maxBackends = Math.max(maxBackends, await pgvigilBackends(pg));
    t.ok(exporter.pgvigil.db.size <= POOL_SIZE, `pool within its cap after restart #${i + 1}`);
  }
  const elapsed = (Date.now() - started) / 1000;
  t.comment(`${RESTARTS} restarts in ${elapsed.toFixed(1)} s; most pgvigil backends seen: ${maxBackends}`);
  t.ok(maxBackends <= POOL_SIZE, `pgvigil backends never above PGVIGIL_POOL_SIZE (max seen ${maxBackends})`);

  const m = await scrape();
  t.ok(
    m.sum('pgvigil_collector_errors_total', { reason: 'connection' }) > 0,
    'failures were counted as connection errors',
  );
  await eventually(
    async () => (await scrape()).value('pgvigil_collector_success', { collector: 'activity' }) === 1,
    10_000,
    'activity collector healthy again',
  );
  // Sockets of dead sessions must be closed: the fd count comes back to where it was.
  await eventually(() => openFds() <= fdsBefore + 2, 10_000, `open fds back to ${fdsBefore} (now ${openFds()})`);
  t.comment(`open fds: before ${fdsBefore}, after ${openFds()}`);
  t.notMatch(exporter.logs(), /"level":(50|60)/, 'nothing logged at error or fatal level');
});
