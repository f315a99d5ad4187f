import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bucketBounds, loadQueryClasses } from 'pgvigil-pool';
import t from 'tap';
import { parseMetrics } from '../helpers/metrics.js';
import { testPostgres } from '../helpers/postgres.js';

// What an application gets from npm: `npm pack` of the workspace package (its prepack builds
// it), installed into a scratch project with pg and prom-client (from the npm cache the
// repository's own install filled), then a plain JavaScript app that runs known queries against
// a real PostgreSQL and prints its registry. The per-class histograms must be exactly what the
// queries were: counts per class, and each pg_sleep in its bucket whenever the app's own wall
// clock agrees on that bucket.

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLASSES_FILE = join(root, 'deploy', 'examples', 'query-classes.yaml');
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { version?: string }>;
};
const locked = (name: string) => lock.packages[`node_modules/${name}`]!.version!;

// The scratch application: every class of the demo file, some with a known sleep.
const APP = `
import pg from 'pg';
import client from 'prom-client';
import { instrumentPool } from 'pgvigil-pool';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 2, application_name: 'scratch-app' });
const registry = new client.Registry();
const slow = [];
instrumentPool(pool, {
  registry,
  name: 'main',
  classesFile: 'query-classes.yaml',
  logger: { warn: (fields) => slow.push(fields) },
});
const runs = [];
async function run(cls, sleep, text, values) {
  const started = performance.now();
  await pool.query(text, values);
  runs.push({ cls, sleep, wall: (performance.now() - started) / 1000 });
}
await run('other', 0, \`CREATE TABLE users (id int PRIMARY KEY, username text, email text,
                                     navigation_progress jsonb DEFAULT '{}');
                  CREATE TABLE workshop_step_data (user_id int, workshop_id int, step_id int);
                  CREATE TABLE user_assessments (user_id int, score int);
                  INSERT INTO users VALUES (1, 'ada', 'ada@example.com');
                  INSERT INTO workshop_step_data VALUES (1, 1, 1);
                  INSERT INTO user_assessments VALUES (1, 90);\`);
for (let i = 0; i < 3; i++) await run('login', 0, 'SELECT id FROM users WHERE username = $1', ['ada']);
await run('login', 0.06, 'SELECT id, pg_sleep(0.06) FROM users WHERE email = $1', ['ada@example.com']);
await run('workshop', 0.12, 'SELECT step_id, pg_sleep(0.12) FROM workshop_step_data WHERE user_id = $1', [1]);
await run('navigation', 0, "UPDATE users SET navigation_progress = '{}' WHERE id = $1", [1]);
await run('admin', 0.3, 'SELECT u.id, pg_sleep(0.3) FROM user_assessments a JOIN users u ON u.id = a.user_id', []);
await run('other', 0, 'SELECT count(*) FROM pg_class', []);
await pool.end();
process.stdout.write(JSON.stringify({ metrics: await registry.metrics(), runs, slow }));
`;

t.test('the packed pgvigil-pool in a scratch app: exact per-class histograms from a real PostgreSQL', async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'pgvigil-pool-pack-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));

  const packed = JSON.parse(
    execFileSync('npm', ['pack', '--workspace', 'pgvigil-pool', '--pack-destination', work, '--json'], {
      cwd: root,
      encoding: 'utf8',
    }),
  ) as { filename: string; files: { path: string }[] }[];
  const files = packed[0]!.files.map((f) => f.path);
  for (const f of [
    'package.json',
    'dist/index.js',
    'dist/index.d.ts',
    'dist/classes.js',
    'dist/redact.js',
    'dist/buckets.js',
  ]) {
    t.ok(files.includes(f), `the tarball ships ${f}`);
  }
  t.notOk(
    files.some((f) => f.startsWith('test/') || f.endsWith('tsconfig.json')),
    'no tests or build config in the tarball',
  );

  const app = join(work, 'app');
  execFileSync('mkdir', ['-p', app]);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'scratch-app', private: true, type: 'module' }));
  execFileSync(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
      join(work, packed[0]!.filename),
      `pg@${locked('pg')}`,
      `prom-client@${locked('prom-client')}`,
    ],
    { cwd: app, stdio: 'pipe' },
  );
  const installed = readdirSync(join(app, 'node_modules'));
  for (const serverDep of ['fastify', 'env-schema', 'pino', 'close-with-grace', '@sinclair']) {
    t.notOk(installed.includes(serverDep), `no ${serverDep} in the application`);
  }
  t.ok(existsSync(join(app, 'node_modules', 'pgvigil-pool', 'dist', 'index.js')));
  copyFileSync(CLASSES_FILE, join(app, 'query-classes.yaml'));
  writeFileSync(join(app, 'app.mjs'), APP);

  const postgres = await testPostgres(t);
  // NODE_OPTIONS unset: tap's loader hooks (and its source condition) must not help the app.
  const out = execFileSync('env', ['-u', 'NODE_OPTIONS', process.execPath, 'app.mjs'], {
    cwd: app,
    env: { PATH: process.env.PATH ?? '', DATABASE_URL: postgres.url },
    encoding: 'utf8',
  });
  const { metrics, runs, slow } = JSON.parse(out) as {
    metrics: string;
    runs: { cls: string; sleep: number; wall: number }[];
    slow: object[];
  };
  const m = parseMetrics(metrics);

  const { classes } = loadQueryClasses(CLASSES_FILE);
  const bounds = bucketBounds([...classes.map((c) => c.objectiveSeconds), 0.1]);
  for (const cls of ['login', 'workshop', 'navigation', 'admin', 'other']) {
    const mine = runs.filter((r) => r.cls === cls);
    const labels = { application_name: 'scratch-app', pool: 'main', class: cls };
    t.equal(
      m.value('pgvigil_client_query_duration_seconds_count', labels),
      mine.length,
      `${cls}: ${mine.length} queries`,
    );
    const sum = m.value('pgvigil_client_query_duration_seconds_sum', labels)!;
    const sleeps = mine.reduce((a, r) => a + r.sleep, 0);
    const walls = mine.reduce((a, r) => a + r.wall, 0);
    t.ok(
      sum >= sleeps && sum <= walls,
      `${cls}: sum ${sum.toFixed(4)} s between the sleeps ${sleeps} s and the wall clock ${walls.toFixed(4)} s`,
    );
    // A query's duration lies between its sleep and the app's wall clock around it, so the count
    // at each bound lies between the queries whose wall time is within it and those whose sleep
    // is: equal wherever the two agree, which for these queries is every bound from 5 ms up.
    const got = m.find('pgvigil_client_query_duration_seconds_bucket', labels).map((s) => s.value);
    t.equal(got.length, bounds.length + 1, `${cls}: every bound and +Inf`);
    const lower = [...bounds, Infinity].map((b) => mine.filter((r) => r.wall <= b).length);
    const upper = [...bounds, Infinity].map((b) => mine.filter((r) => r.sleep <= b).length);
    t.ok(
      got.every((n, i) => n >= lower[i]! && n <= upper[i]!),
      `${cls}: buckets ${got.join(',')} within the clocks' brackets`,
    );
    const exact = got.map((_, i) => i).filter((i) => lower[i] === upper[i] && bounds[i] !== undefined);
    t.ok(exact.length > 0, `${cls}: exact at le=${exact.map((i) => bounds[i]).join(',')}`);
  }
  // The slow log: every query that slept past its class objective is in it; on a busy machine a
  // query meant to be fast may be slow too, and then it is in it as well, but only if the app's
  // own clock saw it take longer than the objective.
  const objective = new Map([...classes.map((c) => [c.name, c.objectiveSeconds] as const), ['other', 0.1]]);
  const logged = slow as { class: string; duration_seconds: number; threshold_seconds: number }[];
  const sleptPast = [...new Set(runs.filter((r) => r.sleep > objective.get(r.cls)!).map((r) => r.cls))];
  t.same(sleptPast.sort(), ['admin', 'login', 'workshop'], 'the script sleeps past the objective in three classes');
  for (const cls of sleptPast)
    t.ok(
      logged.some((l) => l.class === cls),
      `slow log: ${cls}, slept past its objective`,
    );
  for (const line of logged) {
    t.ok(
      line.duration_seconds > line.threshold_seconds && line.threshold_seconds === objective.get(line.class),
      `slow log: ${line.class} took ${line.duration_seconds} s, over its objective ${line.threshold_seconds} s`,
    );
    t.ok(
      runs.some((r) => r.cls === line.class && r.wall > objective.get(r.cls)!),
      `slow log: the app's clock saw a ${line.class} query over its objective`,
    );
  }
});
