import t from 'tap';
import { testMajors } from '../helpers/majors.js';
import { createMonitoringRole } from '../helpers/monitoring-role.js';
import { eventually, startPgvigil } from '../helpers/pgvigil.js';
import { testPostgres } from '../helpers/postgres.js';
import { classifiedStockUpdate } from '../helpers/stock-update.js';

// A backend sleeping on a row lock gives lock-wait seconds to its database and to the query class
// of its statement, sampled by pgvigil running as the pg_monitor-only role. The waiter waits for
// the whole test, so every sample after its wait began counts exactly one Lock session: its
// seconds equal the sampled seconds since the last sample taken before the wait.

const LOCK = { datname: 'shop', wait_event_type: 'Lock', wait_event: 'transactionid', source: 'pg_stat_activity' };

for (const major of testMajors([13, 16]))
  t.test(`a lock wait is sampled into seconds per wait event and per class on ${major}`, async (t) => {
    const pg = await testPostgres(t, { major });
    await pg.sql('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    const { exporter, waiter } = await classifiedStockUpdate(t, pg);

    const started = Date.now();
    let m = await exporter.poll('waits');
    const before = m.value('pg_waits_sampled_seconds_total', {})!;
    t.equal(m.find('pg_waits_seconds_total', LOCK).length, 0, 'no lock wait yet');

    const holder = await pg.client('shop', { application_name: 'holder' });
    await holder.query('BEGIN');
    await holder.query('UPDATE stock SET n = n + 1 WHERE id = 1');
    const waiting = waiter.query('UPDATE stock SET n = n + 1 WHERE id = 1');
    const sleeper = await pg.client('shop', { application_name: 'sleeper' });
    const sleeping = sleeper.query('SELECT pg_sleep(60)').catch(() => undefined);
    const activeWaits = `SELECT count(*)::int AS n FROM pg_stat_activity
       WHERE (application_name = 'waiter' AND wait_event_type = 'Lock')
          OR (application_name = 'sleeper' AND wait_event = 'PgSleep')`;
    await eventually(
      async () => (await pg.sql<{ n: number }>(activeWaits))[0]!.n === 2,
      10_000,
      'the waiter on its lock, the sleeper in pg_sleep',
    );

    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 250)); // spacing between samples, not a wait for a condition
      m = await exporter.poll('waits');
    }
    const elapsed = (Date.now() - started) / 1000;
    const sampled = m.value('pg_waits_sampled_seconds_total', {})! - before;
    const lockSeconds = m.value('pg_waits_seconds_total', LOCK);
    t.ok(sampled > 0.9 && sampled <= elapsed + 0.01, `sampled ${sampled} s over ${elapsed} s of wall time`);
    t.ok(Math.abs(lockSeconds! - sampled) < 1e-9, `lock seconds ${lockSeconds} = sampled seconds ${sampled}`);
    const sleep = { datname: 'shop', wait_event_type: 'Timeout', wait_event: 'PgSleep', source: 'pg_stat_activity' };
    t.ok(Math.abs(m.value('pg_waits_seconds_total', sleep)! - sampled) < 1e-9, 'pg_sleep seconds too');
    t.equal(m.find('pg_waits_seconds_total', { datname: 'shop', wait_event: 'ClientRead' }).length, 0, 'idle holder');

    const byClass = m.value('pg_waits_class_seconds_total', {
      class: 'stock_update',
      wait_event_type: 'Lock',
      wait_event: 'transactionid',
      source: 'pg_stat_activity',
    });
    const notAttributed = /wait seconds are not attributed to query classes/;
    if (major >= 14) {
      t.ok(Math.abs(byClass! - sampled) < 1e-9, `class stock_update has the lock seconds: ${byClass}`);
      const sleepOther = m.value('pg_waits_class_seconds_total', { class: 'other', wait_event: 'PgSleep' });
      t.ok(sleepOther! > 0, 'pg_sleep is no class of ours: other');
      t.notMatch(exporter.logs(), notAttributed);
    } else {
      t.equal(m.find('pg_waits_class_seconds_total').length, 0, 'no query_id before 14: no class seconds');
      const said = exporter
        .logs()
        .split('\n')
        .filter((l) => notAttributed.test(l));
      t.equal(said.length, 1, 'said once');
      t.match(said[0], /from PostgreSQL 14/);
    }
    t.equal(m.value('pgvigil_collector_success', { collector: 'waits' }), 1);

    await holder.query('COMMIT');
    await waiting;
    await pg.sql(`SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'sleeper'`);
    await sleeping;
    const settled = m.value('pg_waits_seconds_total', LOCK);
    m = await exporter.poll('waits');
    t.equal(m.value('pg_waits_seconds_total', LOCK), settled, 'no waiter: the counter stays');
  });

t.test('compute_query_id off: said once, no class seconds, the per-event seconds go on', async (t) => {
  const [major] = testMajors([16]).filter((v) => v >= 14);
  if (major === undefined) {
    t.pass('needs PostgreSQL 14+: none in PGVIGIL_TEST_MAJORS');
    return;
  }
  const pg = await testPostgres(t, { major });
  await createMonitoringRole(pg, 'pgvigil', 'secret-pw');
  await pg.sql('ALTER ROLE pgvigil SET compute_query_id = off');
  const exporter = await startPgvigil(t, pg.urlFor('postgres', 'pgvigil', 'secret-pw'));
  const sleeper = await pg.client();
  const sleeping = sleeper.query('SELECT pg_sleep(60)').catch(() => undefined);
  await eventually(
    async () => (await pg.sql(`SELECT 1 FROM pg_stat_activity WHERE wait_event = 'PgSleep'`)).length === 1,
    10_000,
    'a session in pg_sleep',
  );
  let m = await exporter.poll('waits');
  m = await exporter.poll('waits');
  t.ok(m.value('pg_waits_seconds_total', { datname: 'postgres', wait_event: 'PgSleep' })! > 0);
  t.equal(m.find('pg_waits_class_seconds_total').length, 0);
  const said = exporter
    .logs()
    .split('\n')
    .filter((l) => l.includes('not attributed to query classes'));
  t.equal(said.length, 1, 'said once');
  t.match(said[0], /compute_query_id is off/);
  await pg.sql(`SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE wait_event = 'PgSleep'`);
  await sleeping;
});
