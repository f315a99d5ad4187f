import t from 'tap';
import { eventually, startPgvigil } from './helpers/pgvigil.js';
import { testPostgres } from './helpers/postgres.js';

// /primary and /replica answer from the last recovery state pgvigil saw; unknown or too old → 503
// on both, so a load balancer never routes to a server nobody has heard from. (The standby side
// is covered by test/collectors/replication.test.ts.)

t.test('/primary and /replica follow the last known role and expire', async (t) => {
  const pg = await testPostgres(t, { needsControl: true });
  const exporter = await startPgvigil(t, pg.url, {
    PGVIGIL_RECOVERY_INTERVAL_SECONDS: '1',
    PGVIGIL_STATEMENT_TIMEOUT_SECONDS: '1',
    PGVIGIL_COLLECTOR_TIMEOUT_SECONDS: '1',
  });
  const get = async (url: string) => {
    const res = await exporter.pgvigil.app.inject(url);
    return { status: res.statusCode, body: res.json() as { role: string } };
  };
  t.same(
    await get('/primary'),
    { status: 503, body: { role: 'unknown', reason: 'no recent answer from PostgreSQL' } },
    'unknown before the first poll',
  );
  await exporter.poll('recovery');
  t.same(await get('/primary'), { status: 200, body: { role: 'primary' } });
  t.same((await get('/replica')).status, 503);
  t.same((await get('/replica')).body.role, 'primary', 'the 503 says what the server is');

  await pg.cluster!.stop();
  const stoppedAt = Date.now();
  await eventually(
    async () => {
      await exporter.poll('recovery').catch(() => undefined);
      return (await get('/primary')).status === 503;
    },
    15_000,
    '/primary turns 503 once the last answer is older than 2 intervals + collector timeout (3 s)',
  );
  const after = (Date.now() - stoppedAt) / 1000;
  t.ok(after >= 2, `503 after ${after.toFixed(1)} s, not at the first failed poll`);
  t.equal((await get('/primary')).body.role, 'unknown');
});
