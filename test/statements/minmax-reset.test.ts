import t, { type Test } from 'tap';
import { createMonitoringRole } from '../helpers/monitoring-role.js';
import { startPgvigil } from '../helpers/pgvigil.js';
import { testPostgres } from '../helpers/postgres.js';

// PGVIGIL_STATEMENTS_MINMAX_RESET (pg_stat_statements 1.11+, PostgreSQL 17+): after each poll
// pgvigil resets only min/max_exec_time, so the next interval's fit is bounded by that interval's
// own extremes. The case it is for: one 1 s call long ago keeps the lifetime max at 1 s, and
// a later interval of 90 calls at ~2 ms and 10 at ~100 ms is then smeared out towards 1 s.

const CLASSES = `
classes:
  - name: app
    objective_seconds: 0.05
    match:
      databases: [app]
`;

async function run(t: Test, major: number, minmaxReset: boolean) {
  const pg = await testPostgres(t, { major });
  await pg.sql('CREATE EXTENSION pg_stat_statements');
  await pg.sql('CREATE DATABASE app');
  const dir = t.testdir({ 'classes.yaml': CLASSES });
  const exporter = await startPgvigil(t, pg.url, {
    PGVIGIL_QUERY_CLASSES_FILE: `${dir}/classes.yaml`,
    PGVIGIL_STATEMENTS_MINMAX_RESET: String(minmaxReset),
  });
  const app = await pg.client('app');
  await exporter.poll('statements');
  await app.query('SELECT pg_sleep($1)', [1]);
  let m = await exporter.poll('statements');
  const bucket = (le: string) => m.value('pg_statement_class_duration_seconds_bucket', { class: 'app', le })!;
  const before = { count: bucket('+Inf'), within: bucket('0.05'), fast: bucket('0.01') };
  // The truth, per call, from the view's own accounting: total_exec_time read after every call.
  const admin = await pg.client('postgres');
  const totalSeconds = async () => {
    const r = await admin.query<{ total: number }>(
      "SELECT total_exec_time / 1000 AS total FROM pg_stat_statements WHERE query = 'SELECT pg_sleep($1)'",
    );
    return r.rows[0]!.total;
  };
  const truth = { within: 0, fast: 0 };
  let total = await totalSeconds();
  for (let i = 0; i < 100; i++) {
    await app.query('SELECT pg_sleep($1)', [i % 10 === 0 ? 0.1 : 0.002]);
    const seconds = (await totalSeconds()) - total;
    total += seconds;
    if (seconds <= 0.05) truth.within++;
    if (seconds <= 0.01) truth.fast++;
  }
  // What the view says right before pgvigil reads it: the max of the interval or of the entry's life.
  const [view] = await pg.sql<{ max: number }>(
    "SELECT max_exec_time / 1000 AS max FROM pg_stat_statements WHERE query = 'SELECT pg_sleep($1)'",
  );
  m = await exporter.poll('statements');
  const count = bucket('+Inf') - before.count;
  const within = bucket('0.05') - before.within;
  return { m, count, within, fast: bucket('0.01') - before.fast, truth, view: view!, pg };
}

for (const major of [17, 18]) {
  t.test(`PostgreSQL ${major}: per-interval extremes put the interval's calls where they were`, async (t) => {
    const r = await run(t, major, true);
    t.equal(r.count, 100);
    t.ok(r.view.max < 1, `the view's max covers the interval only (${r.view.max} s, not the 1 s call)`);
    t.ok(Math.abs(r.within - r.truth.within) <= 3, `within 50 ms: ${r.within} of 100 calls (truly ${r.truth.within})`);
    t.ok(Math.abs(r.fast - r.truth.fast) <= 4, `within 10 ms: ${r.fast} of 100 calls (truly ${r.truth.fast})`);
    const source = { class: 'app', source: 'pg_stat_statements_interval_extremes' };
    t.equal(r.m.value('pg_statement_class_latency_source_info', source), 1);
    t.equal(r.m.value('pgvigil_statements_resets_total', { kind: 'full' }), 0, 'a min/max reset is not a full reset');
    t.equal(r.m.value('pgvigil_statements_resets_total', { kind: 'entry' }), 0, 'nor an entry reset');
    const [calls] = await r.pg.sql<{ calls: number }>(
      "SELECT calls::float8 AS calls FROM pg_stat_statements WHERE query = 'SELECT pg_sleep($1)'",
    );
    t.equal(calls!.calls, 101, 'the counters themselves were not reset');
  });
}

t.test('PostgreSQL 17 without the reset: the lifetime max stretches the fit (the control)', async (t) => {
  const r = await run(t, 17, false);
  t.ok(r.view.max >= 1, 'the view still holds the 1 s call as max');
  t.ok(r.fast < r.truth.fast - 5, `within 10 ms: ${r.fast} of 100 calls, well below the true ${r.truth.fast}`);
  const source = { class: 'app', source: 'pg_stat_statements_moments' };
  t.equal(r.m.value('pg_statement_class_latency_source_info', source), 1);
});

t.test('PostgreSQL 17, a role that may not reset: one warning, lifetime extremes, polls go on', async (t) => {
  const pg = await testPostgres(t, { major: 17 });
  await pg.sql('CREATE EXTENSION pg_stat_statements');
  await createMonitoringRole(pg, 'pgvigil', 'secret-pw');
  const exporter = await startPgvigil(t, pg.urlFor('postgres', 'pgvigil', 'secret-pw'), {
    PGVIGIL_STATEMENTS_MINMAX_RESET: 'true',
  });
  await exporter.poll('statements');
  await pg.sql('SELECT pg_sleep(0.01)');
  const m = await exporter.poll('statements');
  t.equal(m.value('pgvigil_collector_success', { collector: 'statements' }), 1);
  const source = { class: 'other', source: 'pg_stat_statements_moments' };
  t.equal(m.value('pg_statement_class_latency_source_info', source), 1);
  const warnings = exporter
    .logs()
    .split('\n')
    .filter((l) => l.includes('min/max reset failed'));
  t.equal(warnings.length, 1, 'warned once, not every poll');
  t.match(warnings[0], /permission denied/);
  t.notMatch(exporter.logs(), /secret-pw/);
});
