import t from 'tap';
import { startPgvigil } from '../helpers/pgvigil.js';
import { testPostgres } from '../helpers/postgres.js';

// The statements plan (which columns to read) follows the pg_stat_statements version in the
// connection's server facts. An ALTER EXTENSION … UPDATE changes that version under a live
// connection: the very next poll must read the new columns, not fail until the facts are re-read.
// 1.10 → 1.11 on PostgreSQL 17 renames blk_read_time to shared_blk_read_time.

t.test('ALTER EXTENSION pg_stat_statements UPDATE is followed on the next poll', async (t) => {
  const pg = await testPostgres(t, { major: 17 });
  await pg.sql("CREATE EXTENSION pg_stat_statements VERSION '1.10'");
  const exporter = await startPgvigil(t, pg.url);
  let m = await exporter.poll('statements');
  t.equal(m.value('pg_stat_statements_extension_info', { version: '1.10' }), 1, 'planned for 1.10');
  t.equal(m.value('pgvigil_collector_success', { collector: 'statements' }), 1);

  await pg.sql('ALTER EXTENSION pg_stat_statements UPDATE');
  const [{ extversion }] = (await pg.sql<{ extversion: string }>(
    "SELECT extversion FROM pg_extension WHERE extname = 'pg_stat_statements'",
  )) as [{ extversion: string }];
  t.not(extversion, '1.10', `updated to ${extversion}`);

  m = await exporter.poll('statements');
  t.equal(m.value('pgvigil_collector_success', { collector: 'statements' }), 1, 'the next poll succeeds');
  t.equal(m.value('pg_stat_statements_extension_info', { version: extversion }), 1, `planned for ${extversion} now`);
  t.equal(m.find('pg_stat_statements_extension_info').length, 1, 'one version exported');
  t.equal(
    m.sum('pgvigil_collector_errors_total', { collector: 'statements' }),
    0,
    'no failed poll between the update and the new plan',
  );
});
