import { gunzipSync } from 'node:zlib';
import t from 'tap';
import { eventually, startPgvigil } from './helpers/pgvigil.js';
import { testPostgres } from './helpers/postgres.js';

t.test('HTTP contract of /metrics, /healthz, /readyz and /', async (t) => {
  const pg = await testPostgres(t, { needsControl: true });
  const exporter = await startPgvigil(t, pg.url, {
    PGVIGIL_STALENESS_SECONDS: '2',
    PGVIGIL_HEARTBEAT_INTERVAL_SECONDS: '0.5',
  });
  const { app, poller } = exporter.pgvigil;

  t.equal((await app.inject('/healthz')).statusCode, 200, 'healthz answers before any poll');
  t.equal((await app.inject('/readyz')).statusCode, 503, 'not ready before PostgreSQL answered');
  await exporter.poll('activity');
  t.equal((await app.inject('/readyz')).statusCode, 200, 'ready once PostgreSQL answered');

  const plain = await app.inject({ url: '/metrics' });
  t.equal(plain.statusCode, 200);
  t.equal(plain.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  t.notMatch(plain.body, /# EOF/);

  const om = await app.inject({ url: '/metrics', headers: { accept: 'application/openmetrics-text; version=1.0.0' } });
  t.equal(om.headers['content-type'], 'application/openmetrics-text; version=1.0.0; charset=utf-8');
  t.match(om.body, /# EOF\n$/, 'OpenMetrics ends with # EOF');
  t.match(om.body, /# TYPE pgvigil_collector_errors counter\n/, 'OpenMetrics counter TYPE without _total');

  const gz = await app.inject({ url: '/metrics', headers: { 'accept-encoding': 'gzip, deflate' } });
  t.equal(gz.headers['content-encoding'], 'gzip');
  t.match(gunzipSync(gz.rawPayload).toString(), /pg_up 1/);

  const landing = await app.inject('/');
  t.equal(landing.statusCode, 200);
  t.match(landing.headers['content-type'], /text\/html/);
  t.ok(landing.headers['content-security-policy'], 'security headers on the landing page');

  t.equal((await app.inject('/nope')).statusCode, 404);

  // PostgreSQL goes away: readiness follows within the staleness limit, liveness does not.
  await pg.cluster!.stop();
  poller.start();
  let ready = 200;
  const deadline = Date.now() + 15_000;
  while (ready === 200 && Date.now() < deadline) {
    ready = (await app.inject('/readyz')).statusCode;
    await new Promise((r) => setTimeout(r, 100));
  }
  t.equal(ready, 503, 'readyz 503 once PostgreSQL has been silent longer than the staleness limit');
  t.equal((await app.inject('/healthz')).statusCode, 200);
  t.equal((await exporter.scrape()).value('pg_up'), 0);
  await pg.cluster!.start();
  while (ready !== 200 && Date.now() < deadline + 15_000) {
    ready = (await app.inject('/readyz')).statusCode;
    await new Promise((r) => setTimeout(r, 100));
  }
  t.equal(ready, 200, 'ready again after PostgreSQL is back');
  t.equal((await exporter.scrape()).value('pg_up'), 1);
});

t.test('gzip and plain scrapes serve the same series, in any order, after every poll', async (t) => {
  const pg = await testPostgres(t);
  const exporter = await startPgvigil(t, pg.url);
  const { app } = exporter.pgvigil;
  // pgvigil's own metrics change between any two scrapes; the collectors' series do not.
  const collected = (text: string) =>
    text
      .split('\n')
      .filter((l) => l !== '' && !/^(# (HELP|TYPE) )?(pgvigil_|process_|nodejs_|pg_up)/.test(l))
      .join('\n');
  const gzip = async (accept?: string) =>
    collected(
      gunzipSync(
        (await app.inject({ url: '/metrics', headers: { 'accept-encoding': 'gzip', ...(accept ? { accept } : {}) } }))
          .rawPayload,
      ).toString(),
    );
  const plain = async (accept?: string) =>
    collected((await app.inject({ url: '/metrics', headers: accept ? { accept } : {} })).body);
  const OM = 'application/openmetrics-text; version=1.0.0';
  for (let round = 0; round < 2; round++) {
    await exporter.poll();
    // gzip first: the plain bytes are dropped once compressed, and a plain scrape renders them again.
    const first = await gzip();
    t.ok(first.split('\n').length > 100, `round ${round}: collectors' series present`);
    t.equal(await plain(), first, `round ${round}: plain after gzip`);
    t.equal(await gzip(), first, `round ${round}: gzip after plain`);
    const om = await gzip(OM);
    t.equal(await plain(OM), om, `round ${round}: OpenMetrics plain after gzip`);
  }
});

t.test('a snapshot older than the staleness limit leaves /metrics, with nothing else happening', async (t) => {
  const pg = await testPostgres(t);
  // Not scheduled: after this one poll nothing runs, so only the clock can change the body.
  const exporter = await startPgvigil(t, pg.url, {
    PGVIGIL_STALENESS_SECONDS: '1',
    PGVIGIL_ACTIVITY_INTERVAL_SECONDS: '1',
  });
  const gz = async () =>
    gunzipSync(
      (await exporter.pgvigil.app.inject({ url: '/metrics', headers: { 'accept-encoding': 'gzip' } })).rawPayload,
    ).toString();
  // The snapshot is stamped when its query returns, so after this instant and before the poll ends.
  const pollStarted = Date.now();
  await exporter.poll('activity');
  t.match(await gz(), /^pg_stat_activity_connections\{/m, 'fresh: served');
  await eventually(
    async () => !/^pg_stat_activity_connections\{/m.test(await gz()),
    10_000,
    'stale activity series to leave',
  );
  t.ok(Date.now() - pollStarted >= 2000, 'not before two intervals (2 s) have passed');
});
