import { existsSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { binDirFor } from '../../src/dev/local-cluster.js';
import { createMonitoringRole } from '../helpers/monitoring-role.js';
import { eventually, startPgvigil } from '../helpers/pgvigil.js';
import { testPostgres } from '../helpers/postgres.js';
import { classifiedStockUpdate } from '../helpers/stock-update.js';

// With pg_wait_sampling loaded and created, the waits collector reads the extension's profile
// instead of sampling pg_stat_activity: a backend waiting on a row lock gives its database and its
// query class lock seconds as fast as the wall clock runs, under source="pg_wait_sampling", and the
// idle session holding the lock (Client/ClientRead in the profile) gives none. Debian packages the
// extension for PostgreSQL 15 (postgresql-15-pg-wait-sampling), so that is the major it runs on.

const MAJOR = 15;
const LOCK = { datname: 'shop', wait_event_type: 'Lock', wait_event: 'transactionid', source: 'pg_wait_sampling' };

function extensionInstalled(): boolean {
  try {
    return existsSync(join(binDirFor(MAJOR), '..', 'lib', 'pg_wait_sampling.so'));
  } catch {
    return false;
  }
}

// CI installs the package (.ci/run), where its absence fails; elsewhere the test says what is missing.
const missing = extensionInstalled() ? false : 'apt-get install postgresql-15-pg-wait-sampling to run this test';
if (missing !== false && process.env.CI === 'true') t.fail('pg_wait_sampling is not installed for PostgreSQL 15');

t.test('pg_wait_sampling: lock seconds from the profile, per database and per class', { skip: missing }, async (t) => {
  const pg = await testPostgres(t, {
    major: MAJOR,
    settings: { shared_preload_libraries: "'pg_stat_statements,pg_wait_sampling'" },
  });
  await pg.sql('CREATE EXTENSION pg_stat_statements');
  await pg.sql('CREATE EXTENSION pg_wait_sampling');
  const { exporter, waiter } = await classifiedStockUpdate(t, pg);
  await exporter.poll('waits'); // the profile's baseline

  const holder = await pg.client('shop', { application_name: 'holder' });
  await holder.query('BEGIN');
  await holder.query('UPDATE stock SET n = n + 1 WHERE id = 1');
  const waiting = waiter.query('UPDATE stock SET n = n + 1 WHERE id = 1');
  await eventually(
    async () =>
      (await pg.sql(`SELECT 1 FROM pg_stat_activity WHERE application_name = 'waiter' AND wait_event_type = 'Lock'`))
        .length === 1,
    10_000,
    'the waiter on its lock',
  );

  let m = await exporter.poll('waits');
  const from = { at: Date.now(), seconds: m.value('pg_waits_seconds_total', LOCK) ?? 0 };
  await eventually(
    async () => {
      m = await exporter.poll('waits');
      return Date.now() - from.at >= 2000;
    },
    20_000,
    'two seconds of profile after the wait began',
  );
  const wall = (Date.now() - from.at) / 1000;
  const grown = m.value('pg_waits_seconds_total', LOCK)! - from.seconds;
  t.ok(Math.abs(grown - wall) <= 0.25 * wall + 0.1, `lock seconds grew ${grown.toFixed(2)} in ${wall.toFixed(2)} s`);
  const lockOfClass = { class: 'stock_update', wait_event_type: 'Lock', wait_event: 'transactionid' };
  const byClass = m.value('pg_waits_class_seconds_total', { ...lockOfClass, source: 'pg_wait_sampling' });
  t.ok(byClass! > 0.5 * wall, `class stock_update has lock seconds: ${byClass}`);
  t.equal(m.find('pg_waits_seconds_total', { source: 'pg_stat_activity' }).length, 0, 'no pg_stat_activity samples');
  t.equal(
    m.find('pg_waits_seconds_total', { wait_event: 'ClientRead' }).length,
    0,
    'the idle holder waits for nothing',
  );
  t.equal(m.value('pgvigil_collector_success', { collector: 'waits' }), 1);

  await holder.query('COMMIT');
  await waiting;
  // The wait went on between the last poll and the COMMIT: one poll takes in those samples.
  m = await exporter.poll('waits');
  const settled = m.value('pg_waits_seconds_total', LOCK);
  m = await exporter.poll('waits');
  m = await exporter.poll('waits');
  t.equal(m.value('pg_waits_seconds_total', LOCK), settled, 'no waiter: the counter stays');
});

t.test(
  'pg_wait_sampling created but not preloaded: said once, pg_stat_activity sampled',
  { skip: missing },
  async (t) => {
    const pg = await testPostgres(t, { major: MAJOR, settings: { shared_preload_libraries: "'pg_stat_statements'" } });
    await pg.sql('CREATE EXTENSION pg_wait_sampling');
    await createMonitoringRole(pg, 'pgvigil', 'secret-pw');
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
    const sleep = { datname: 'postgres', wait_event: 'PgSleep', source: 'pg_stat_activity' };
    t.ok(m.value('pg_waits_seconds_total', sleep)! > 0, 'pg_sleep seconds sampled from pg_stat_activity');
    t.equal(m.value('pgvigil_collector_success', { collector: 'waits' }), 1);
    const said = exporter
      .logs()
      .split('\n')
      .filter((l) => l.includes('profile cannot be read'));
    t.equal(said.length, 1, 'said once');
    t.match(said[0], /not in shared_preload_libraries/);
    await pg.sql(`SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE wait_event = 'PgSleep'`);
    await sleeping;
  },
);
