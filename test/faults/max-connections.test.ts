import type pg from 'pg';
import t from 'tap';
import { parseMetrics } from '../helpers/metrics.js';
import { eventually, startPgvigil } from '../helpers/pgvigil.js';
import { testPostgres } from '../helpers/postgres.js';

// The application leaks connections until max_connections is used up. pgvigil connects as a
// pg_monitor role (a superuser would slip into the reserved slots and hide the outage): it must
// report pg_up 0 with reason connection, say why once, and recover when slots free up.

t.test('max_connections exhausted by others', async (t) => {
  const db = await testPostgres(t, {
    needsControl: true,
    settings: { max_connections: 12, superuser_reserved_connections: 3 },
  });
  await db.sql(`CREATE ROLE monitor LOGIN IN ROLE pg_monitor; CREATE ROLE app LOGIN`);
  const appUrl = db.urlFor('postgres', 'app');
  const { default: pgModule } = await import('pg');
  const hogs: pg.Client[] = [];
  t.teardown(() => Promise.all(hogs.map((c) => c.end().catch(() => undefined))));
  // Fill every non-reserved slot.
  for (;;) {
    const c = new pgModule.Client({ connectionString: appUrl, application_name: 'leaky-app' });
    c.on('error', () => undefined);
    try {
      await c.connect();
      hogs.push(c);
    } catch (err) {
      t.equal((err as { code?: string }).code, '53300', 'the application hit too_many_connections');
      break;
    }
  }
  t.comment(`the application holds ${hogs.length} connections`);

  const exporter = await startPgvigil(
    t,
    db.urlFor('postgres', 'monitor'),
    {
      PGVIGIL_HEARTBEAT_INTERVAL_SECONDS: '0.5',
      PGVIGIL_RECONNECT_BACKOFF_MAX_SECONDS: '0.5',
      PGVIGIL_LOG_LEVEL: 'info',
    },
    { schedule: true },
  );
  if (process.env.DEBUG_LOGS) t.teardown(() => console.error(exporter.logs()));
  const scrape = async () => parseMetrics((await exporter.pgvigil.app.inject({ method: 'GET', url: '/metrics' })).body);
  await eventually(
    async () =>
      (await scrape()).sum('pgvigil_collector_errors_total', { collector: 'activity', reason: 'connection' }) >= 1,
    30_000,
    'activity failure with reason connection',
  );
  const m = await scrape();
  t.equal(m.value('pg_up'), 0, 'pg_up 0 while no slot is free');
  t.match(exporter.logs(), /reserved|too many clients/, 'the log names the cause');

  // The application gives back two connections.
  await Promise.all(hogs.splice(0, 2).map((c) => c.end()));
  await eventually(
    async () => {
      const m = await scrape();
      return m.value('pg_up') === 1 && m.value('pgvigil_collector_success', { collector: 'activity' }) === 1;
    },
    30_000,
    'pg_up 1 and activity collected after slots free up',
  );
  const after = await scrape();
  t.equal(
    after.sum('pg_stat_activity_connections', { application_name: 'leaky-app' }),
    hogs.length,
    'and it reports the leak truthfully',
  );
  t.match(exporter.logs(), /collector recovered/, 'recovery logged');
});
