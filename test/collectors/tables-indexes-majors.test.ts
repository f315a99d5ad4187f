import t from 'tap';
import { testMajors } from '../helpers/majors.js';
import type { ParsedMetrics } from '../helpers/metrics.js';
import { eventually, startPgvigil } from '../helpers/pgvigil.js';
import { testPostgres } from '../helpers/postgres.js';

// The SQL of the tables, indexes and index_health collectors on the oldest and newest majors
// (and 16, where last_idx_scan appears), as a role with nothing but pg_monitor.
// The full version matrix lives elsewhere; this proves the queries parse and mean the same.

const COLLECTORS = ['tables', 'indexes', 'index_health'];

for (const major of testMajors([13, 16, 18])) {
  t.test(`PostgreSQL ${major}`, async (t) => {
    const pg = await testPostgres(t, { major, settings: { autovacuum: 'off' } });
    t.equal(pg.major, major);
    await pg.sql(`CREATE ROLE watcher LOGIN PASSWORD 'w' IN ROLE pg_monitor`);
    await pg.sql(`CREATE TABLE acct (id int PRIMARY KEY, owner text, n int)`);
    await pg.sql(`INSERT INTO acct SELECT g, 'o' || g, g FROM generate_series(1, 2000) g`);
    await pg.sql(`CREATE INDEX acct_owner ON acct (owner); CREATE INDEX acct_owner2 ON acct (owner);
                  CREATE INDEX acct_n ON acct (n)`);
    await pg.sql(`INSERT INTO acct VALUES (2001, 'o1', 1)`);
    await t.rejects(pg.sql(`CREATE UNIQUE INDEX CONCURRENTLY acct_owner_uniq ON acct (owner)`));
    await pg.sql('ANALYZE');
    const c = await pg.client();
    await c.query('SET enable_seqscan = off; SET enable_bitmapscan = off');
    await c.query('SELECT * FROM acct WHERE n = 7');
    await c.end();

    await pg.sql(`CREATE INDEX acct_expr ON acct (lower(owner)) WHERE n > 0;
                  CREATE INDEX acct_expr2 ON acct (lower(owner)) WHERE n > 0;
                  CREATE INDEX acct_expr3 ON acct (lower(owner)) WHERE n > 1`);
    const exporter = await startPgvigil(t, pg.urlFor('postgres', 'watcher', 'w'), {
      PGVIGIL_UNUSED_INDEX_AGE_SECONDS: '5',
      PGVIGIL_LOCK_TIMEOUT_SECONDS: '10',
      PGVIGIL_STATEMENT_TIMEOUT_SECONDS: '12',
      PGVIGIL_COLLECTOR_TIMEOUT_SECONDS: '15',
    });
    const L = { datname: 'postgres', relname: 'acct' };
    const n = { ...L, indexrelname: 'acct_n' };
    let m: ParsedMetrics = await exporter.poll(...COLLECTORS);
    await eventually(
      async () => {
        m = await exporter.poll(...COLLECTORS);
        return m.value('pg_stat_user_indexes_idx_scan_total', n) === 1;
      },
      15_000,
      'index scan counted',
    );
    for (const collector of COLLECTORS)
      t.equal(m.value('pgvigil_collector_success', { collector }), 1, `${collector} succeeds`);

    t.equal(m.value('pg_stat_user_tables_n_live_tup', L), 2001);
    const [sizes] = await pg.sql<{ rel: number; total: number; idx: number }>(
      `SELECT pg_relation_size('acct')::float8 AS rel, pg_total_relation_size('acct')::float8 AS total,
              pg_relation_size('acct_n')::float8 AS idx`,
    );
    t.equal(m.value('pg_stat_user_tables_table_size_bytes', L), sizes!.rel);
    t.equal(m.value('pg_stat_user_tables_total_size_bytes', L), sizes!.total);
    t.equal(m.value('pg_stat_user_indexes_size_bytes', n), sizes!.idx);
    t.ok(m.value('pg_stat_user_tables_xid_age', L)! > 0);
    t.equal(
      m.find('pg_stat_user_tables_bloat_estimate_bytes', L).length,
      0,
      'pg_monitor cannot read pg_stats of acct: no estimate',
    );
    t.equal(
      m.find('pg_index_invalid_size_bytes', { indexrelname: 'acct_owner_uniq' }).length,
      1,
      'invalid index found',
    );
    t.equal(
      m.value('pg_index_duplicate_size_bytes', { indexrelname: 'acct_owner2', duplicate_of: 'acct_owner' }),
      sizes!.idx,
    );
    t.equal(m.find('pg_index_unused_size_bytes', { indexrelname: 'acct_owner' }).length, 1, 'never scanned: unused');
    t.same(
      m
        .find('pg_index_duplicate_size_bytes', { relname: 'acct' })
        .map((s) => s.labels.indexrelname)
        .sort(),
      ['acct_expr2', 'acct_owner2'],
      'same expression and predicate: duplicate; another predicate: not',
    );

    // None of the three collectors waits behind an ACCESS EXCLUSIVE lock (a wait would last 10 s).
    const holder = await pg.client();
    await holder.query('BEGIN; LOCK TABLE acct IN ACCESS EXCLUSIVE MODE');
    const started = Date.now();
    const locked = await exporter.poll(...COLLECTORS);
    t.ok(Date.now() - started < 5000, `polls under the lock took ${Date.now() - started} ms`);
    for (const collector of COLLECTORS)
      t.equal(locked.value('pgvigil_collector_success', { collector }), 1, `${collector} under the lock`);
    t.equal(locked.find('pg_index_duplicate_size_bytes', { relname: 'acct' }).length, 2, 'findings under the lock');
    await holder.query('ROLLBACK');

    const age = m.value('pg_stat_user_indexes_last_idx_scan_age_seconds', n);
    if (major < 16) {
      t.equal(age, undefined, 'no last_idx_scan before 16');
      t.equal(
        m.find('pg_index_unused_size_bytes', { indexrelname: 'acct_n' }).length,
        0,
        'scanned once: used, whenever',
      );
      return;
    }
    t.ok(age !== undefined && age >= 0, `last_idx_scan age ${age}`);
    // index_health and indexes ran at slightly different moments of one poll: near the 5 s line
    // the two may fall on either side of it, so only an age clear of it says which to expect.
    if (Math.abs(age! - 5) > 1) {
      const unused = m.find('pg_index_unused_size_bytes', { indexrelname: 'acct_n' }).length;
      t.equal(unused, age! > 5 ? 1 : 0, 'unused iff older than 5 s');
    }
    await eventually(
      async () => {
        m = await exporter.poll('index_health');
        return m.find('pg_index_unused_size_bytes', { indexrelname: 'acct_n' }).length === 1;
      },
      20_000,
      'acct_n unused once its last scan is older than 5 s',
    );
  });
}
