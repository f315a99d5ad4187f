import { gunzipSync } from 'node:zlib';
import t, { type Test } from 'tap';
import { type AppDeps, buildApp } from '../src/app.js';
import { CollectorRenderings } from '../src/exposition/collector-renderings.js';
import { Exposition, type MetricsBody } from '../src/exposition/exposition.js';
import { counter, gauge } from '../src/exposition/families.js';
import { createLogger } from '../src/logger.js';
import { loadConfig } from '../src/pgvigil-config.js';
import { UNKNOWN_ROLE } from '../src/role-routes.js';
import { SelfMetrics } from '../src/self-metrics.js';
import { SnapshotStore } from '../src/snapshot-store.js';

// The HTTP contract without PostgreSQL: buildApp sees the exporter only through narrow views
// (the metrics body, readiness, the statements view and the server role), so each is given here.
// test/app.test.ts covers the same routes against a real server.

const OM = 'application/openmetrics-text; version=1.0.0';

async function appWith(t: Test, overrides: Partial<AppDeps> = {}) {
  const config = loadConfig({
    DATABASE_URL: 'postgres://pgvigil@127.0.0.1:1/postgres',
    PGVIGIL_RECOVERY_INTERVAL_SECONDS: '5',
  });
  let logText = '';
  const log = createLogger('info', {
    write: (chunk: string) => {
      logText += chunk;
    },
  });
  const body: MetricsBody = { body: async (format, compressed) => [Buffer.from(`${format} ${compressed}\n`)] };
  const app = await buildApp({
    config,
    log,
    version: '1.2.3',
    metrics: body,
    readiness: { isReady: () => true },
    statements: undefined,
    locks: undefined,
    role: UNKNOWN_ROLE,
    status: {
      families: () => [],
      statements: () => undefined,
      lockTrees: () => undefined,
      recentWaits: () => undefined,
    },
    ...overrides,
  });
  t.teardown(() => app.close());
  return { app, logs: () => logText };
}

t.test('/metrics serves the exposition body in the negotiated format and encoding', async (t) => {
  const snapshots = new SnapshotStore();
  snapshots.register('tables', 60_000);
  const metrics = new SelfMetrics('1.2.3');
  const renderings = new CollectorRenderings(snapshots, metrics, createLogger('silent'));
  const exposition = new Exposition(snapshots, renderings, metrics);
  snapshots.put('tables', 'app', {
    at: Date.now(),
    families: [
      gauge('pg_test_rows', 'Rows.', [{ labels: { relname: 'a"b' }, value: 2 }]),
      counter('pg_test_scans_total', 'Scans.', [{ labels: {}, value: 9 }]),
    ],
  });
  const { app } = await appWith(t, { metrics: exposition });

  const plain = await app.inject('/metrics');
  t.equal(plain.statusCode, 200);
  t.equal(plain.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  t.equal(plain.headers['cache-control'], 'no-store');
  t.equal(Number(plain.headers['content-length']), plain.rawPayload.length, 'Content-Length is the bytes sent');
  const rows = /^# HELP pg_test_rows Rows\.\n# TYPE pg_test_rows gauge\npg_test_rows\{relname="a\\"b"\} 2\n/;
  t.match(plain.body, rows, 'collectors first');
  t.match(plain.body, /^# TYPE pg_test_scans_total counter\npg_test_scans_total 9$/m);
  t.match(plain.body, /^pgvigil_build_info\{version="1\.2\.3",/m, "then pgvigil's own metrics");

  const om = await app.inject({ url: '/metrics', headers: { accept: OM } });
  t.equal(om.headers['content-type'], `${OM}; charset=utf-8`);
  t.match(om.body, /^# TYPE pg_test_scans counter$/m, 'OpenMetrics names a counter without _total');
  t.match(om.body, /# EOF\n$/);

  const gz = await app.inject({ url: '/metrics', headers: { 'accept-encoding': 'gzip' } });
  t.equal(gz.headers['content-encoding'], 'gzip');
  t.equal(gz.headers.vary, 'Accept-Encoding');
  const unzipped = gunzipSync(gz.rawPayload).toString();
  const collected = (text: string) => text.split('\n# HELP pgvigil_')[0];
  t.equal(collected(unzipped), collected(plain.body), 'the same collector bytes, compressed');
});

t.test('a failing body is a 500 without internals, logged with its stack', async (t) => {
  const { app, logs } = await appWith(t, {
    metrics: { body: () => Promise.reject(new Error('renderer exploded at postgres://u:pw-in-url@db/x')) },
  });
  const res = await app.inject('/metrics');
  t.equal(res.statusCode, 500);
  t.equal(res.body, 'internal error\n', 'no message or stack in the response');
  t.match(logs(), /"msg":"request failed"/);
  t.match(logs(), /"stack":"Error: renderer exploded/, 'the log keeps the stack');
  t.notMatch(logs(), /pw-in-url/, 'and not the password');
});

t.test('/api/statements: 404 while the collector is disabled, the snapshot otherwise', async (t) => {
  const off = await appWith(t);
  const missing = await off.app.inject('/api/statements');
  t.equal(missing.statusCode, 404);
  t.same(missing.json(), { error: 'the statements collector is disabled' });
  const on = await appWith(t, { statements: { snapshot: () => ({ statements: [{ queryid: '-42' }] }) } });
  const res = await on.app.inject('/api/statements');
  t.equal(res.statusCode, 200);
  t.equal(res.headers['cache-control'], 'no-store');
  t.same(res.json(), { statements: [{ queryid: '-42' }] });
});

t.test('/readyz follows readiness; /healthz does not', async (t) => {
  let ready = false;
  const { app } = await appWith(t, { readiness: { isReady: () => ready } });
  t.equal((await app.inject('/readyz')).statusCode, 503);
  t.equal((await app.inject('/healthz')).statusCode, 200);
  ready = true;
  t.same((await app.inject('/readyz')).json(), { status: 'ready' });
});

t.test('/primary and /replica answer from the last known role while it is recent', async (t) => {
  let known: { inRecovery: boolean; at: number } | undefined;
  const { app } = await appWith(t, { role: { lastKnownRole: () => known } });
  const get = async (url: string) => {
    const res = await app.inject(url);
    return { status: res.statusCode, body: res.json() as Record<string, string> };
  };
  t.same(await get('/primary'), { status: 503, body: { role: 'unknown', reason: 'no recent answer from PostgreSQL' } });
  known = { inRecovery: false, at: Date.now() };
  t.same(await get('/primary'), { status: 200, body: { role: 'primary' } });
  t.same(await get('/replica'), { status: 503, body: { role: 'primary' } });
  known = { inRecovery: true, at: Date.now() };
  t.same(await get('/replica'), { status: 200, body: { role: 'replica' } });
  // Two recovery intervals (5 s) plus the collector timeout (10 s by default): 20 s.
  known = { inRecovery: true, at: Date.now() - 21_000 };
  t.same((await get('/replica')).body.role, 'unknown', 'an answer older than that is no answer');
});
