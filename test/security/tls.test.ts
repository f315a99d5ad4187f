import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startPgvigil } from '../helpers/pgvigil.js';

// HTTPS from PGVIGIL_TLS_CERT_FILE / PGVIGIL_TLS_KEY_FILE, checked with a real TLS client that
// trusts only the test's own certificate.

function selfSigned(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'tls.crt');
  const key = join(dir, 'tls.key');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );
  return { cert, key };
}

function httpsGet(
  port: number,
  path: string,
  ca: Buffer,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, ca, headers }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('serves HTTPS with the configured certificate, auth on top', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pgvigil-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const { cert, key } = selfSigned(dir);
  const exporter = await startPgvigil(
    t,
    'postgres://pgvigil@127.0.0.1:1/postgres',
    { PGVIGIL_TLS_CERT_FILE: cert, PGVIGIL_TLS_KEY_FILE: key, PGVIGIL_AUTH_TOKEN: 'a-long-enough-token-42' },
    { listen: true },
  );
  const origin = exporter.pgvigil.app.listeningOrigin;
  t.match(origin, /^https:\/\//, 'listening origin is https');
  const port = Number(new URL(origin).port);
  const ca = readFileSync(cert);

  t.equal((await httpsGet(port, '/healthz', ca)).status, 200, '/healthz over TLS, verified against the certificate');
  t.equal((await httpsGet(port, '/metrics', ca)).status, 401, '/metrics over TLS still needs the token');
  const ok = await httpsGet(port, '/metrics', ca, { authorization: 'Bearer a-long-enough-token-42' });
  t.equal(ok.status, 200);
  t.match(ok.body, /pgvigil_build_info/);
  await t.rejects(fetch(`http://127.0.0.1:${port}/healthz`), 'plain HTTP is not served on the TLS port');
});
