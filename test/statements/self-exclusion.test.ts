import t from 'tap';
import type { ParsedMetrics } from '../helpers/metrics.js';
import { createMonitoringRole } from '../helpers/monitoring-role.js';
import { startPgvigil } from '../helpers/pgvigil.js';
import { testPostgres } from '../helpers/postgres.js';

// pgvigil leaves its own statements out of the statement families and the slow log. Ground truth:
// pg_stat_statements itself. In database app only the application role and pgvigil (tables and
// indexes) run statements; the test's own checks run in database postgres.

const pg = await testPostgres(t);
await pg.sql('CREATE EXTENSION pg_stat_statements');
await pg.sql('CREATE DATABASE app');
await pg.sql("CREATE ROLE web LOGIN PASSWORD 'web'");
await pg.sql('CREATE TABLE items (id int PRIMARY KEY, note text); GRANT SELECT ON items TO web', [], 'app');
await createMonitoringRole(pg, 'watcher', 'watcher-pw');
const web = await pg.client('app', { connectionString: pg.urlFor('app', 'web', 'web') });
for (let i = 0; i < 20; i++) await web.query('SELECT note FROM items WHERE id = $1', [i]);
for (let i = 0; i < 5; i++) await web.query('SELECT count(*) FROM items');

/** Calls in database app per pg_stat_statements, all roles or all but watcher. */
async function truth(): Promise<{ all: number; others: number }> {
  const [row] = await pg.sql<{ all: number; others: number }>(
    `SELECT coalesce(sum(s.calls), 0)::float8 AS all,
            coalesce(sum(s.calls) FILTER (WHERE r.rolname IS DISTINCT FROM 'watcher'), 0)::float8 AS others
     FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid LEFT JOIN pg_roles r ON r.oid = s.userid
     WHERE d.datname = 'app'`,
  );
  return row!;
}

/** Sum of pg_stat_statements_calls_total over database app: top N plus the `other` series. */
const calls = (m: ParsedMetrics) => m.samples.filter((s) => s.name === 'pg_stat_statements_calls_total');
const exportedCalls = (m: ParsedMetrics) =>
  calls(m).reduce((sum, s) => (s.labels.datname === 'app' ? sum + s.value : sum), 0);

const slowUsers = (logs: string) =>
  logs
    .split('\n')
    .filter((l) => l.includes('"slow statement"'))
    .map((l) => (JSON.parse(l) as { usename?: string }).usename);

for (const includeOwn of [false, true]) {
  t.test(`PGVIGIL_STATEMENTS_INCLUDE_OWN=${includeOwn}`, async (t) => {
    await pg.sql('SELECT pg_stat_statements_reset()');
    const exporter = await startPgvigil(t, pg.urlFor('postgres', 'watcher', 'watcher-pw'), {
      PGVIGIL_STATEMENTS_INCLUDE_OWN: String(includeOwn),
      PGVIGIL_SLOW_QUERY_THRESHOLD_SECONDS: '0.000001',
      PGVIGIL_STATEMENTS_TOP_N: '500',
    });
    // A first read sets the baseline the slow log measures intervals from; then the application's
    // and pgvigil's statements in database app, then the read that sees them.
    await exporter.poll('tables', 'indexes');
    await exporter.poll('statements');
    for (let i = 0; i < 7; i++) await web.query('SELECT note FROM items WHERE id = $1', [i]);
    await exporter.poll('tables', 'indexes');
    const m = await exporter.poll('statements');
    const { all, others } = await truth();
    t.ok(all > others, `pgvigil's own statements are in pg_stat_statements (${all - others} calls)`);
    t.equal(exportedCalls(m), includeOwn ? all : others, 'calls exported for database app, top N plus other');
    const users = new Set(calls(m).map((s) => s.labels.usename));
    t.equal(users.has('watcher'), includeOwn, 'a top-N series of pgvigil itself only when asked');
    t.equal(slowUsers(exporter.logs()).includes('watcher'), includeOwn, 'the slow log likewise');
    t.ok(slowUsers(exporter.logs()).includes('web'), "the application's statements are logged");
    const db = (collector: string) => m.value('pgvigil_collector_db_seconds_total', { collector }) ?? 0;
    t.ok(db('tables') > 0 && db('indexes') > 0 && db('statements') > 0, 'database time reported per collector');
  });
}
