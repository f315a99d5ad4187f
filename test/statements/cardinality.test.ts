import t from 'tap';
import { startPgvigil } from '../helpers/pgvigil.js';
import { testPostgres } from '../helpers/postgres.js';

// 3000 distinct statements (60 tables x 50 columns) in database bulk: the series stay under the
// cap, and the top N plus queryid="other" add up to what the view holds for that database.

const STATEMENT_FAMILIES = [
  'pg_stat_statements_calls_total',
  'pg_stat_statements_seconds_total',
  'pg_stat_statements_rows_total',
  'pg_stat_statements_shared_blks_hit_total',
  'pg_stat_statements_shared_blks_read_total',
  'pg_stat_statements_temp_blks_written_total',
  'pg_stat_statements_block_read_seconds_total',
  'pg_stat_statements_block_write_seconds_total',
  'pg_stat_statements_wal_bytes_total',
  'pg_stat_statements_query_info',
];

t.test('3000 distinct statements: capped series, top N + other reconcile with the view', async (t) => {
  const pg = await testPostgres(t);
  await pg.sql('CREATE EXTENSION pg_stat_statements');
  await pg.sql('CREATE DATABASE bulk');
  const columns = Array.from({ length: 50 }, (_, j) => `c${j} int`).join(', ');
  await pg.sql(Array.from({ length: 60 }, (_, k) => `CREATE TABLE t${k} (${columns});`).join('\n'), [], 'bulk');
  await pg.sql('SELECT pg_stat_statements_reset()');
  const exporter = await startPgvigil(t, pg.url, {
    PGVIGIL_STATEMENTS_MAX_SERIES: '300',
    PGVIGIL_STATEMENTS_TOP_N: '50',
  });
  await exporter.poll('statements');

  const bulk = await pg.client('bulk');
  for (let k = 0; k < 60; k++) {
    await bulk.query(Array.from({ length: 50 }, (_, j) => `SELECT c${j} FROM t${k}`).join(';\n'));
  }
  const started = Date.now();
  const m = await exporter.poll('statements');
  t.comment(`poll with 3000 new entries (texts fetched, classified): ${Date.now() - started} ms`);
  const [view] = await pg.sql<{ entries: number; calls: number; seconds: number; rows: number; hit: number }>(
    `SELECT count(*)::float8 AS entries, sum(calls)::float8 AS calls, sum(total_exec_time / 1000)::float8 AS seconds,
            sum(rows)::float8 AS rows, sum(shared_blks_hit)::float8 AS hit
     FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = 'bulk'`,
  );
  t.ok(view!.entries >= 3000, `the view holds ${view!.entries} entries for bulk`);

  const series = STATEMENT_FAMILIES.reduce((n, f) => n + m.find(f).length, 0);
  t.ok(series <= 300, `statement series ${series} <= cap 300`);
  const textCacheBytes = m.value('pgvigil_statements_text_cache_bytes');
  t.comment(
    `series ${series}, folded ${m.value('pgvigil_statements_folded_entries')}, text cache ${textCacheBytes} bytes`,
  );
  t.ok(m.find('pg_stat_statements_query_info').length <= 50, 'at most top N info series');
  t.equal(
    m.find('pg_stat_statements_calls_total', { queryid: 'other', datname: 'bulk' }).length,
    1,
    'one other series for bulk',
  );
  t.equal(m.sum('pg_stat_statements_calls_total', { datname: 'bulk' }), view!.calls, 'calls: top N + other = view');
  t.equal(m.sum('pg_stat_statements_rows_total', { datname: 'bulk' }), view!.rows, 'rows: top N + other = view');
  t.equal(
    m.sum('pg_stat_statements_shared_blks_hit_total', { datname: 'bulk' }),
    view!.hit,
    'blocks hit: top N + other = view',
  );
  t.ok(
    Math.abs(m.sum('pg_stat_statements_seconds_total', { datname: 'bulk' }) - view!.seconds) < 1e-6,
    'time: top N + other = view',
  );
  t.ok(
    m.value('pgvigil_statements_folded_entries')! >= 3000 - 50,
    `folded ${m.value('pgvigil_statements_folded_entries')}`,
  );
  t.equal(
    m.value('pg_statement_duration_seconds_count', { datname: 'bulk' }),
    view!.calls,
    'every call in the histogram',
  );

  // A poll without bulk activity: pgvigil's own statements may displace a member or two (they
  // ran since), but the top N does not reshuffle.
  const members = new Set(m.find('pg_stat_statements_query_info').map((s) => s.labels.queryid));
  const quietStart = Date.now();
  const again = await exporter.poll('statements');
  t.comment(`steady poll over ${view!.entries} entries: ${Date.now() - quietStart} ms`);
  const changed = again.find('pg_stat_statements_query_info').filter((s) => !members.has(s.labels.queryid)).length;
  t.ok(changed <= 3, `members replaced on a quiet poll: ${changed}`);
});
