import { spawnSync } from 'node:child_process';
import pg from 'pg';
import client from 'prom-client';
import t from 'tap';
import { freePort } from '../../src/dev/local-cluster.js';
import { instrumentPool } from '../../src/pool-instrumentation.js';
import { parseMetrics } from '../helpers/metrics.js';
import { eventually } from '../helpers/pgvigil.js';
import { testPostgres } from '../helpers/postgres.js';

// Long enough for a new connection on a loaded machine; the timeouts below come from a held client.
const TIMEOUT_MS = 1000;

t.test('instrumentPool on a real pg.Pool: gauges, acquire wait, timeouts, errors', async (t) => {
  const postgres = await testPostgres(t);
  const registry = new client.Registry();
  const pool = new pg.Pool({
    connectionString: postgres.url,
    max: 1,
    connectionTimeoutMillis: TIMEOUT_MS,
    application_name: 'pool-test',
  });
  pool.on('error', () => undefined); // the application's own handler
  t.teardown(() => pool.end());
  const instrumentation = instrumentPool(pool, { registry, name: 'app', labels: { service: 'checkout' } });
  const metrics = async () => parseMetrics(await registry.metrics());
  const app = { pool: 'app', service: 'checkout' };

  let m = await metrics();
  t.equal(m.value('pgvigil_client_pool_max_connections', app), 1);
  t.equal(
    m.value('pgvigil_client_pool_acquire_timeouts_total', app),
    0,
    'timeout series exists at 0 before the first timeout',
  );
  t.equal(m.types.get('pgvigil_client_pool_acquire_seconds'), 'histogram');

  // Warm-up: the pool opens its one connection (time unknown), then it is held.
  const held = await pool.connect();
  m = await metrics();
  t.equal(m.value('pgvigil_client_pool_connections', { ...app, state: 'in_use' }), 1);
  t.equal(m.value('pgvigil_client_pool_connections', { ...app, state: 'idle' }), 0);
  const before = {
    count: m.value('pgvigil_client_pool_acquire_seconds_count', app)!,
    fast: m.value('pgvigil_client_pool_acquire_seconds_bucket', { ...app, le: '0.01' })!,
    sum: m.value('pgvigil_client_pool_acquire_seconds_sum', app)!,
  };
  t.equal(before.count, 1);

  // pool.query() queues behind the held client; it is released after the query waited >= 30 ms.
  const waited = pool.query('SELECT 1 AS one');
  await eventually(
    async () => (await metrics()).value('pgvigil_client_pool_waiting_requests', app) === 1,
    5000,
    'one waiting request',
  );
  const queuedAt = Date.now();
  await new Promise((r) => setTimeout(r, 30)); // ground truth: the wait we measure, not a synchronisation
  held.release();
  t.same((await waited).rows, [{ one: 1 }]);
  const waitedMs = Date.now() - queuedAt;
  m = await metrics();
  t.equal(
    m.value('pgvigil_client_pool_acquire_seconds_count', app),
    before.count + 1,
    'pool.query() acquisition timed once',
  );
  t.equal(
    m.value('pgvigil_client_pool_acquire_seconds_bucket', { ...app, le: '0.01' }),
    before.fast,
    'a 30 ms wait is above the 0.01 bucket',
  );
  const observed = m.value('pgvigil_client_pool_acquire_seconds_sum', app)! - before.sum;
  t.ok(
    observed >= 0.03 && observed <= waitedMs / 1000 + 0.05,
    `observed wait ${observed.toFixed(4)} s, test waited ${waitedMs} ms`,
  );
  t.equal(m.value('pgvigil_client_pool_waiting_requests', app), 0);

  // Forced acquire timeouts, in all three forms: promise connect(), callback connect(), query().
  const holder = await pool.connect();
  await t.rejects(pool.connect(), /timeout exceeded when trying to connect/);
  const cbErr = await new Promise<Error | undefined>((resolve) => {
    pool.connect((err) => resolve(err));
  });
  t.match(cbErr?.message, /timeout exceeded/);
  await t.rejects(pool.query('SELECT 1'), /timeout exceeded/);
  holder.release();
  m = await metrics();
  t.equal(m.value('pgvigil_client_pool_acquire_timeouts_total', app), 3);
  t.equal(
    m.value('pgvigil_client_pool_errors_total', { ...app, kind: 'connect' }),
    0,
    'timeouts are not counted as errors',
  );
  // -2: the query above and the holder.
  const timedOut = m.value('pgvigil_client_pool_acquire_seconds_count', app)! - before.count - 2;
  t.equal(timedOut, 3, 'timed-out attempts are observed too');

  // An idle connection killed by the server: counted, and the application's handler still runs.
  await postgres.sql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pool-test'`);
  await eventually(
    async () => (await metrics()).value('pgvigil_client_pool_errors_total', { ...app, kind: 'idle_client' }) === 1,
    5000,
    'idle client error counted',
  );

  // A second pool in the same registry, pointing at a closed port: connect errors.
  const broken = new pg.Pool({
    connectionString: `postgres://postgres@127.0.0.1:${await freePort()}/postgres`,
    max: 1,
  });
  t.teardown(() => broken.end());
  instrumentPool(broken, { registry, name: 'broken', labels: { service: 'checkout' } });
  await t.rejects(broken.query('SELECT 1'), /ECONNREFUSED/);
  m = await metrics();
  t.equal(m.value('pgvigil_client_pool_errors_total', { pool: 'broken', service: 'checkout', kind: 'connect' }), 1);
  t.equal(m.value('pgvigil_client_pool_acquire_timeouts_total', app), 3, 'pools keep separate series');
  t.throws(() => instrumentPool(broken, { registry, name: 'again', labels: { service: 'x' } }), /already instrumented/);
  t.throws(() => instrumentPool(new pg.Pool(), { registry, name: 'other' }), /same label names/);

  const promtool = spawnSync('promtool', ['check', 'metrics'], { input: await registry.metrics(), encoding: 'utf8' });
  if (promtool.error === undefined)
    t.equal(`${promtool.stdout}${promtool.stderr}`, '', 'promtool check metrics is silent');

  instrumentation.stop();
  m = await metrics();
  t.equal(m.find('pgvigil_client_pool_max_connections', app).length, 0, 'a stopped pool disappears');
  t.equal(m.find('pgvigil_client_pool_acquire_timeouts_total', app).length, 0);
  const c = await pool.connect();
  c.release();
  t.equal(
    (await metrics()).find('pgvigil_client_pool_acquire_seconds_count', app).length,
    0,
    'connect() no longer timed',
  );
});

t.test(
  'without an error handler of its own, an idle client error still reaches the application as before',
  async (t) => {
    const registry = new client.Registry();
    const pool = new pg.Pool({ max: 1 });
    t.teardown(() => pool.end());
    instrumentPool(pool, { registry });
    t.throws(() => pool.emit('error', new Error('idle client died')), /idle client died/);
    const m = parseMetrics(await registry.metrics());
    t.equal(m.value('pgvigil_client_pool_errors_total', { pool: 'default', kind: 'idle_client' }), 1);
  },
);
