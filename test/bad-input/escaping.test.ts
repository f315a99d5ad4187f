import { spawnSync } from 'node:child_process';
import t from 'tap';
import { parseMetrics } from '../helpers/metrics.js';
import { startPgvigil } from '../helpers/pgvigil.js';
import { testPostgres } from '../helpers/postgres.js';

// Names that stress the exposition format: quotes, backslashes, newlines, spaces, unicode, in
// database, table, index and application names. They must come out escaped so that a strict
// parser reads back exactly the original, and promtool must accept the whole live /metrics.

const NAMES = [
  'we"ird',
  'back\\slash',
  'new\nline',
  'with space',
  'ünïcødé ✓',
  'elephant 🐘',
  'trailing\\',
  '{brace}="x"',
];
const quoteIdent = (s: string) => `"${s.replace(/"/g, '""')}"`;

t.test('hostile object names are escaped and parse back exactly', async (t) => {
  const pg = await testPostgres(t);
  const db = 'odd "db" \\ ✓\nname';
  await pg.sql(`CREATE DATABASE ${quoteIdent(db)}`);
  for (const name of NAMES) {
    await pg.sql(`CREATE TABLE ${quoteIdent(name)} (id int PRIMARY KEY, v text)`, [], db);
    await pg.sql(`CREATE INDEX ${quoteIdent(`${name} idx`)} ON ${quoteIdent(name)} (v)`, [], db);
    await pg.sql(`INSERT INTO ${quoteIdent(name)} SELECT g, g::text FROM generate_series(1, 10) g`, [], db);
  }
  // application_name keeps printable ASCII only (PostgreSQL turns the rest into '?').
  const appName = 'app "quoted" \\ back {x="y"}';
  await pg.client(db, { application_name: appName });

  const exporter = await startPgvigil(t, pg.url);
  const m = await exporter.poll();
  const text = await exporter.text();

  const datnames = new Set(m.samples.map((s) => s.labels.datname).filter((d) => d !== undefined));
  t.ok(datnames.has(db), 'database name with quote, backslash, newline and unicode reads back exactly');
  t.ok(
    m.find('pg_stat_activity_connections', { application_name: appName, datname: db }).length > 0,
    'application_name reads back exactly',
  );
  const relnames = new Set(
    m.samples
      .filter((s) => s.labels.datname === db)
      .map((s) => s.labels.relname)
      .filter(Boolean),
  );
  const indexnames = new Set(
    m.samples
      .filter((s) => s.labels.datname === db)
      .map((s) => s.labels.indexrelname)
      .filter(Boolean),
  );
  for (const name of NAMES) {
    t.ok(relnames.has(name), `table ${JSON.stringify(name)} reads back exactly`);
    t.ok(indexnames.has(`${name} idx`), `index ${JSON.stringify(`${name} idx`)} reads back exactly`);
  }
  t.notMatch(text, /^[^#\n].*\{[^}\n]*$/m, 'no sample line is broken by a raw newline');

  const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  const promtoolOutput = (promtool.stdout + promtool.stderr).trim().slice(0, 2000);
  t.comment(`promtool on ${text.split('\n').length} lines: exit ${promtool.status} ${promtoolOutput}`);
  t.equal(promtool.status, 0, 'promtool check metrics is clean on the whole live /metrics');

  const om = await exporter.pgvigil.app.inject({
    method: 'GET',
    url: '/metrics',
    headers: { accept: 'application/openmetrics-text; version=1.0.0' },
  });
  t.match(om.body, /# EOF\n$/, 'OpenMetrics output ends with # EOF');
  const reparsed = parseMetrics(om.body);
  t.ok(
    reparsed.find('pg_stat_activity_connections', { application_name: appName }).length > 0,
    'OpenMetrics output parses back too',
  );
});
