import t from 'tap';
import { eventually, startPgvigil } from '../helpers/pgvigil.js';
import { testPostgres } from '../helpers/postgres.js';

// A locked-down server: the monitoring role lost SELECT on pg_stat_activity (managed services and
// hardened installs do this). The collector must fail with reason permission, log it once, and
// the other collectors must carry on.

t.test('permission denied on a view a collector reads', async (t) => {
  const pg = await testPostgres(t, { needsControl: true });
  await pg.sql(`CREATE ROLE nopriv LOGIN; REVOKE SELECT ON pg_catalog.pg_stat_activity FROM PUBLIC`);
  const exporter = await startPgvigil(t, pg.urlFor('postgres', 'nopriv'), { PGVIGIL_LOG_LEVEL: 'info' });

  const POLLS = 5;
  for (let i = 0; i < POLLS; i++) await exporter.poll('activity', 'stat_database');
  const m = await exporter.scrape();
  t.equal(
    m.value('pgvigil_collector_errors_total', { collector: 'activity', reason: 'permission' }),
    POLLS,
    'every run counted with reason permission',
  );
  t.equal(m.value('pgvigil_collector_success', { collector: 'activity' }), 0);
  t.equal(m.value('pg_up'), 1, 'a permission error is not an outage');
  t.equal(
    m.value('pgvigil_collector_success', { collector: 'stat_database' }),
    1,
    'pg_stat_database is still collected',
  );
  const lines = exporter
    .logs()
    .split('\n')
    .filter((l) => l.includes('"collector failed"') && l.includes('"collector":"activity"'));
  t.equal(lines.length, 1, `one log line for ${POLLS} failures`);
  t.match(lines[0], /permission denied/, 'the line says what was denied');
  if (process.env.DEBUG_LOGS) t.comment(exporter.logs());

  await pg.sql(`GRANT pg_monitor TO nopriv; GRANT SELECT ON pg_catalog.pg_stat_activity TO PUBLIC`);
  await eventually(
    async () => (await exporter.poll('activity')).value('pgvigil_collector_success', { collector: 'activity' }) === 1,
    5000,
    'recovers after GRANT',
  );
  t.pass('recovers after GRANT');
});
