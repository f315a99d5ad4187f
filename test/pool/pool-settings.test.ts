import t from 'tap';
import { loadConfig } from '../../src/pgvigil-config.js';
import { checkPgbouncerUrl, parseExpectedPoolSizes } from '../../src/pool-settings.js';

// Each collector's settings, as the configuration resolved them from its own variables.
const poolSizes = (env: Record<string, string>) =>
  (loadConfig(env).collectorSettings.get('client_pools') as { expectedPoolSizes: Map<string, number> })
    .expectedPoolSizes;
const pgbouncerUrl = (env: Record<string, string>) =>
  (loadConfig(env).collectorSettings.get('pgbouncer') as { url?: string }).url;

t.test('PGVIGIL_EXPECTED_POOL_SIZES', async (t) => {
  const problems: string[] = [];
  t.same(
    [...parseExpectedPoolSizes(' heliotrope_imaginal=20, admin=5 ,', problems)],
    [
      ['heliotrope_imaginal', 20],
      ['admin', 5],
    ],
  );
  t.same(problems, []);
  for (const bad of ['heliotrope_imaginal', '=5', 'a=0', 'a=-1', 'a=1.5', 'a=x', 'a=1,a=2']) {
    const p: string[] = [];
    parseExpectedPoolSizes(bad, p);
    t.equal(p.length, 1, `rejects ${JSON.stringify(bad)}`);
    t.match(p[0], /^PGVIGIL_EXPECTED_POOL_SIZES: /, 'message names the variable');
  }
  t.throws(
    () => loadConfig({ PGVIGIL_EXPECTED_POOL_SIZES: 'web=ten' }),
    /PGVIGIL_EXPECTED_POOL_SIZES: "web=ten" is not application_name=size/,
  );
  t.same([...poolSizes({ PGVIGIL_EXPECTED_POOL_SIZES: 'web=10' })], [['web', 10]]);
  t.equal(poolSizes({}).size, 0);
});

t.test('PGVIGIL_PGBOUNCER_URL and its _FILE variant', async (t) => {
  const url = 'postgres://stats:s3cret@127.0.0.1:6432/pgbouncer';
  t.equal(pgbouncerUrl({ PGVIGIL_PGBOUNCER_URL: url }), url);
  t.equal(pgbouncerUrl({}), undefined);
  const dir = t.testdir({ url: `${url}\n` });
  t.equal(pgbouncerUrl({ PGVIGIL_PGBOUNCER_URL_FILE: `${dir}/url` }), url, 'read from the secret file');
  const wrongDb = 'postgres://stats:s3cret@127.0.0.1:6432/app';
  t.throws(
    () => loadConfig({ PGVIGIL_PGBOUNCER_URL: wrongDb }),
    /PGVIGIL_PGBOUNCER_URL: must name the admin console database/,
  );
  try {
    loadConfig({ PGVIGIL_PGBOUNCER_URL: 'not a url s3cret' });
    t.fail('should throw');
  } catch (err) {
    t.match((err as Error).message, /PGVIGIL_PGBOUNCER_URL: not a valid URL/);
    t.notMatch((err as Error).message, /s3cret/, 'the value is never echoed');
  }
  const p: string[] = [];
  t.equal(checkPgbouncerUrl('mysql://x@h/pgbouncer', p), undefined);
  t.match(p[0], /must start with postgres/);
});
