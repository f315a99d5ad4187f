import { connect } from 'node:net';
import type { LightMyRequestResponse } from 'fastify';
import t, { type Test } from 'tap';
import { startPgvigil } from '../helpers/pgvigil.js';

// Random requests at every route, through inject() (thousands, fast) and through real sockets
// (what only the HTTP parser sees: huge headers, garbage request lines, odd methods). Nothing may
// answer 5xx, crash the process, or leak a stack trace or a path.

const NOWHERE = 'postgres://pgvigil@127.0.0.1:1/postgres';
const ROUTES = ['/', '/metrics', '/healthz', '/readyz', '/primary', '/replica', '/api/statements', '/api/locks'];
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE'] as const;
const ACCEPTS = [
  '*/*',
  'application/openmetrics-text; version=1.0.0',
  'application/openmetrics-text; version=0.0.1',
  'application/openmetrics-text',
  'text/plain;version=0.0.4;q=0.5,*/*;q=0.1',
  'application/json',
  'text/html',
  '',
  ';;;',
  ',,,',
  'q=0',
  'application/openmetrics-text; version=9',
  'text/plain; charset=ebcdic',
  'ÿ',
  'application/openmetrics-text;q=1.0;escaping=allow-utf-8',
  'x'.repeat(4000),
];
const ENCODINGS = ['gzip', 'br', 'deflate', 'gzip;q=0', 'identity', '*', 'gzip, gzip, gzip', 'x'.repeat(2000), ''];
/** Probes answer 503 on purpose while PostgreSQL is unreachable (here: always). */
const PROBES = new Set(['/readyz', '/primary', '/replica']);
const deliberate503 = (status: number, url: string) =>
  status === 503 && PROBES.has(new URL(url, 'http://x').pathname.replace(/^\/\.\./, ''));
const LEAK = /\bat .+:\d+:\d+|node_modules|\/work\/|\/src\/|Error: |stack/;

function rng(seed: number): () => number {
  // mulberry32: a reproducible stream, so a failure names its seed and replays.
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

function randomPath(r: () => number): string {
  const pick = <T>(a: readonly T[]) => a[Math.floor(r() * a.length)]!;
  const base = pick(ROUTES);
  const mutations = [
    () => base,
    () => `${base}/`,
    () => `${base}?${'a=1&'.repeat(Math.floor(r() * 50))}`,
    () => `${base}%00`,
    () => `/..${base}`,
    () => `${base}/../../etc/passwd`,
    () => `/${encodeURIComponent('é✓\u0000')}`,
    () => `${base}%`,
    () => `/${'a'.repeat(Math.floor(r() * 8000))}`,
    () => `${base}#frag`,
    () => `//${base}`,
    () => `/api/${Math.floor(r() * 1e9).toString(36)}`,
    () => base.toUpperCase(),
    () => `${base};jsessionid=1`,
  ];
  return pick(mutations)();
}

async function fuzz(t: Test, env: Record<string, string>, seed: number, n: number): Promise<void> {
  const exporter = await startPgvigil(t, NOWHERE, env);
  const r = rng(seed);
  const pick = <T>(a: readonly T[]) => a[Math.floor(r() * a.length)]!;
  const statuses = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const method = pick(METHODS);
    const url = randomPath(r);
    const headers: Record<string, string> = { accept: pick(ACCEPTS), 'accept-encoding': pick(ENCODINGS) };
    if (r() < 0.3)
      headers.authorization = pick([
        'Bearer x',
        'Basic ???',
        `Bearer ${'z'.repeat(3000)}`,
        'Bearer fuzz-token-0123456789',
        '',
      ]);
    if (r() < 0.2)
      headers['content-type'] = pick(['application/json', 'text/plain', 'multipart/form-data; boundary=x', 'bogus']);
    const payload = r() < 0.2 ? pick(['{', '{"a":1}', 'x'.repeat(5000), '\u0000\u0001']) : undefined;
    let res: LightMyRequestResponse;
    try {
      res = await exporter.pgvigil.app.inject({
        method,
        url,
        headers,
        ...(payload !== undefined && method !== 'GET' && method !== 'HEAD' ? { payload } : {}),
      });
    } catch (err) {
      // inject() itself refuses some requests the HTTP parser would never deliver (e.g. bad URLs).
      if ((err as Error).message.includes('Invalid URL')) continue;
      throw err;
    }
    statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
    if ((res.statusCode >= 500 && !deliberate503(res.statusCode, url)) || LEAK.test(res.body)) {
      t.fail(`seed ${seed} #${i}: ${method} ${url.slice(0, 80)} → ${res.statusCode} ${res.body.slice(0, 200)}`);
    }
  }
  t.comment(`seed ${seed}: ${n} requests, statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
  t.equal(statuses.get(500) ?? 0, 0, 'no 500');
  t.notMatch(exporter.logs(), /"level":(50|60)/, 'nothing logged as error');
  t.equal((await exporter.pgvigil.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'still healthy');
}

t.test('random requests, auth off', (t) => fuzz(t, {}, 1, 3000));
t.test('random requests, auth on', (t) => fuzz(t, { PGVIGIL_AUTH_TOKEN: 'fuzz-token-0123456789' }, 2, 3000));

function raw(port: number, data: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let out = '';
    s.on('data', (d) => (out += d.toString('latin1')));
    s.on('error', () => resolve(out));
    s.on('close', () => resolve(out));
    s.setTimeout(5000, () => s.destroy());
    s.write(data, () => s.end());
  });
}

t.test('what only the socket sees', async (t) => {
  const exporter = await startPgvigil(t, NOWHERE, {}, { listen: true });
  const port = Number(new URL(exporter.pgvigil.app.listeningOrigin).port);
  const cases: [string, string][] = [
    ['64 KB header', `GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(65536)}\r\n\r\n`],
    [
      '2000 headers',
      `GET /metrics HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 2000 }, (_, i) => `X-${i}: y\r\n`).join('')}\r\n`,
    ],
    ['garbage request line', 'GARBAGE\r\n\r\n'],
    ['unknown method', 'PROPFIND /metrics HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['CONNECT', 'CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['lowercase method', 'get /metrics HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['HTTP/0.9', 'GET /metrics\r\n\r\n'],
    ['HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'],
    ['absolute URL', 'GET http://evil.example/metrics HTTP/1.1\r\nHost: evil.example\r\n\r\n'],
    ['NUL in path', 'GET /met\u0000rics HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['bad chunked body', 'POST /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'],
    [
      'both CL and TE',
      'POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    ],
    ['huge Content-Length', 'POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\nabc'],
    ['TRACE with cookie', 'TRACE / HTTP/1.1\r\nHost: x\r\nCookie: secret=1\r\n\r\n'],
    ['OPTIONS *', 'OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n'],
  ];
  for (const [what, request] of cases) {
    const response = await raw(port, request);
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(response)?.[1];
    t.ok(status === undefined || Number(status) < 500, `${what}: ${status ?? 'connection closed'}`);
    t.notMatch(response, LEAK, `${what}: no stack trace or path`);
    t.notMatch(response, /secret=1/, `${what}: request not echoed`);
  }
  const res = await fetch(`http://127.0.0.1:${port}/healthz`);
  t.equal(res.status, 200, 'still serving');
});
