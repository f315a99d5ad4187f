import t, { type Test } from 'tap';
import { startPgvigil } from '../helpers/pgvigil.js';
import { testPostgres } from '../helpers/postgres.js';

// Columns follow the extension version, not the server: 1.8 on PostgreSQL 13 (total_exec_time,
// no toplevel, no pg_stat_statements_info) and 1.10 on a PostgreSQL 17 server (blk_read_time,
// not 17's shared_blk_read_time), and 1.12 on 18. On 16+ a slow statement's log line carries a
// generic plan.

async function workload(t: Test, pg: Awaited<ReturnType<typeof testPostgres>>, extensionVersion?: string) {
  await pg.sql(
    `CREATE EXTENSION pg_stat_statements${extensionVersion === undefined ? '' : ` VERSION '${extensionVersion}'`}`,
  );
  await pg.sql('CREATE DATABASE app');
  await pg.sql('CREATE TABLE items (id int PRIMARY KEY, v int)', [], 'app');
  const exporter = await startPgvigil(t, pg.url, { PGVIGIL_SLOW_QUERY_THRESHOLD_SECONDS: '0.000001' });
  await exporter.poll('statements');
  const app = await pg.client('app');
  for (let i = 0; i < 7; i++) await app.query('SELECT v FROM items WHERE id = $1', [i]);
  await app.query('INSERT INTO items SELECT i, i FROM generate_series(1, 1000) i');
  return { exporter, m: await exporter.poll('statements') };
}

for (const [major, version, toplevel] of [
  [13, undefined, false],
  [17, '1.10', true],
  [18, undefined, true],
] as const) {
  t.test(`PostgreSQL ${major}, extension ${version ?? 'default'}`, async (t) => {
    // track_planning on the 17 server only: plan time is exported exactly when it is collected.
    const pg = await testPostgres(t, {
      major,
      ...(toplevel ? { settings: { 'pg_stat_statements.track_planning': 'on' } } : {}),
    });
    const { exporter, m } = await workload(t, pg, version);
    const [{ extversion }] = (await pg.sql<{ extversion: string }>(
      "SELECT extversion FROM pg_extension WHERE extname = 'pg_stat_statements'",
    )) as [{ extversion: string }];
    t.equal(m.value('pg_stat_statements_extension_info', { version: extversion }), 1, `extension ${extversion}`);
    t.equal(m.value('pgvigil_collector_success', { collector: 'statements' }), 1);
    t.equal(m.value('pg_statement_duration_seconds_count', { datname: 'app' }), 8, '7 selects and 1 insert');
    const info = m.find('pg_stat_statements_query_info', {
      datname: 'app',
      query: 'SELECT v FROM items WHERE id = $1',
    });
    t.equal(info.length, 1, 'one entry for the statement');
    const series = m.find('pg_stat_statements_calls_total', { queryid: info[0]!.labels.queryid! });
    t.equal(series.length, 1);
    t.equal(series[0]?.value, 7);
    t.equal(
      'toplevel' in series[0]!.labels,
      toplevel,
      toplevel ? 'toplevel label (1.9+)' : 'no toplevel label before 1.9',
    );
    t.equal(
      m.find('pg_stat_statements_dealloc_total').length,
      toplevel ? 1 : 0,
      'dealloc only with pg_stat_statements_info',
    );
    t.ok(m.find('pg_stat_statements_block_read_seconds_total').length > 0);
    t.equal(m.find('pg_stat_statements_plan_seconds_total').length > 0, toplevel, 'plan time only with track_planning');
    const insert = m
      .find('pg_stat_statements_query_info', { datname: 'app' })
      .find((s) => s.labels.query!.startsWith('INSERT INTO items'));
    t.ok(
      m.value('pg_stat_statements_wal_bytes_total', { queryid: insert!.labels.queryid! })! > 1000,
      'WAL bytes of the insert (1.8+)',
    );
    t.notMatch(exporter.logs(), /"collector failed"/);
  });
}

t.test('PostgreSQL 16+: the slow line carries a generic plan and flags a seq scan on a large table', async (t) => {
  const pg = await testPostgres(t, { major: 16 });
  await pg.sql('CREATE EXTENSION pg_stat_statements');
  await pg.sql('CREATE TABLE big AS SELECT i AS id, i % 100 AS v FROM generate_series(1, 20000) i; ANALYZE big');
  const exporter = await startPgvigil(t, pg.url, { PGVIGIL_SLOW_QUERY_THRESHOLD_SECONDS: '0.000001' });
  await exporter.poll('statements');
  const c = await pg.client('postgres');
  await c.query('SELECT count(*) FROM big WHERE v = $1', [3]);
  await c.query('UPDATE big SET v = $1 WHERE id = $2', [1, 1]);
  await exporter.poll('statements');
  const lines = exporter
    .logs()
    .split('\n')
    .filter((l) => l.includes('"slow statement"'))
    .map((l) => JSON.parse(l) as { query: string; plan?: { seq_scans_on_large_tables: string[]; nodes: string[] } });
  const select = lines.find((l) => l.query === 'SELECT count(*) FROM big WHERE v = $1');
  t.ok(select?.plan, 'plan attached');
  t.same(select?.plan?.seq_scans_on_large_tables, ['public.big']);
  const update = lines.find((l) => l.query.startsWith('UPDATE big SET v = $1'));
  t.ok(update?.plan, 'an UPDATE is planned, not executed, in the read-only session');
  const calls = await pg.sql<{ calls: number }>(
    "SELECT calls::float8 AS calls FROM pg_stat_statements WHERE query LIKE 'UPDATE big SET v = $1%'",
  );
  t.same(calls, [{ calls: 1 }], 'executed once, by the test: EXPLAIN did not run it');
});
