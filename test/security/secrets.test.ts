import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { ConfigError, loadConfig } from '../../src/pgvigil-config.js';
import { parseMetrics } from '../helpers/metrics.js';
import { startPgvigil } from '../helpers/pgvigil.js';
import { testPostgres } from '../helpers/postgres.js';

// Distinctive secrets go in; every byte pgvigil produces (all log lines at trace level, /metrics
// in both formats, every HTTP response, configuration error messages) is scanned for them,
// including after a failed login with a wrong password.

const PASSWORD = 'Zq9-s3cr3t-p4ss-Kv2';
const WRONG_PASSWORD = 'Wr0ng-p4ss-Xy7-Lm3';
const TOKEN = 'Tk-unique-t0ken-7788-Qp';

function forms(secret: string): string[] {
  return [secret, encodeURIComponent(secret), Buffer.from(secret).toString('base64'), secret.slice(0, 12)];
}

function assertClean(t: Test, what: string, text: string): void {
  for (const secret of [PASSWORD, WRONG_PASSWORD, TOKEN]) {
    for (const form of forms(secret))
      t.notOk(
        text.includes(form),
        `${what}: no trace of ${secret.slice(0, 3)}… (${form === secret ? 'raw' : 'encoded/partial'})`,
        { diagnostic: false },
      );
  }
}

t.test('no secret in logs, metrics, responses or errors', async (t) => {
  const pg = await testPostgres(t, { needsControl: true });
  await pg.sql(
    `SET password_encryption = 'scram-sha-256'; CREATE ROLE vault LOGIN PASSWORD '${PASSWORD}' IN ROLE pg_monitor`,
  );
  const hba = join(pg.cluster!.dataDir, 'pg_hba.conf');
  writeFileSync(hba, `host all vault 127.0.0.1/32 scram-sha-256\n${readFileSync(hba, 'utf8')}`);
  await pg.sql('SELECT pg_reload_conf()');
  const dir = mkdtempSync(join(tmpdir(), 'pgvigil-secrets-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));

  // 1. Right password in DATABASE_URL, token from the environment, everything at trace level.
  const good = await startPgvigil(t, pg.urlFor('postgres', 'vault', PASSWORD), {
    PGVIGIL_AUTH_TOKEN: TOKEN,
    PGVIGIL_LOG_LEVEL: 'trace',
  });
  const auth = { authorization: `Bearer ${TOKEN}` };
  const metricsOf = async (e: typeof good) => {
    await e.pgvigil.poller.pollAll();
    return (await e.pgvigil.app.inject({ method: 'GET', url: '/metrics', headers: auth })).body;
  };
  let m = parseMetrics(await metricsOf(good));
  t.equal(m.value('pg_up'), 1, 'connected with the password');
  const responses: string[] = [];
  for (const [url, headers] of [
    ['/metrics', auth],
    ['/metrics', { ...auth, accept: 'application/openmetrics-text; version=1.0.0' }],
    ['/api/statements', auth],
    ['/metrics', { authorization: `Bearer ${WRONG_PASSWORD}` }],
    ['/', auth],
    ['/api/locks', auth],
    ['/healthz', {}],
    ['/readyz', {}],
    ['/nope', auth],
  ] as [string, Record<string, string>][]) {
    const res = await good.pgvigil.app.inject({ method: 'GET', url, headers });
    responses.push(`${url} ${res.statusCode} ${JSON.stringify(res.headers)}\n${res.body}`);
  }
  t.match(responses[0], /pg_stat_activity_connections/, 'metrics were served');
  assertClean(t, 'responses', responses.join('\n'));
  assertClean(t, 'log of a healthy run', good.logs());
  t.ok(good.logs().split('\n').length > 3, 'the healthy run did log');

  // 2. Wrong password, from PGPASSWORD_FILE (the URL names no password).
  const passwordFile = join(dir, 'pw');
  writeFileSync(passwordFile, `${WRONG_PASSWORD}\n`);
  const bad = await startPgvigil(t, pg.urlFor('postgres', 'vault'), {
    PGPASSWORD_FILE: passwordFile,
    PGVIGIL_AUTH_TOKEN: TOKEN,
    PGVIGIL_LOG_LEVEL: 'trace',
  });
  const badText = await metricsOf(bad);
  m = parseMetrics(badText);
  t.equal(m.value('pg_up'), 0, 'the wrong password means pg_up 0');
  t.match(
    bad.logs(),
    /password authentication failed for user \\"vault\\"/,
    'the failure is logged, with the user name only',
  );
  assertClean(t, 'log of a failed login', bad.logs());
  assertClean(t, '/metrics after a failed login', badText);

  // 3. Configuration errors that involve secrets.
  const problems: string[] = [];
  for (const env of [
    { DATABASE_URL: `postgres://vault:${PASSWORD}@[bad-host/postgres` },
    { DATABASE_URL: `http://vault:${PASSWORD}@host/postgres` },
    { DATABASE_URL: `postgres://vault:${PASSWORD}@host/postgres`, DATABASE_URL_FILE: passwordFile },
    { PGVIGIL_AUTH_TOKEN: 'short', PGVIGIL_AUTH_USERNAME: 'x' },
    { PGVIGIL_AUTH_TOKEN: TOKEN, PGVIGIL_AUTH_TOKEN_FILE: passwordFile },
    { PGVIGIL_AUTH_PASSWORD: PASSWORD },
  ]) {
    try {
      loadConfig(env);
      problems.push('(accepted)');
    } catch (err) {
      problems.push(err instanceof ConfigError ? err.message : `unexpected ${String(err)}`);
    }
  }
  t.notOk(problems.includes('(accepted)'), 'every bad secret configuration is refused');
  assertClean(t, 'configuration errors', problems.join('\n'));
});
