import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startPgvigil } from '../helpers/pgvigil.js';

// Optional credentials on /metrics and /api/*; probes stay open. No PostgreSQL is needed:
// these requests never reach it (pgvigil serves its own metrics while the server is absent).

const NOWHERE = 'postgres://pgvigil@127.0.0.1:1/postgres';
const TOKEN = 'tok-3f9a1c7e5b2d4a68';
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

t.test('bearer token and basic auth', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pgvigil-auth-'));
  const tokenFile = join(dir, 'token');
  const passwordFile = join(dir, 'password');
  writeFileSync(tokenFile, `${TOKEN}\n`);
  writeFileSync(passwordFile, 'pässword with spaces\n');
  const exporter = await startPgvigil(t, NOWHERE, {
    PGVIGIL_AUTH_TOKEN_FILE: tokenFile,
    PGVIGIL_AUTH_USERNAME: 'prometheus',
    PGVIGIL_AUTH_PASSWORD_FILE: passwordFile,
  });
  const get = (url: string, authorization?: string) =>
    exporter.pgvigil.app.inject({ method: 'GET', url, headers: authorization === undefined ? {} : { authorization } });

  for (const url of ['/metrics', '/api/statements', '/metrics?x=1', '//metrics', '/METRICS', '/nonexistent']) {
    const res = await get(url);
    t.equal(res.statusCode, 401, `${url} without credentials: 401`);
    t.match(
      res.headers['www-authenticate'],
      /Basic realm="pgvigil".*Bearer realm="pgvigil"/,
      'challenge names both schemes',
    );
  }
  const denied: [string, string][] = [
    ['wrong token', 'Bearer tok-3f9a1c7e5b2d4a69'],
    ['token prefix', `Bearer ${TOKEN.slice(0, -1)}`],
    ['token plus a character', `Bearer ${TOKEN}x`],
    ['huge token', `Bearer ${'x'.repeat(20_000)}`],
    ['empty bearer', 'Bearer '],
    ['token as basic', `Basic ${TOKEN}`],
    ['wrong password', basic('prometheus', 'pässword with space')],
    ['wrong user', basic('prometheus2', 'pässword with spaces')],
    ['no colon', `Basic ${Buffer.from('prometheus').toString('base64')}`],
    ['garbage base64', 'Basic %%%%'],
    ['unknown scheme', `Digest ${TOKEN}`],
    ['no scheme', TOKEN],
  ];
  for (const [what, header] of denied) {
    const res = await get('/metrics', header);
    t.equal(res.statusCode, 401, `${what}: 401`);
    t.notMatch(res.body, /tok-|pässword/, 'the secret is not echoed');
  }
  t.equal(
    (await get('/metrics', `Bearer ${TOKEN}`)).statusCode,
    200,
    'right token (read from *_FILE, newline stripped)',
  );
  t.equal((await get('/metrics', `bearer   ${TOKEN}`)).statusCode, 200, 'scheme is case-insensitive');
  t.equal(
    (await get('/metrics', basic('prometheus', 'pässword with spaces'))).statusCode,
    200,
    'right basic credentials (UTF-8)',
  );
  t.not((await get('/api/statements', `Bearer ${TOKEN}`)).statusCode, 401, '/api/* accepts the token');

  for (const url of ['/healthz', '/readyz', '/primary', '/replica']) {
    t.not((await get(url)).statusCode, 401, `${url} stays open for probes`);
  }
  t.equal((await get('/')).statusCode, 401, 'the status page shows statements: credentials needed');
  t.equal((await get('/api/locks')).statusCode, 401, 'so does /api/locks');
  t.equal((await get('/', `Bearer ${TOKEN}`)).statusCode, 200, 'the status page with the token');
  t.notMatch(exporter.logs(), /tok-3f9a|pässword/, 'no secret in the log');
});

t.test('auth is off unless configured', async (t) => {
  const exporter = await startPgvigil(t, NOWHERE);
  t.equal((await exporter.pgvigil.app.inject({ method: 'GET', url: '/metrics' })).statusCode, 200);
});

t.test('status page security headers', async (t) => {
  const exporter = await startPgvigil(t, NOWHERE);
  const res = await exporter.pgvigil.app.inject({ method: 'GET', url: '/' });
  t.equal(res.statusCode, 200);
  t.match(res.headers['content-security-policy'], /default-src 'none'/);
  t.equal(res.headers['x-content-type-options'], 'nosniff');
  t.equal(res.headers['x-frame-options'], 'DENY');
  t.equal(res.headers['referrer-policy'], 'no-referrer');
  t.match(res.headers['content-type'], /text\/html; charset=utf-8/);
});
