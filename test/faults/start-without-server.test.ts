import t from 'tap';
import { recordingProxy } from '../helpers/faults.js';
import { parseMetrics } from '../helpers/metrics.js';
import { eventually, startPgvigil } from '../helpers/pgvigil.js';
import { testPostgres } from '../helpers/postgres.js';

// pgvigil starts while PostgreSQL is down: it must serve probes, report pg_up 0, retry with a
// growing delay (not once per collector per poll), and become ready once the server is up.
// A proxy in front of the server records every connection attempt.

t.test('starts without a server, backs off, becomes ready when the server comes up', async (t) => {
  const pg = await testPostgres(t, { needsControl: true });
  const cluster = pg.cluster!;
  await cluster.stop();
  const proxy = await recordingProxy(cluster.port);
  t.teardown(() => proxy.close());
  const url = new URL(pg.url);
  url.port = String(proxy.port);

  const exporter = await startPgvigil(
    t,
    url.toString(),
    {
      PGVIGIL_HEARTBEAT_INTERVAL_SECONDS: '0.5',
      PGVIGIL_ACTIVITY_INTERVAL_SECONDS: '1',
      PGVIGIL_RECONNECT_BACKOFF_MAX_SECONDS: '2',
      PGVIGIL_LOG_LEVEL: 'info',
    },
    { listen: true },
  );
  const base = exporter.pgvigil.app.listeningOrigin;
  const get = (path: string) => fetch(`${base}${path}`);

  t.equal((await get('/healthz')).status, 200, '/healthz answers while PostgreSQL is down');
  t.equal((await get('/readyz')).status, 503, '/readyz says not ready');
  const res = await get('/metrics');
  t.equal(res.status, 200, '/metrics answers');
  t.equal(parseMetrics(await res.text()).value('pg_up'), 0, 'pg_up 0');

  // 6 s of downtime. Without backoff the heartbeat alone would try 12 times, plus every collector.
  const windowStart = Date.now();
  await eventually(() => Date.now() - windowStart >= 6000, 7000, '6 s of downtime');
  const attempts = proxy.accepted.filter((at) => at >= windowStart - 1000);
  const gaps = attempts.slice(1).map((at, i) => at - attempts[i]!);
  t.comment(`connection attempts in 6 s: ${attempts.length}; gaps (ms): ${gaps.join(', ')}`);
  t.ok(attempts.length >= 3, 'it keeps retrying');
  t.ok(attempts.length <= 9, `attempts are spaced out by backoff (${attempts.length} in 6 s)`);
  t.ok(Math.max(...gaps) >= 1500, 'the delay grew to the configured maximum (2 s ± 20 %)');

  const failedLines = exporter
    .logs()
    .split('\n')
    .filter((l) => l.includes('"collector failed"'));
  t.ok(
    failedLines.length <= 30,
    `no log storm while down (${failedLines.length} "collector failed" lines for ~25 collectors)`,
  );

  const upAt = Date.now();
  await cluster.start();
  await eventually(async () => (await get('/readyz')).status === 200, 10_000, '/readyz 200 after the server is up');
  t.comment(`ready ${Date.now() - upAt} ms after the server was started (start-up included)`);
  await eventually(
    async () => parseMetrics(await (await get('/metrics')).text()).value('pg_up') === 1,
    5000,
    'pg_up 1',
  );
  t.pass('pg_up 1 once the server is up');
});
