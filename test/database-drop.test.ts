import t from 'tap';
import { tables } from '../src/collectors/tables.js';
import type { CollectorDefinition } from '../src/collectors/types.js';
import { testMajors } from './helpers/majors.js';
import { eventually, startPgvigil } from './helpers/pgvigil.js';
import { testPostgres } from './helpers/postgres.js';
import { createTenant, seriesOf } from './helpers/tenant-databases.js';

// A tenant database dropped under pgvigil, on every major: a plain DROP DATABASE (which waits at
// most 5 seconds for other sessions to leave, then fails) must not fail because of pgvigil, and a
// forced one (which terminates the sessions on it) must not make pgvigil read as down or fail.
// test/database-churn.test.ts drops databases in a loop.

for (const major of testMajors([13, 14, 15, 16, 17, 18])) {
  t.test(`PostgreSQL ${major}: a tenant database can be dropped plainly right after a poll`, async (t) => {
    const pg = await testPostgres(t, { major, needsControl: true });
    for (const d of ['tenant_a', 'tenant_b']) await createTenant(pg, d);
    // Room for a connection per database: before, pgvigil kept an idle one on each database.
    const v = await startPgvigil(t, pg.url, { PGVIGIL_POOL_SIZE: '5', PGVIGIL_LOG_LEVEL: 'info' });
    let m = await v.poll('tables', 'indexes');
    t.ok(seriesOf(m, /^tenant_a$/).length > 0, 'tenant_a was polled');
    const started = Date.now();
    await t.resolves(pg.sql('DROP DATABASE tenant_a'), 'plain DROP DATABASE succeeds');
    t.comment(`DROP DATABASE took ${Date.now() - started} ms`);

    m = await v.poll('tables', 'indexes');
    t.equal(m.value('pg_up'), 1, 'pg_up still 1');
    for (const c of ['tables', 'indexes']) t.equal(m.value('pgvigil_collector_success', { collector: c }), 1, c);
    t.same(seriesOf(m, /^tenant_a$/), [], "the dropped database's series are gone");
    t.ok(seriesOf(m, /^tenant_b$/).length > 0, 'the other tenant is still served');
    t.equal(m.sum('pgvigil_collector_errors_total'), 0, 'no collector failed');
  });

  t.test(`PostgreSQL ${major}: DROP DATABASE WITH (FORCE) during a run is no failure and pg_up stays 1`, async (t) => {
    const pg = await testPostgres(t, { major, needsControl: true });
    for (const d of ['tenant_a', 'tenant_b']) await createTenant(pg, d);
    // A per-database collector caught mid-query on tenant_b when the drop terminates its session.
    const sleeper: CollectorDefinition = {
      name: 'sleeper',
      description: 'holds a query on tenant_b until its session is terminated',
      scope: 'database',
      defaultIntervalSeconds: 60,
      create: () => ({
        async collect(ctx) {
          if (ctx.datname === 'tenant_b') await ctx.query('SELECT pg_sleep(60)');
          return [];
        },
      }),
    };
    const env = { PGVIGIL_STATEMENT_TIMEOUT_SECONDS: '90', PGVIGIL_COLLECTOR_TIMEOUT_SECONDS: '90' };
    const v = await startPgvigil(t, pg.url, env, { definitions: [tables, sleeper] });
    await v.poll('tables');
    const up: number[] = [];
    v.pgvigil.db.onContact((ok) => up.push(ok ? 1 : 0));
    const run = v.pgvigil.poller.pollCollector('sleeper');
    await eventually(
      async () =>
        (
          await pg.sql(
            `SELECT 1 FROM pg_stat_activity WHERE datname = 'tenant_b' AND application_name = 'pgvigil'
               AND query LIKE 'SELECT pg_sleep%'`,
          )
        ).length === 1,
      10_000,
      'pgvigil sleeping on tenant_b',
    );
    await pg.sql('DROP DATABASE tenant_b WITH (FORCE)');
    await run;
    const m = await v.poll('tables');
    t.notOk(up.includes(0), 'no contact lost was reported');
    t.equal(m.value('pg_up'), 1);
    t.equal(m.value('pgvigil_collector_success', { collector: 'sleeper' }), 1, 'the run did not fail');
    t.equal(m.sum('pgvigil_collector_errors_total'), 0, 'nothing counted as an error');
    t.same(seriesOf(m, /^tenant_b$/), [], 'tenant_b left /metrics');
    t.ok(seriesOf(m, /^tenant_a$/).length > 0, 'tenant_a is still served');
    const info = v
      .logs()
      .split('\n')
      .filter((l) => l.includes('"datname":"tenant_b"') && l.includes('"level":30'));
    t.equal(info.length, 1, 'one info line about tenant_b');
  });
}
