import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { bucketBounds, instrumentPool, loadQueryClasses } from 'pgvigil-pool';
import client from 'prom-client';
import t from 'tap';
import { seed } from '../../src/demo/schema.js';
import { QUERY_KINDS } from '../../src/demo/workload.js';
import { type ParsedMetrics, parseMetrics } from '../helpers/metrics.js';
import { type TestPostgres, testPostgres } from '../helpers/postgres.js';

// Application-side query timing on a real pg.Pool against a real PostgreSQL, with the demo's
// query classes (deploy/examples/query-classes.yaml): class labels for the demo's own queries,
// pg_sleep of known durations in the right buckets (checked against the test's own clock),
// every calling form, errors and timeouts by class, and the redacted, rate-limited slow log.

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLASSES_FILE = join(root, 'deploy', 'examples', 'query-classes.yaml');
const DEMO_CLASSES = ['login', 'workshop', 'navigation', 'admin'];
const FAMILY = 'pgvigil_client_query_duration_seconds';
const ERRORS = 'pgvigil_client_query_errors_total';
const LOGIN = 'SELECT id, pg_sleep($2) FROM users WHERE username = $1';
const USERS = 50;

interface Logged {
  readonly fields: Record<string, unknown>;
  readonly message: string;
}

async function setUp(
  t: { teardown(fn: () => unknown): void },
  postgres: TestPostgres,
  extra: { slowQueryThresholdSeconds?: number; max?: number } = {},
) {
  const registry = new client.Registry();
  const pool = new pg.Pool({ connectionString: postgres.url, max: extra.max ?? 2, application_name: 'timing-test' });
  t.teardown(() => pool.end());
  const logged: Logged[] = [];
  const logger = { warn: (fields: Record<string, unknown>, message: string) => logged.push({ fields, message }) };
  const instrumentation = instrumentPool(pool, {
    registry,
    name: 'app',
    classesFile: CLASSES_FILE,
    logger,
    ...(extra.slowQueryThresholdSeconds === undefined
      ? {}
      : { slowQueryThresholdSeconds: extra.slowQueryThresholdSeconds }),
  });
  const scrape = async () => parseMetrics(await registry.metrics());
  return { registry, pool, logged, instrumentation, scrape };
}

const series = (cls: string) => ({ application_name: 'timing-test', pool: 'app', class: cls });
const count = (m: ParsedMetrics, cls: string) => m.value(`${FAMILY}_count`, series(cls)) ?? NaN;
const errors = (m: ParsedMetrics, cls: string, kind: string) => m.value(ERRORS, { ...series(cls), kind }) ?? NaN;

/** Bucket counts of one class as a map le → cumulative count. */
function buckets(m: ParsedMetrics, cls: string): Map<string, number> {
  return new Map(m.find(`${FAMILY}_bucket`, series(cls)).map((s) => [s.labels.le!, s.value]));
}

/** The `le` of the bucket a duration falls in (first bound >= seconds). */
function leOf(bounds: readonly number[], seconds: number): string {
  return String(bounds.find((b) => b >= seconds) ?? '+Inf');
}

t.test('query timing by class on a real pool', async (t) => {
  const postgres = await testPostgres(t);
  await seed(await postgres.client(), USERS);
  const { classes } = loadQueryClasses(CLASSES_FILE);
  const bounds = bucketBounds([...classes.map((c) => c.objectiveSeconds), 0.1]);

  t.test('every class (and other) has its series from the start, with the exporter buckets', async (t) => {
    const { scrape } = await setUp(t, postgres);
    const m = await scrape();
    for (const cls of [...DEMO_CLASSES, 'other']) {
      t.equal(count(m, cls), 0, `${cls}: count 0`);
      t.same(
        [...buckets(m, cls).keys()],
        [...bounds.map(String), '+Inf'],
        `${cls}: base bounds + objectives + threshold`,
      );
      t.equal(errors(m, cls, 'error'), 0);
      t.equal(errors(m, cls, 'timeout'), 0);
    }
    t.equal(m.types.get(FAMILY), 'histogram');
    t.equal(m.types.get(ERRORS), 'counter');
    t.ok(
      m.find('pgvigil_client_pool_max_connections', { application_name: 'timing-test', pool: 'app' }).length === 1,
      'pool gauges carry application_name',
    );
  });

  t.test("the demo's own queries land in their classes", async (t) => {
    const { pool, scrape } = await setUp(t, postgres);
    for (const kind of QUERY_KINDS) await kind.run(pool, USERS);
    await pool.query('SELECT count(*) FROM pg_class');
    const m = await scrape();
    for (const cls of [...DEMO_CLASSES, 'other']) t.equal(count(m, cls), 1, `${cls}: one query`);
  });

  t.test('pg_sleep of known durations lands in the right bucket', async (t) => {
    const { pool, scrape } = await setUp(t, postgres);
    let before = await scrape();
    for (const sleep of [0.002, 0.06, 0.12, 0.3, 0.6]) {
      const started = performance.now();
      const res = await pool.query(LOGIN, ['user1', sleep]);
      const wall = (performance.now() - started) / 1000;
      t.equal(res.rowCount, 1);
      const after = await scrape();
      t.equal(count(after, 'login') - count(before, 'login'), 1, `${sleep} s: one observation`);
      const observed = after.value(`${FAMILY}_sum`, series('login'))! - before.value(`${FAMILY}_sum`, series('login'))!;
      t.ok(
        observed >= sleep && observed <= wall,
        `${sleep} s: observed ${observed.toFixed(4)} s between the sleep and the wall clock ${wall.toFixed(4)} s`,
      );
      const grew = [...buckets(after, 'login')]
        .filter(([le, n]) => n > buckets(before, 'login').get(le)!)
        .map(([le]) => le);
      t.equal(
        grew[0],
        leOf(bounds, observed),
        `${sleep} s: counted in le=${leOf(bounds, observed)} and every bucket above`,
      );
      t.equal(grew.length, bounds.length + 1 - bounds.findIndex((b) => b >= observed));
      // The test's clock brackets the duration: when the sleep and the wall time share a bucket, so must the
      // observation.
      if (leOf(bounds, sleep) === leOf(bounds, wall))
        t.equal(grew[0], leOf(bounds, sleep), `${sleep} s: in the sleep's bucket`);
      else
        t.comment(
          `${sleep} s: wall clock ${wall.toFixed(4)} s crossed a bound; bucket checked against the observation only`,
        );
      before = after;
    }
  });

  t.test('callback and promise forms, text and named prepared queries, submittables untimed', async (t) => {
    const { pool, scrape } = await setUp(t, postgres);
    const before = count(await scrape(), 'login');
    const c = await pool.connect();
    const viaCallback = await new Promise<pg.QueryResult>((resolve, reject) =>
      c.query(LOGIN, ['user2', 0], (err: Error | undefined, res: pg.QueryResult) => (err ? reject(err) : resolve(res))),
    );
    t.equal(viaCallback.rows.length, 1, 'client.query(text, values, callback)');
    const noValues = await new Promise<pg.QueryResult>((resolve, reject) =>
      c.query("SELECT id FROM users WHERE username = 'user3'", (err: Error | undefined, res: pg.QueryResult) =>
        err ? reject(err) : resolve(res),
      ),
    );
    t.equal(noValues.rows.length, 1, 'client.query(text, callback)');
    t.equal((await c.query({ text: LOGIN, values: ['user4', 0] })).rows.length, 1, 'client.query(config) promise');
    const named = { name: 'login-by-username', text: LOGIN, values: ['user5', 0] };
    t.equal((await c.query(named)).rows.length, 1, 'named prepared query, first run (parse)');
    t.equal((await c.query(named)).rows.length, 1, 'named prepared query, reused config object');
    t.equal(
      (await c.query({ ...named, values: ['user6', 0] })).rows.length,
      1,
      'named prepared query, second run (no parse)',
    );
    const submitted = new pg.Query("SELECT id FROM users WHERE username = 'user7'");
    const rows: unknown[] = [];
    await new Promise<void>((resolve, reject) => {
      submitted.on('row', (r: unknown) => rows.push(r));
      submitted.on('end', () => resolve());
      submitted.on('error', reject);
      c.query(submitted);
    });
    t.equal(rows.length, 1, 'a Submittable (pg.Query) still works');
    c.release();
    const viaPool = await new Promise<pg.QueryResult>((resolve, reject) =>
      pool.query(LOGIN, ['user8', 0], (err: Error | undefined, res: pg.QueryResult) =>
        err ? reject(err) : resolve(res),
      ),
    );
    t.equal(viaPool.rows.length, 1, 'pool.query(text, values, callback)');
    t.equal((await pool.query({ text: LOGIN, values: ['user9', 0] })).rows.length, 1, 'pool.query(config) promise');
    t.equal(count(await scrape(), 'login') - before, 8, 'eight timed login queries, the submittable not timed');
  });

  t.test('errors and timeouts are counted by class, not observed as durations', async (t) => {
    const { pool, scrape } = await setUp(t, postgres, { max: 3 });
    const before = await scrape();
    const c = await pool.connect();
    await c.query('SET statement_timeout = 100');
    await t.rejects(c.query(LOGIN, ['user1', 2]), { code: '57014' }, 'login hits statement_timeout');
    await c.query('RESET statement_timeout');
    await t.rejects(c.query('SELECT step_id FROM workshop_step_data WHERE user_id = $1', ['not a number']), {
      code: '22P02',
    });
    const holder = await postgres.client();
    await holder.query('BEGIN');
    await holder.query('SELECT id FROM users WHERE id = 1 FOR UPDATE');
    await c.query('SET lock_timeout = 100');
    const update = `UPDATE users SET navigation_progress = '{}'::jsonb WHERE id = $1`;
    await t.rejects(c.query(update, [1]), { code: '55P03' }, 'navigation hits lock_timeout');
    await c.query('RESET lock_timeout');
    await holder.query('ROLLBACK');
    c.release();
    const slow = await pool.connect();
    const admin = 'SELECT u.username, pg_sleep(1) FROM user_assessments a JOIN users u ON u.id = a.user_id LIMIT 1';
    await t.rejects(
      slow.query({ text: admin, query_timeout: 100 } as pg.QueryConfig),
      /Query read timeout/,
      "admin hits node-postgres' query_timeout",
    );
    slow.release(true); // the server is still sleeping on it
    await t.rejects(pool.query('SELEC 1'), { code: '42601' });
    const m = await scrape();
    const delta = (cls: string, kind: string) => errors(m, cls, kind) - errors(before, cls, kind);
    t.same(
      Object.fromEntries(
        [...DEMO_CLASSES, 'other'].map((cls) => [cls, { error: delta(cls, 'error'), timeout: delta(cls, 'timeout') }]),
      ),
      {
        login: { error: 0, timeout: 1 },
        workshop: { error: 1, timeout: 0 },
        navigation: { error: 0, timeout: 1 },
        admin: { error: 0, timeout: 1 },
        other: { error: 1, timeout: 0 },
      },
    );
    for (const cls of ['login', 'workshop', 'navigation', 'admin'])
      t.equal(count(m, cls), count(before, cls), `${cls}: failures are not durations`);
  });

  t.test('slow queries are logged redacted, with rows and duration, once per text per interval', async (t) => {
    const { pool, logged } = await setUp(t, postgres);
    const secret = "SELECT pg_sleep(0.15), 'top-secret-token' AS token, 42 AS answer";
    for (let i = 0; i < 3; i++) await pool.query(secret);
    await pool.query('SELECT 1');
    await pool.query(LOGIN, ['user1', 0.06]);
    t.equal(
      logged.length,
      2,
      'one line for the three slow runs of one text, one for the slow login, none for the fast query',
    );
    const [other, login] = logged;
    t.equal(other?.message, 'slow query');
    t.notMatch(JSON.stringify(other), /top-secret-token|42/, 'no literal reaches the log');
    t.match(other?.fields, {
      application_name: 'timing-test',
      pool: 'app',
      class: 'other',
      threshold_seconds: 0.1,
      rows: 1,
      query: 'SELECT pg_sleep(?), ? AS token, ? AS answer',
    });
    t.ok((other?.fields.duration_seconds as number) >= 0.15, 'duration at least the sleep');
    t.match(
      login?.fields,
      { class: 'login', threshold_seconds: 0.05, rows: 1, query: LOGIN },
      'a class is slow above its own objective',
    );
  });
});

t.test('options are checked up front', async (t) => {
  const pool = new pg.Pool({ max: 1 });
  t.teardown(() => pool.end());
  const registry = new client.Registry();
  t.throws(
    () => instrumentPool(pool, { registry, classesFile: '/nonexistent/classes.yaml' }),
    /classesFile: cannot read \/nonexistent/,
  );
  t.throws(
    () => instrumentPool(pool, { registry, slowQueryThresholdSeconds: 0 }),
    /slowQueryThresholdSeconds must be a number > 0/,
  );
  t.throws(() => instrumentPool(pool, { registry, labels: { class: 'x' } }), /"class" is a label of its own/);
});
