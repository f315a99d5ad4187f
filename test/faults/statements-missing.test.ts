import t, { type Test } from 'tap';
import { startPgvigil } from '../helpers/pgvigil.js';
import { testPostgres } from '../helpers/postgres.js';

// pg_stat_statements missing in one of its two ways (not preloaded; preloaded but no CREATE
// EXTENSION): the statements collector steps aside with a reason, logged once, never counted
// as an error, and every other collector carries on. Checked for a pg_monitor-less role too,
// which cannot read shared_preload_libraries and must still get the right answer.

const OTHERS = ['activity', 'stat_database'];

async function check(t: Test, url: string, reason: RegExp, polls = 3) {
  const exporter = await startPgvigil(t, url, { PGVIGIL_LOG_LEVEL: 'info' });
  for (let i = 0; i < polls; i++) await exporter.poll('statements', ...OTHERS);
  const m = await exporter.scrape();
  t.equal(
    m.value('pgvigil_collector_enabled', { collector: 'statements' }),
    0,
    'statements collector reports enabled 0',
  );
  t.equal(m.sum('pgvigil_collector_errors_total', { collector: 'statements' }), 0, 'not counted as an error');
  t.equal(m.find('pg_stat_statements_calls_total').length, 0, 'no statement series');
  for (const c of OTHERS) t.equal(m.value('pgvigil_collector_success', { collector: c }), 1, `${c} still collected`);
  t.equal(m.value('pg_up'), 1);
  const lines = exporter
    .logs()
    .split('\n')
    .filter((l) => l.includes('"collector":"statements"') && l.includes('not applicable'));
  t.equal(lines.length, 1, `one log line for ${polls} polls`);
  t.match(lines[0] ?? '', reason, 'the line gives the reason');
}

t.test('not preloaded (extension created anyway)', async (t) => {
  const pg = await testPostgres(t, { statements: false, needsControl: true });
  await pg.sql('CREATE EXTENSION pg_stat_statements');
  await pg.sql('CREATE ROLE plain LOGIN');
  await t.test('as superuser', (t) => check(t, pg.url, /not in shared_preload_libraries/));
  await t.test('as a role without pg_monitor', (t) =>
    check(t, pg.urlFor('postgres', 'plain'), /not in shared_preload_libraries/),
  );
});

t.test('preloaded but not created in the database', async (t) => {
  const pg = await testPostgres(t, { needsControl: true });
  await pg.sql('CREATE ROLE plain LOGIN');
  await t.test('as superuser', (t) => check(t, pg.url, /not created in database postgres.*CREATE EXTENSION/));
  await t.test('as a role without pg_monitor', (t) =>
    check(t, pg.urlFor('postgres', 'plain'), /not created in database postgres/),
  );
  await pg.sql('CREATE EXTENSION pg_stat_statements');
  const exporter = await startPgvigil(t, pg.urlFor('postgres', 'plain'));
  await exporter.poll('statements');
  const m = await exporter.poll('statements');
  t.equal(
    m.value('pgvigil_collector_enabled', { collector: 'statements' }),
    1,
    'after CREATE EXTENSION: applicable, even without pg_monitor',
  );
  t.equal(m.value('pgvigil_collector_success', { collector: 'statements' }), 1, 'and collected');
});
