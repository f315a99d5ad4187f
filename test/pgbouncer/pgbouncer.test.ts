import { spawnSync } from 'node:child_process';
import pg from 'pg';
import t from 'tap';
import { pgbouncerAvailable, startPgbouncer } from '../../src/dev/pgbouncer.js';
import { eventually, startPgvigil } from '../helpers/pgvigil.js';
import { testPostgres } from '../helpers/postgres.js';

// Debian's PgBouncer in front of a throwaway PostgreSQL, driven into exhaustion for real:
// pool_size 2 and 6 clients each running pg_sleep at once leave 4 clients waiting.

const POOL = { database: 'postgres', user: 'postgres' };

t.test(
  'pgbouncer collector against a real, exhausted PgBouncer',
  { skip: !pgbouncerAvailable() && 'pgbouncer not installed' },
  async (t) => {
    const postgres = await testPostgres(t, { needsControl: true });
    const bouncer = await startPgbouncer({ postgresPort: postgres.cluster!.port, poolSize: 2 });
    t.teardown(() => bouncer.destroy());
    const exporter = await startPgvigil(t, postgres.url, { PGVIGIL_PGBOUNCER_URL: bouncer.adminUrl });

    const clients = await Promise.all(
      Array.from({ length: 6 }, async () => {
        const c = new pg.Client({ connectionString: bouncer.url() });
        c.on('error', () => undefined); // PgBouncer is stopped later with these still open
        await c.connect();
        return c;
      }),
    );
    t.teardown(() => Promise.all(clients.map((c) => c.end().catch(() => undefined))));
    const sleeps = Promise.all(clients.map((c) => c.query('SELECT pg_sleep(1.5)')));

    let m = await exporter.poll('pgbouncer');
    await eventually(
      async () => {
        m = await exporter.poll('pgbouncer');
        return (
          m.value('pgbouncer_pools_client_waiting_connections', POOL) === 4 &&
          (m.value('pgbouncer_pools_client_maxwait_seconds', POOL) ?? 0) > 0
        );
      },
      10_000,
      '4 waiting clients with a max wait above 0',
    );
    t.equal(m.value('pgbouncer_pools_client_waiting_connections', POOL), 4, 'pool_size 2, 6 clients: 4 wait');
    t.equal(m.value('pgbouncer_pools_server_active_connections', POOL), 2, 'both server connections busy');
    t.equal(m.value('pgbouncer_pools_client_active_connections', POOL), 2);
    t.ok(
      m.value('pgbouncer_pools_client_maxwait_seconds', POOL)! > 0,
      `maxwait ${m.value('pgbouncer_pools_client_maxwait_seconds', POOL)} s`,
    );
    t.equal(m.value('pgbouncer_databases_pool_size', { database: 'postgres' }), 2);
    t.equal(m.value('pgbouncer_config_default_pool_size'), 2);
    t.equal(m.value('pgbouncer_config_max_client_connections'), 100);
    t.equal(m.value('pgbouncer_lists_items', { list: 'pools' }), 2, 'the postgres pool and the admin console');
    t.match(m.find('pgbouncer_version_info')[0]?.labels.version, /^1\.\d+/);
    t.equal(m.types.get('pgbouncer_stats_queries_pooled_total'), 'counter');
    t.equal(m.types.get('pgbouncer_pools_client_waiting_connections'), 'gauge');
    for (const [name, help] of m.help) if (name.startsWith('pgbouncer_')) t.ok(help.length > 10, `${name} has HELP`);
    const promtool = spawnSync('promtool', ['check', 'metrics'], { input: await exporter.text(), encoding: 'utf8' });
    const complaints = `${promtool.stdout}${promtool.stderr}`.split('\n').filter((l) => l.includes('pgbouncer'));
    if (promtool.error === undefined)
      t.same(complaints, [], 'promtool check metrics: nothing about pgbouncer families');

    const waiting = m.value('pgbouncer_pools_client_waiting_connections', POOL);
    t.comment(`exhausted: waiting ${waiting}, maxwait ${m.value('pgbouncer_pools_client_maxwait_seconds', POOL)} s`);
    await sleeps;
    // Totals are folded in every stats_period (1 s here).
    await eventually(
      async () => {
        m = await exporter.poll('pgbouncer');
        return (m.value('pgbouncer_stats_queries_pooled_total', { database: 'postgres' }) ?? 0) >= 6;
      },
      10_000,
      'six pooled queries counted',
    );
    const clientWait = m.value('pgbouncer_stats_client_wait_seconds_total', { database: 'postgres' });
    const queryTime = m.value('pgbouncer_stats_queries_duration_seconds_total', { database: 'postgres' });
    t.ok(clientWait! >= 4 * 1.0, `4 clients waited >= 1.5 s or 3 s each: total ${clientWait} s`);
    t.ok(queryTime! >= 6 * 1.5 - 0.1, 'six 1.5 s queries');
    t.equal(m.value('pgbouncer_pools_client_waiting_connections', POOL), 0, 'queue drained');
    t.equal(m.value('pgvigil_collector_success', { collector: 'pgbouncer' }), 1);
    t.comment(`after: client wait total ${clientWait} s, query time total ${queryTime} s`);

    // PgBouncer down: the collector fails with a reason, pgvigil keeps serving; it recovers on restart.
    await bouncer.stop();
    m = await exporter.poll('pgbouncer', 'activity');
    t.equal(m.value('pgvigil_collector_success', { collector: 'pgbouncer' }), 0);
    t.equal(m.value('pgvigil_collector_errors_total', { collector: 'pgbouncer', reason: 'connection' }), 1);
    t.equal(m.value('pg_up'), 1, 'PostgreSQL itself is fine');
    await bouncer.start();
    m = await exporter.poll('pgbouncer');
    t.equal(m.value('pgvigil_collector_success', { collector: 'pgbouncer' }), 1, 'recovered after restart');
    t.equal(m.value('pgbouncer_config_default_pool_size'), 2, 'fresh series from the restarted PgBouncer');

    // PostgreSQL down, PgBouncer up: the collector needs no PostgreSQL connection, so it still works.
    await postgres.cluster!.stop();
    m = await exporter.poll('pgbouncer', 'activity');
    t.equal(m.value('pg_up'), 0);
    t.equal(
      m.value('pgvigil_collector_success', { collector: 'pgbouncer' }),
      1,
      'PgBouncer still observed while PostgreSQL is down',
    );
    t.equal(
      m.value('pgvigil_collector_errors_total', { collector: 'pgbouncer', reason: 'connection' }),
      1,
      'no new pgbouncer error',
    );
    t.notMatch(exporter.logs(), /postgres:\/\/postgres@127\.0\.0\.1:\d+\/pgbouncer/, 'admin URL never logged');
  },
);

t.test('without PGVIGIL_PGBOUNCER_URL the collector is off, with a reason, and owns no series', async (t) => {
  const postgres = await testPostgres(t);
  const exporter = await startPgvigil(t, postgres.url);
  const m = await exporter.scrape();
  t.equal(m.value('pgvigil_collector_enabled', { collector: 'pgbouncer' }), 0);
  t.equal(m.find('pgbouncer_pools_client_waiting_connections').length, 0);
  t.match(exporter.logs(), /PGVIGIL_PGBOUNCER_URL is not set/);
});
