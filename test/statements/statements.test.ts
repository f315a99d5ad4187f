import t from 'tap';
import { startPgvigil } from '../helpers/pgvigil.js';
import { testPostgres } from '../helpers/postgres.js';

// Ground truth: the test runs a known number of statements as its own user in its own database
// (pgvigil's own queries run in database postgres), then checks the histograms, counters, the
// slow-statement log and /api/statements against it.

const CLASSES = `
classes:
  - name: lookup
    objective_seconds: 0.05
    match:
      query: '^SELECT id FROM users WHERE username = \\$1'
      tables: [users]
  - name: sleepy
    objective_seconds: 0.05
    match:
      query: '^SELECT pg_sleep'
      users: [web]
`;

function slowLines(logs: string): Record<string, unknown>[] {
  return logs
    .split('\n')
    .filter((l) => l.includes('"slow statement"'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

t.test('histograms, classes, slow log, resets and redaction against ground truth', async (t) => {
  const pg = await testPostgres(t);
  await pg.sql('CREATE EXTENSION pg_stat_statements');
  await pg.sql('CREATE DATABASE app');
  await pg.sql("CREATE ROLE web LOGIN PASSWORD 'web'");
  await pg.sql(
    'CREATE TABLE users (id serial PRIMARY KEY, username text UNIQUE); GRANT SELECT ON users TO web',
    [],
    'app',
  );
  await pg.sql("INSERT INTO users (username) SELECT 'u' || i FROM generate_series(1, 100) i", [], 'app');
  const dir = t.testdir({ 'classes.yaml': CLASSES });
  const exporter = await startPgvigil(t, pg.url, {
    PGVIGIL_QUERY_CLASSES_FILE: `${dir}/classes.yaml`,
    PGVIGIL_SLOW_QUERY_THRESHOLD_SECONDS: '5',
  });
  let m = await exporter.poll('statements');
  t.equal(m.value('pg_statement_duration_seconds_count', { datname: 'app' }), undefined, 'baseline: no burst');
  t.equal(m.value('pg_statement_class_objective_seconds', { class: 'sleepy' }), 0.05);

  const web = await pg.client('app', { connectionString: pg.urlFor('app', 'web', 'web') });
  for (let i = 0; i < 37; i++) await web.query('SELECT id FROM users WHERE username = $1', [`u${i}`]);
  for (let i = 0; i < 3; i++) await web.query('SELECT pg_sleep(0.12)');
  m = await exporter.poll('statements');
  t.equal(
    m.value('pg_statement_duration_seconds_count', { datname: 'app' }),
    40,
    '_count grew by exactly the 40 calls made',
  );
  const sum = m.value('pg_statement_duration_seconds_sum', { datname: 'app' })!;
  t.ok(sum >= 0.36 && sum < 0.6, `_sum is the time of those calls (${sum})`);
  t.equal(m.value('pg_statement_class_duration_seconds_count', { class: 'lookup' }), 37);
  t.equal(m.value('pg_statement_class_duration_seconds_count', { class: 'sleepy' }), 3);
  t.equal(
    m.value('pg_statement_class_duration_seconds_bucket', { class: 'sleepy', le: '0.1' }),
    0,
    'not at or below 100 ms',
  );
  t.equal(
    m.value('pg_statement_class_duration_seconds_bucket', { class: 'sleepy', le: '0.25' }),
    3,
    'pg_sleep(0.12) in the 250 ms bucket',
  );
  t.equal(m.value('pg_statement_class_duration_seconds_bucket', { class: 'lookup', le: '0.05' }), 37);
  t.equal(m.sum('pg_stat_statements_calls_total', { datname: 'app', usename: 'web' }), 40);

  let slow = slowLines(exporter.logs());
  t.equal(slow.length, 1, 'one slow line');
  t.match(slow[0], {
    class: 'sleepy',
    calls: 3,
    datname: 'app',
    usename: 'web',
    query: 'SELECT pg_sleep($1)',
    objective_seconds: 0.05,
  });
  t.ok((slow[0]!.mean_seconds as number) >= 0.12);

  const api = JSON.parse((await exporter.pgvigil.app.inject({ method: 'GET', url: '/api/statements' })).body) as {
    statements: {
      class: string;
      calls_per_second: number;
      mean_seconds: number;
      p95_seconds_estimate: number;
      share_of_total_time: number;
      query: string;
      user: string;
    }[];
  };
  const sleepy = api.statements.find((s) => s.class === 'sleepy');
  t.ok(sleepy, '/api/statements lists the slow statement');
  t.equal(sleepy?.user, 'web');
  t.equal(sleepy?.query, 'SELECT pg_sleep($1)');
  t.ok(
    sleepy!.calls_per_second > 0 &&
      sleepy!.mean_seconds >= 0.12 &&
      sleepy!.p95_seconds_estimate >= sleepy!.mean_seconds,
  );
  t.ok(sleepy!.share_of_total_time > 0.5, 'most of the interval time');

  // Same slow statement again: rate-limited per queryid.
  for (let i = 0; i < 2; i++) await web.query('SELECT pg_sleep(0.12)');
  m = await exporter.poll('statements');
  slow = slowLines(exporter.logs());
  t.equal(slow.length, 1, 'still one line: rate-limited');
  t.equal(m.value('pgvigil_statements_slow_log_suppressed_total'), 1);
  t.equal(m.value('pg_statement_class_duration_seconds_count', { class: 'sleepy' }), 5);

  // A full reset mid-run: no negative delta, no spike.
  const before = m.value('pg_statement_duration_seconds_count', { datname: 'app' })!;
  const lookupId = m.find('pg_stat_statements_query_info', { class: 'lookup' })[0]!.labels.queryid!;
  t.equal(m.value('pg_stat_statements_calls_total', { queryid: lookupId }), 37);
  await pg.sql('SELECT pg_stat_statements_reset()');
  for (let i = 0; i < 4; i++) await web.query('SELECT id FROM users WHERE username = $1', [`u${i}`]);
  m = await exporter.poll('statements');
  t.equal(
    m.value('pg_statement_duration_seconds_count', { datname: 'app' }),
    before + 4,
    'exactly the 4 calls after the reset',
  );
  t.equal(
    m.value('pg_stat_statements_calls_total', { queryid: lookupId }),
    41,
    'the counter continues from 37, never back',
  );
  t.equal(
    m.find('pg_stat_statements_calls_total', { datname: 'app', usename: 'web' }).length,
    1,
    'the reset entry (pg_sleep) is gone',
  );
  t.equal(m.value('pgvigil_statements_resets_total', { kind: 'full' }), 1);
  t.equal(m.value('pg_statement_class_duration_seconds_count', { class: 'lookup' }), 41);
});

t.test('a password literal never reaches /metrics, /api/statements or the log', async (t) => {
  const pg = await testPostgres(t);
  await pg.sql('CREATE EXTENSION pg_stat_statements');
  await pg.sql('CREATE ROLE x LOGIN');
  const exporter = await startPgvigil(t, pg.url, { PGVIGIL_SLOW_QUERY_THRESHOLD_SECONDS: '0.000001' });
  await exporter.poll('statements');
  await pg.sql("ALTER ROLE x PASSWORD 'some-secret'");
  await pg.sql("DO $$ BEGIN EXECUTE 'ALTER ROLE x PASSWORD ''some-secret'''; END $$");
  await exporter.poll('statements');
  const metrics = await exporter.text();
  const api = (await exporter.pgvigil.app.inject({ method: 'GET', url: '/api/statements' })).body;
  t.match(
    metrics,
    /pg_stat_statements_query_info\{[^}]*query="ALTER ROLE x PASSWORD \?"/,
    'the statement is there, redacted',
  );
  t.match(api, /ALTER ROLE x PASSWORD \?/);
  t.match(exporter.logs(), /ALTER ROLE x PASSWORD \?/, 'and logged as slow (threshold 1 µs), redacted');
  for (const [where, text] of [
    ['/metrics', metrics],
    ['/api/statements', api],
    ['logs', exporter.logs()],
  ] as const) {
    t.notMatch(text, /some-secret/, `no secret in ${where}`);
  }
});

t.test('extension not created in the connection database: not applicable, with the reason', async (t) => {
  const pg = await testPostgres(t);
  await pg.sql('CREATE DATABASE other');
  const exporter = await startPgvigil(t, pg.urlFor('other'));
  const m = await exporter.poll('statements');
  t.equal(m.value('pgvigil_collector_enabled', { collector: 'statements' }), 0);
  t.match(exporter.logs(), /"reason":"extension pg_stat_statements is not created in database other/);
  t.equal(m.find('pg_stat_statements_calls_total').length, 0);
});
