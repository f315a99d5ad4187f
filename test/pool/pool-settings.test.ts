import t from 'tap';
import { loadConfig } from '../../src/pgvigil-config.js';
import { checkPgbouncerUrl, parseExpectedPoolSizes } from '../../src/pool-settings.js';

t.test('PGVIGIL_EXPECTED_POOL_SIZES', async (t) => {
  const problems: string[] = [];
  t.same([...parseExpectedPoolSizes(' heliotrope_imaginal=20, admin=5 ,', problems)], [['heliotrope_imaginal', 20], ['admin', 5]]);
  t.same(problems, []);
  for (const bad of ['heliotrope_imaginal', '=5', 'a=0', 'a=-1', 'a=1.5', 'a=x', 'a=1,a=2']) {
    const p: string[] = [];
    parseExpectedPoolSizes(bad, p);
    t.equal(p.length, 1, `rejects ${JSON.stringify(bad)}`);
    t.match(p[0], /^PGVIGIL_EXPECTED_POOL_SIZES: /, 'message names the variable');
  }
  t.throws(() => loadConfig({ PGVIGIL_EXPECTED_POOL_SIZES: 'web=ten' }), /PGVIGIL_EXPECTED_POOL_SIZES: "web=ten" is not application_name=size/);
  t.same([...loadConfig({ PGVIGIL_EXPECTED_POOL_SIZES: 'web=10' }).expectedPoolSizes], [['web', 10]]);
  t.equal(loadConfig({}).expectedPoolSizes.size, 0);
});

t.test('PGVIGIL_PGBOUNCER_URL and its _FILE variant', async (t) => {
  const url = 'postgres://stats:s3cret@127.0.0.1:6432/pgbouncer';
  t.equal(loadConfig({ PGVIGIL_PGBOUNCER_URL: url }).pgbouncerUrl, url);
  t.equal(loadConfig({}).pgbouncerUrl, undefined);
  const dir = t.testdir({ url: `${url}\n` });
  t.equal(loadConfig({ PGVIGIL_PGBOUNCER_URL_FILE: `${dir}/url` }).pgbouncerUrl, url, 'read from the secret file');
  const wrongDb = 'postgres://stats:s3cret@127.0.0.1:6432/app';
  t.throws(() => loadConfig({ PGVIGIL_PGBOUNCER_URL: wrongDb }), /PGVIGIL_PGBOUNCER_URL: must name the admin console database/);
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
