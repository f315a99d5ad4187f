import { EventEmitter } from 'node:events';
import { dirname, join } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { BASE_BOUNDS, type InstrumentablePool, instrumentPool } from 'pgvigil-pool';
import { FastHistogram } from 'pgvigil-pool/fast-histogram';
import client from 'prom-client';
import { LocalCluster } from '../src/dev/local-cluster.js';

// What pgvigil-pool costs an application per query: ns per query with and without the
// instrumentation, side by side in one run, (1) against a fake in-process query function, which
// isolates the wrapper's own cost (class lookup, two clock reads, one histogram observation), and
// (2) against a real PostgreSQL, where the round trip dominates. Plain and instrumented runs
// alternate in rounds and the median round counts, so drift of a shared machine hits both alike.
// Bytes per query: heap growth over a window without garbage collection (checked), so it counts
// what each query allocates. `npm run bench:pool`; --help for options.

const { values: opts } = parseArgs({
  options: {
    'fake-queries': { type: 'string', default: '200000' },
    'real-queries': { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '9' },
    major: { type: 'string', default: '17' },
    'skip-real': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (opts.help) {
  process.stdout.write(
    'npm run bench:pool -- [--fake-queries=200000] [--real-queries=2000] [--rounds=9] [--major=17] [--skip-real]\n',
  );
  process.exit(0);
}

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..');
const CLASSES = join(repoRoot, 'deploy', 'examples', 'query-classes.yaml');
const LOGIN = 'SELECT id, password_hash FROM users WHERE username = $1';
const VALUES = ['user1'];
const log = (line: string) => process.stderr.write(`[bench:pool ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

type Query = (text: string, values: unknown[], cb?: (err: unknown, res?: unknown) => void) => unknown;

interface Row {
  readonly path: string;
  readonly form: string;
  readonly plainNs: number;
  readonly instrumentedNs: number;
  readonly plainBytes: number | undefined;
  readonly instrumentedBytes: number | undefined;
}

// ---- the fake: a client whose query() answers at once, and a pool that hands it out ----

const RESULT = { rowCount: 1, rows: [{ id: 1 }] };

function fakeClient(): { query: Query } {
  return {
    query(_text, _values, cb) {
      if (cb !== undefined) {
        cb(undefined, RESULT);
        return undefined;
      }
      return Promise.resolve(RESULT);
    },
  };
}

class FakePool extends EventEmitter implements InstrumentablePool {
  readonly totalCount = 1;
  readonly idleCount = 1;
  readonly waitingCount = 0;
  readonly options = { max: 1, application_name: 'bench' };
  private readonly c = fakeClient();
  connect(cb?: unknown): unknown {
    if (typeof cb === 'function') return void (cb as (e: undefined, c: unknown) => void)(undefined, this.c);
    return Promise.resolve(this.c);
  }
}

// ---- measuring ----

let gcs = 0;
new PerformanceObserver((list) => (gcs += list.getEntries().length)).observe({ entryTypes: ['gc'] });
const gc = (globalThis as { gc?: () => void }).gc;

/** Heap bytes allocated per call over `n` calls, or undefined when a collection ran in between. */
async function bytesPer(n: number, run: (n: number) => Promise<void>): Promise<number | undefined> {
  if (gc === undefined) return undefined;
  const settled = () => new Promise((r) => setTimeout(r, 50)); // gc entries are delivered asynchronously
  gc();
  await settled();
  const before = gcs;
  const heap = process.memoryUsage().heapUsed;
  await run(n);
  const grown = process.memoryUsage().heapUsed - heap;
  await settled();
  return gcs === before ? grown / n : undefined;
}

async function nsPer(n: number, run: (n: number) => Promise<void>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await run(n);
  return Number(process.hrtime.bigint() - t0) / n;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

/** Alternates plain and instrumented rounds; the median round of each. */
async function sideBySide(
  path: string,
  form: string,
  n: number,
  rounds: number,
  plain: (n: number) => Promise<void>,
  instrumented: (n: number) => Promise<void>,
): Promise<Row> {
  await plain(Math.min(n, 2000)); // warm up both (JIT, connections)
  await instrumented(Math.min(n, 2000));
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < rounds; i++) {
    a.push(await nsPer(n, plain));
    b.push(await nsPer(n, instrumented));
  }
  const window = Math.min(n, 20_000);
  const row: Row = {
    path,
    form,
    plainNs: median(a),
    instrumentedNs: median(b),
    plainBytes: await bytesPer(window, plain),
    instrumentedBytes: await bytesPer(window, instrumented),
  };
  log(`${path} ${form}: plain ${row.plainNs.toFixed(0)} ns, instrumented ${row.instrumentedNs.toFixed(0)} ns`);
  return row;
}

function callbackLoop(query: Query): (n: number) => Promise<void> {
  let done = 0;
  const cb = () => void done++;
  return async (n) => {
    for (let i = 0; i < n; i++) query(LOGIN, VALUES, cb);
  };
}

function promiseLoop(query: Query): (n: number) => Promise<void> {
  return async (n) => {
    for (let i = 0; i < n; i++) await query(LOGIN, VALUES);
  };
}

async function fakeRows(n: number, rounds: number): Promise<Row[]> {
  const plain = fakeClient();
  const pool = new FakePool();
  instrumentPool(pool, { registry: new client.Registry(), name: 'bench', classesFile: CLASSES });
  const timed = (await pool.connect()) as { query: Query };
  const bind =
    (c: { query: Query }): Query =>
    (text, values, cb) =>
      c.query(text, values, cb);
  return [
    await sideBySide('fake (in-process)', 'callback', n, rounds, callbackLoop(bind(plain)), callbackLoop(bind(timed))),
    await sideBySide('fake (in-process)', 'promise', n, rounds, promiseLoop(bind(plain)), promiseLoop(bind(timed))),
  ];
}

async function realRows(n: number, rounds: number, major: number): Promise<Row[]> {
  log(`starting PostgreSQL ${major}`);
  const cluster = await LocalCluster.create({ major });
  try {
    const setup = new pg.Client({ connectionString: cluster.url() });
    await setup.connect();
    await setup.query(`CREATE TABLE users (id int PRIMARY KEY, username text UNIQUE, password_hash text);
                       INSERT INTO users SELECT i, 'user' || i, md5(i::text) FROM generate_series(1, 1000) i;
                       ANALYZE users;`);
    await setup.end();
    const plainPool = new pg.Pool({ connectionString: cluster.url(), max: 1, application_name: 'bench-plain' });
    const timedPool = new pg.Pool({ connectionString: cluster.url(), max: 1, application_name: 'bench-instrumented' });
    instrumentPool(timedPool, { registry: new client.Registry(), name: 'bench', classesFile: CLASSES });
    // Shutting the server down at the end ends connections the pools have just let go of.
    for (const p of [plainPool, timedPool]) p.on('error', () => undefined);
    try {
      const plainClient = await plainPool.connect();
      const timedClient = await timedPool.connect();
      const clientQuery =
        (c: pg.PoolClient): Query =>
        (text, values) =>
          c.query(text, values);
      const rows = [
        await sideBySide(
          'PostgreSQL',
          'client.query promise',
          n,
          rounds,
          promiseLoop(clientQuery(plainClient)),
          promiseLoop(clientQuery(timedClient)),
        ),
      ];
      plainClient.release();
      timedClient.release();
      const poolQuery =
        (p: pg.Pool): Query =>
        (text, values) =>
          p.query(text, values);
      rows.push(
        await sideBySide(
          'PostgreSQL',
          'pool.query promise',
          n,
          rounds,
          promiseLoop(poolQuery(plainPool)),
          promiseLoop(poolQuery(timedPool)),
        ),
      );
      return rows;
    } finally {
      await plainPool.end();
      await timedPool.end();
    }
  } finally {
    await cluster.destroy();
  }
}

function table(rows: Row[]): string {
  const bytes = (b: number | undefined) => (b === undefined ? 'n/a' : b.toFixed(0));
  const lines = [
    '| path | form | plain ns/query | instrumented ns/query | ' +
      'overhead ns/query | plain B/query | instrumented B/query |',
    '|---|---|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.path} | ${r.form} | ${r.plainNs.toFixed(0)} | ` +
        `${r.instrumentedNs.toFixed(0)} | ${(r.instrumentedNs - r.plainNs).toFixed(0)} | ` +
        `${bytes(r.plainBytes)} | ${bytes(r.instrumentedBytes)} |`,
    ),
  ];
  return lines.join('\n');
}

/** Why the query histogram is not prom-client's Histogram: one observation of each, 3 labels. */
async function observationRow(n: number, rounds: number): Promise<Row> {
  const registry = new client.Registry();
  const labels = { application_name: 'bench', pool: 'bench', class: 'login' };
  const promClient = new client.Histogram({
    name: 'h_prom',
    help: 'h',
    labelNames: Object.keys(labels),
    buckets: BASE_BOUNDS,
    registers: [registry],
  });
  const viaLabels = promClient.labels(labels);
  const fast = new FastHistogram('h_fast', 'h', Object.keys(labels), BASE_BOUNDS, registry).recorder(labels);
  const loop = (h: { observe(v: number): void }) => async (k: number) => {
    for (let i = 0; i < k; i++) h.observe(0.003);
  };
  return sideBySide(
    'one observation',
    'prom-client Histogram vs FastHistogram',
    n,
    rounds,
    loop(viaLabels),
    loop(fast),
  );
}

const rounds = Number(opts.rounds);
const rows = [await observationRow(Number(opts['fake-queries']), rounds)];
rows.push(...(await fakeRows(Number(opts['fake-queries']), rounds)));
if (!opts['skip-real']) rows.push(...(await realRows(Number(opts['real-queries']), rounds, Number(opts.major))));
process.stdout.write(
  `\npgvigil-pool overhead, Node ${process.version}, median of ${rounds} alternating rounds\n\n${table(rows)}\n`,
);
if (gc === undefined) process.stdout.write('\n(B/query needs --expose-gc; `npm run bench:pool` passes it)\n');
