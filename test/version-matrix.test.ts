import { spawnSync } from 'node:child_process';
import t, { type Test } from 'tap';
import { availableMajors } from '../src/dev/local-cluster.js';
import {
  GOLDEN_MAJORS,
  type MajorGolden,
  majorGoldenPath,
  readMajorGolden,
  writeMajorGolden,
} from './helpers/golden-majors.js';
import { testMajors } from './helpers/majors.js';
import type { ParsedMetrics } from './helpers/metrics.js';
import { startPgvigil } from './helpers/pgvigil.js';
import { testPostgres } from './helpers/postgres.js';

// Every collector on every major from 13 to 18 against that major's golden file
// (test/golden/pg<major>.json): the collectors that run there all succeed, the others are off,
// and the families, their types and label names are the file's, promtool-clean. Plus a 17 server
// still on pg_stat_statements 1.10 (the extension's version, not the server's, decides its
// columns): every family of 17. Majors run in parallel. PGVIGIL_TEST_MAJORS limits the majors;
// `npm run golden` (UPDATE_GOLDEN=1) rewrites the files from what the servers really emit.

const UPDATE = process.env.UPDATE_GOLDEN === '1';

interface MatrixRun {
  readonly golden: MajorGolden;
  readonly text: string;
}

function collectorStates(m: ParsedMetrics): Record<string, 'runs' | 'off'> {
  return Object.fromEntries(
    m.find('pgvigil_collector_enabled').map((s) => [s.labels.collector!, s.value === 1 ? 'runs' : 'off'] as const),
  );
}

async function runMajor(t: Test, major: number, extensionVersion?: string): Promise<MatrixRun> {
  const pg = await testPostgres(t, { major });
  await pg.sql('CREATE TABLE orders (id int primary key, customer int, total numeric)');
  await pg.sql('CREATE INDEX orders_customer ON orders (customer)');
  await pg.sql('INSERT INTO orders SELECT g, g % 100, g FROM generate_series(1, 2000) g');
  await pg.sql('ANALYZE orders');
  const version = extensionVersion === undefined ? '' : ` VERSION '${extensionVersion}'`;
  await pg.sql(`CREATE EXTENSION pg_stat_statements${version}`);
  const [ext] = await pg.sql<{ extversion: string }>(
    `SELECT extversion FROM pg_extension WHERE extname = 'pg_stat_statements'`,
  );
  // Generous timeouts: this asserts compatibility, and CI machines running six servers are slow.
  const exporter = await startPgvigil(t, pg.url, {
    PGVIGIL_DATA_VOLUME_PATH: pg.cluster!.dataDir,
    PGVIGIL_STATEMENT_TIMEOUT_SECONDS: '20',
    PGVIGIL_COLLECTOR_TIMEOUT_SECONDS: '30',
  });
  await exporter.poll();
  await pg.sql('SELECT count(*) FROM orders WHERE customer = 7');
  const m = await exporter.poll();
  t.comment(`PostgreSQL ${major}, pg_stat_statements ${ext?.extversion}`);

  const collectors = collectorStates(m);
  for (const [collector, state] of Object.entries(collectors)) {
    if (state === 'off') continue;
    if (m.value('pgvigil_collector_success', { collector }) === 1) {
      t.pass(`${collector} on ${major}`);
      continue;
    }
    const failure = exporter
      .logs()
      .split('\n')
      .find((l) => l.includes('"collector failed"') && l.includes(`"collector":"${collector}"`));
    t.fail(`${collector} fails on ${major}: ${failure ?? 'no log line'}`);
  }
  t.equal(m.value('pgvigil_duplicate_series_dropped_total'), 0, 'no duplicate series');

  const labels = new Map<string, Set<string>>([...m.types.keys()].map((name) => [name, new Set<string>()]));
  // pgvigil's own metrics declare their label names: a family without samples yet (no overlap,
  // no error) still has them. Other families' labels are the ones their samples carry.
  for (const metric of exporter.pgvigil.metrics.registry.getMetricsAsArray()) {
    const declared = metric as unknown as { name: string; labelNames?: string[] };
    for (const l of declared.labelNames ?? []) labels.get(declared.name)?.add(l);
  }
  for (const sample of m.samples) {
    const family = labels.get(sample.name) ?? labels.get(sample.name.replace(/_(bucket|sum|count)$/, ''));
    for (const l of Object.keys(sample.labels)) if (l !== 'le') family?.add(l);
  }
  const families = [...m.types.entries()]
    .map(([name, type]) => ({ name, type, labels: [...(labels.get(name) ?? [])].sort() }))
    .sort((a, b) => a.name.localeCompare(b.name));
  return { golden: { major, collectors, families }, text: await exporter.text() };
}

/** The run against its golden file: the same collectors on and off, families and types; no stray label. */
function checkAgainstGolden(t: Test, run: MatrixRun): void {
  const { major } = run.golden;
  const golden = readMajorGolden(major);
  if (golden === undefined) {
    t.fail(`${majorGoldenPath(major)} missing: npm run golden writes it`);
    return;
  }
  t.same(run.golden.collectors, golden.collectors, `collectors that run on ${major} (npm run golden to refresh)`);
  const strip = (f: { name: string; type: string }) => ({ name: f.name, type: f.type });
  t.same(run.golden.families.map(strip), golden.families.map(strip), `family names and types on ${major}`);
  for (const f of run.golden.families) {
    const g = golden.families.find((x) => x.name === f.name);
    const stray = f.labels.filter((l) => !g?.labels.includes(l));
    t.same(stray, [], `${f.name} on ${major}: no label outside the golden file`);
  }
}

function promtoolClean(t: Test, text: string, what: string): void {
  const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (promtool.error !== undefined) {
    t.ok(true, `promtool check metrics (${what})`, { skip: 'promtool not installed (apt-get install prometheus)' });
    return;
  }
  t.equal(`${promtool.stdout}${promtool.stderr}`, '', `promtool check metrics prints nothing (${what})`);
  t.equal(promtool.status, 0);
}

t.jobs = 3;
const majors = testMajors(GOLDEN_MAJORS);
t.test('binaries for every major tested', async (t) => {
  t.same(
    majors.filter((m) => !availableMajors().includes(m)),
    [],
    `PostgreSQL ${majors.join(', ')} installed`,
  );
  t.same(
    majors.filter((m) => !(GOLDEN_MAJORS as readonly number[]).includes(m)),
    [],
    'each has a golden file',
  );
});

const runs = new Map<number, MatrixRun>();
const tests = majors
  .filter((major) => availableMajors().includes(major))
  .map((major) =>
    t.test(`PostgreSQL ${major}`, { buffered: true }, async (t) => {
      const run = await runMajor(t, major);
      runs.set(major, run);
      if (UPDATE && !t.passing()) {
        t.fail(`${majorGoldenPath(major)} not written: this run failed`);
      } else if (UPDATE) {
        writeMajorGolden(run.golden);
        t.pass(`${majorGoldenPath(major)} written: ${run.golden.families.length} families`);
      } else {
        checkAgainstGolden(t, run);
      }
      promtoolClean(t, run.text, `PostgreSQL ${major}`);
    }),
  );

if (majors.includes(17) && availableMajors().includes(17)) {
  const majorTests = [...tests];
  tests.push(
    t.test('PostgreSQL 17 with pg_stat_statements 1.10', { buffered: true }, async (t) => {
      const old = await runMajor(t, 17, '1.10');
      // Against the file, or against this run's 17 while the file is being rewritten.
      await Promise.all(majorTests);
      const on17 = UPDATE ? runs.get(17)?.golden : readMajorGolden(17);
      const seen = new Set(old.golden.families.map((f) => f.name));
      const missing = on17?.families.map((f) => f.name).filter((n) => !seen.has(n));
      t.same(missing, [], '17 with pg_stat_statements 1.10 exports every family of 17');
      t.same(old.golden.collectors, on17?.collectors, 'and runs the same collectors');
    }),
  );
}
await Promise.all(tests);
