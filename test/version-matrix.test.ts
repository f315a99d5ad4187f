import t, { type Test } from 'tap';
import { collectorDefinitions } from '../src/collectors/index.js';
import { availableMajors } from '../src/dev/local-cluster.js';
import { testPostgres } from './helpers/postgres.js';
import { startPgvigil } from './helpers/pgvigil.js';

// Every collector of src/collectors/index.ts on every major from 13 to 18: each applicable
// collector succeeds, and the same family names come out everywhere except those documented as
// major-specific below (17 moved the checkpoint columns to pg_stat_checkpointer, and dashboards
// built on the old names went empty). Plus a 17 server still on pg_stat_statements 1.10: the
// extension's version, not the server's, decides the columns. Majors run in parallel.

const MAJORS = [13, 14, 15, 16, 17, 18];

/** Collectors that are not applicable before a major, and why. */
const NOT_APPLICABLE_BEFORE: Record<string, number> = {
  stat_wal: 14, // pg_stat_wal appeared in 14
  stat_io: 16, // pg_stat_io appeared in 16
};

/** Collectors switched off by configuration here (they read PgBouncer, not PostgreSQL). */
const UNCONFIGURED = new Set(['pgbouncer']);

/** Families that exist only from some major on: their views or columns do not exist before. */
const MAJOR_SPECIFIC: Record<string, number> = {
  ...Object.fromEntries(
    [
      'reads', 'read_bytes', 'read_time_seconds', 'writes', 'write_bytes', 'write_time_seconds', 'writebacks',
      'writeback_time_seconds', 'extends', 'extend_bytes', 'extend_time_seconds', 'hits', 'evictions', 'reuses',
      'fsyncs', 'fsync_time_seconds',
    ].map((n) => [`pg_stat_io_${n}_total`, 16]),
  ),
  ...Object.fromEntries(
    ['records', 'fpi', 'bytes', 'buffers_full', 'write', 'sync', 'write_time_seconds', 'sync_time_seconds'].map((n) => [
      `pg_stat_wal_${n}_total`,
      14,
    ]),
  ),
  // pg_stat_database session statistics (14+), parallel worker counts (18+).
  ...Object.fromEntries(
    ['active_time_seconds', 'idle_in_transaction_time_seconds', 'session_time_seconds', 'sessions', 'sessions_abandoned',
      'sessions_fatal', 'sessions_killed'].map((n) => [`pg_stat_database_${n}_total`, 14]),
  ),
  pg_stat_database_parallel_workers_launched_total: 18,
  pg_stat_database_parallel_workers_to_launch_total: 18,
  pg_settings_reserved_connections: 16, // the reserved_connections setting (16+)
  pg_stat_statements_dealloc_total: 14, // pg_stat_statements_info (extension 1.9, PostgreSQL 14+)
  pg_stat_statements_stats_reset_timestamp_seconds: 14,
};

const familiesByMajor = new Map<number, Set<string>>();

async function runAll(t: Test, major: number, extensionVersion?: string): Promise<Set<string>> {
  const pg = await testPostgres(t, { major });
  await pg.sql('CREATE TABLE orders (id int primary key, customer int, total numeric)');
  await pg.sql('CREATE INDEX orders_customer ON orders (customer)');
  await pg.sql('INSERT INTO orders SELECT g, g % 100, g FROM generate_series(1, 2000) g');
  await pg.sql('ANALYZE orders');
  await pg.sql(`CREATE EXTENSION pg_stat_statements${extensionVersion === undefined ? '' : ` VERSION '${extensionVersion}'`}`);
  const [ext] = await pg.sql<{ extversion: string }>(`SELECT extversion FROM pg_extension WHERE extname = 'pg_stat_statements'`);
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

  for (const def of collectorDefinitions) {
    const enabled = m.value('pgvigil_collector_enabled', { collector: def.name });
    if (UNCONFIGURED.has(def.name)) {
      t.equal(enabled, 0, `${def.name} off by configuration`);
      continue;
    }
    const notBefore = NOT_APPLICABLE_BEFORE[def.name];
    if (notBefore !== undefined && major < notBefore) {
      t.equal(enabled, 0, `${def.name} not applicable on ${major}`);
      continue;
    }
    const success = m.value('pgvigil_collector_success', { collector: def.name });
    if (success !== 1) {
      const failure = exporter.logs().split('\n').find((l) => l.includes('"collector failed"') && l.includes(`"collector":"${def.name}"`));
      t.fail(`${def.name} fails on ${major}: ${failure ?? 'no log line'}`);
    } else {
      t.pass(`${def.name} on ${major}`);
    }
  }
  t.equal(m.value('pgvigil_scrape_duplicates_dropped_total') ?? 0, 0, 'no duplicate series');
  return new Set([...m.types.keys()]);
}

t.jobs = 3;
const majors = MAJORS.filter((m) => availableMajors().includes(m));
const runs = majors.map((major) =>
  t.test(`PostgreSQL ${major}`, { buffered: true }, async (t) => {
    familiesByMajor.set(major, await runAll(t, major));
  }),
);
let statements110: Set<string> | undefined;
runs.push(
  t.test('PostgreSQL 17 with pg_stat_statements 1.10', { buffered: true }, async (t) => {
    statements110 = await runAll(t, 17, '1.10');
  }),
);
await Promise.all(runs);

t.test('the same family names on every major', async (t) => {
  t.same(majors, MAJORS, 'binaries for every supported major');
  const all = new Set([...familiesByMajor.values()].flatMap((s) => [...s]));
  for (const name of [...all].sort()) {
    const missing = majors.filter((major) => !familiesByMajor.get(major)?.has(name));
    const from = MAJOR_SPECIFIC[name];
    const expected = from === undefined ? [] : majors.filter((major) => major < from);
    t.same(missing, expected, `${name}${from === undefined ? '' : ` (from ${from})`}`);
  }
  if (statements110 !== undefined) {
    const on17 = familiesByMajor.get(17) ?? new Set();
    t.same([...on17].filter((n) => !statements110!.has(n)), [], '17 with pg_stat_statements 1.10 exports every family of 17');
  }
});
