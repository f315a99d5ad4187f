import { existsSync } from 'node:fs';
import t from 'tap';
import { startDemo } from '../src/demo/run.js';
import { createLogger } from '../src/logger.js';
import { type ParsedMetrics, parseMetrics } from './helpers/metrics.js';
import { eventually } from './helpers/pgvigil.js';

// What `npm run demo` promises: real metrics of the demo database within seconds, the four query
// classes with their objectives, the application's pool seen from its own /metrics, and nothing
// left behind after stop().

t.test('the demo serves the platform workload in every view and cleans up', async (t) => {
  const demo = await startDemo({ log: createLogger('silent'), port: 0, users: 2000, ratePerSecond: 80 });
  let stopped = false;
  t.teardown(async () => {
    if (!stopped) await demo.stop();
  });
  const { poller } = demo.pgvigil;
  let m: ParsedMetrics | undefined;
  const classes = ['login', 'workshop', 'navigation', 'admin'];
  await eventually(
    async () => {
      await poller.pollCollector('statements');
      await poller.pollCollector('activity');
      m = parseMetrics(await (await fetch(`${demo.url}/metrics`)).text());
      return classes.every((c) => (m!.value('pg_statement_class_duration_seconds_count', { class: c }) ?? 0) > 0);
    },
    60_000,
    'statements of all four classes',
  );
  const objectives = Object.fromEntries(
    classes.map((c) => [c, m!.value('pg_statement_class_objective_seconds', { class: c })]),
  );
  t.same(
    objectives,
    { login: 0.05, workshop: 0.1, navigation: 0.03, admin: 0.2 },
    'objectives from deploy/examples/query-classes.yaml',
  );
  t.ok(
    m!.sum('pg_stat_activity_connections', { application_name: 'heliotrope_imaginal' }) > 0,
    'the application is connected',
  );
  t.equal(m!.value('pg_up'), 1);

  const app = parseMetrics(await (await fetch(demo.appMetricsUrl)).text());
  t.equal(
    app.value('pgvigil_client_pool_max_connections', { pool: 'app', application_name: 'heliotrope_imaginal' }),
    20,
    'the application pool of 20, instrumented',
  );
  t.ok(app.sum('pgvigil_client_pool_acquire_seconds_count') > 0, 'acquire waits measured');
  const appSide = { application_name: 'heliotrope_imaginal', pool: 'app' };
  for (const c of classes) {
    t.ok(
      (app.value('pgvigil_client_query_duration_seconds_count', { ...appSide, class: c }) ?? 0) > 0,
      `${c}: app-side query histogram has calls`,
    );
    const le = String(objectives[c]);
    t.ok(
      app.find('pgvigil_client_query_duration_seconds_bucket', { ...appSide, class: c, le }).length === 1,
      `${c}: its objective ${le} s is a bucket bound`,
    );
  }
  if (demo.pgbouncer !== undefined) {
    await poller.pollCollector('pgbouncer');
    const b = parseMetrics(await (await fetch(`${demo.url}/metrics`)).text());
    t.ok(
      b.find('pgbouncer_pools_client_active_connections', { database: 'platform' }).length > 0,
      'PgBouncer pool of the platform database',
    );
  }
  t.equal(demo.workload.stats.errors, 0, 'the workload ran without errors');

  const dir = demo.cluster.baseDir;
  await demo.stop();
  stopped = true;
  t.notOk(existsSync(dir), 'the throwaway cluster is removed');
  await t.rejects(fetch(`${demo.url}/metrics`), 'pgvigil stopped');
});
