import t from 'tap';
import { testMajors } from '../helpers/majors.js';
import type { ParsedMetrics } from '../helpers/metrics.js';
import { createMonitoringRole } from '../helpers/monitoring-role.js';
import { eventually, startPgvigil } from '../helpers/pgvigil.js';
import { testPostgres } from '../helpers/postgres.js';

// The foreign_keys and autovacuum collectors on real servers, as the pg_monitor-only role the
// deploy script creates: an unindexed foreign key is found and indexed ones are not (and
// index_health does not call an index backing one unused); a table past its autovacuum threshold
// (set through its reloptions) is due, with the ratio PostgreSQL's own numbers give; a running
// VACUUM shows its progress.

const COLLECTORS = ['foreign_keys', 'autovacuum', 'index_health'];

for (const major of testMajors([13, 16, 18])) {
  t.test(`PostgreSQL ${major}`, async (t) => {
    // autovacuum off: the test, not a worker, decides when the dead tuples go away.
    const pg = await testPostgres(t, { major, settings: { autovacuum: 'off' } });
    t.equal(pg.major, major);
    await createMonitoringRole(pg, 'watcher', 'w');
    await pg.sql(`CREATE TABLE customers (id int PRIMARY KEY, region int, UNIQUE (id, region));
                  CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers,
                                       cid int, region int,
                                       FOREIGN KEY (cid, region) REFERENCES customers (id, region));
                  CREATE TABLE invoices (id int PRIMARY KEY, customer_id int REFERENCES customers);
                  CREATE INDEX invoices_customer ON invoices (customer_id);
                  CREATE INDEX invoices_id_customer ON invoices (id, customer_id);
                  CREATE TABLE notes (id int, region int, cid int,
                                      FOREIGN KEY (cid, region) REFERENCES customers (id, region));
                  CREATE INDEX notes_both ON notes (region, cid, id);
                  CREATE TABLE partial_ref (id int, customer_id int REFERENCES customers);
                  CREATE INDEX partial_ref_some ON partial_ref (customer_id) WHERE customer_id > 10`);
    await pg.sql(`CREATE TABLE churn (id int, pad text) WITH (autovacuum_vacuum_threshold = 10,
                                                               autovacuum_vacuum_scale_factor = 0)`);
    await pg.sql(`CREATE TABLE calm (id int)`);
    await pg.sql(`INSERT INTO churn SELECT g, 'x' FROM generate_series(1, 200) g;
                  INSERT INTO calm SELECT g FROM generate_series(1, 200) g`);
    await pg.sql('ANALYZE churn; ANALYZE calm');
    await pg.sql('DELETE FROM churn WHERE id <= 60; DELETE FROM calm WHERE id <= 5');

    const exporter = await startPgvigil(t, pg.urlFor('postgres', 'watcher', 'w'));
    const D = { datname: 'postgres' };
    let m: ParsedMetrics = await exporter.poll(...COLLECTORS);
    await eventually(
      async () => {
        m = await exporter.poll(...COLLECTORS);
        return m.value('pg_autovacuum_vacuum_due_ratio', { ...D, relname: 'churn' }) === 6;
      },
      15_000,
      'dead tuples of churn counted',
    );
    for (const c of COLLECTORS) t.equal(m.value('pgvigil_collector_success', { collector: c }), 1, c);

    t.equal(m.value('pg_foreign_keys_unindexed', D), 3, 'orders x2 and partial_ref');
    t.same(
      m
        .find('pg_foreign_keys_unindexed_info', D)
        .map((s) => `${s.labels.relname}(${s.labels.columns})->${s.labels.referenced}`)
        .sort(),
      [
        'orders(cid,region)->public.customers',
        'orders(customer_id)->public.customers',
        'partial_ref(customer_id)->public.customers',
      ],
      'indexed keys (invoices; notes: its index leads with both columns in another order) are not listed',
    );

    t.same(
      m
        .find('pg_index_unused_size_bytes', D)
        .map((s) => s.labels.indexrelname)
        .sort(),
      ['invoices_id_customer', 'partial_ref_some'],
      'never scanned; those backing a foreign key (invoices_customer, notes_both) are not unused candidates',
    );

    // Ground truth from PostgreSQL's own numbers: 60 dead tuples over the reloption threshold 10.
    const [truth] = await pg.sql<{ dead: number; tuples: number; xid: number; mxid: number }>(
      `SELECT n_dead_tup::float8 AS dead, reltuples::float8 AS tuples, age(relfrozenxid)::float8 AS xid,
              mxid_age(relminmxid)::float8 AS mxid
       FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid WHERE s.relname = 'calm'`,
    );
    t.equal(
      m.value('pg_autovacuum_vacuum_due_ratio', { ...D, relname: 'calm' }),
      truth!.dead / (50 + 0.2 * truth!.tuples),
      'calm: 5 dead tuples against the global 50 + 0.2 * reltuples',
    );
    t.equal(m.value('pg_autovacuum_due_tables', { ...D, reason: 'vacuum' }), 1, 'only churn is due');
    t.equal(
      m.value('pg_autovacuum_xid_age_ratio', { ...D, relname: 'calm' }),
      truth!.xid / 200_000_000,
      'xid age against autovacuum_freeze_max_age',
    );
    t.equal(m.value('pg_autovacuum_mxid_age_ratio', { ...D, relname: 'calm' }), truth!.mxid / 400_000_000);
    t.equal(
      m.value('pg_autovacuum_analyze_due_ratio', { ...D, relname: 'churn' }),
      60 / (50 + 0.1 * 200),
      'churn: 60 rows changed against the global 50 + 0.1 * reltuples',
    );

    await pg.sql('VACUUM churn');
    await eventually(
      async () => {
        m = await exporter.poll('autovacuum');
        return m.value('pg_autovacuum_vacuum_due_ratio', { ...D, relname: 'churn' }) === 0;
      },
      15_000,
      'vacuum of churn counted',
    );
    t.equal(m.value('pg_autovacuum_due_tables', { ...D, reason: 'vacuum' }), 0, 'nothing due after VACUUM');
    if (major >= 18) {
      const auto = m.value('pg_autovacuum_table_vacuum_seconds_total', { ...D, relname: 'churn', mode: 'manual' });
      t.ok(auto !== undefined && auto > 0, '18: time spent in the manual VACUUM');
    } else {
      t.equal(m.find('pg_autovacuum_table_vacuum_seconds_total').length, 0, 'no vacuum times before 18');
    }

    // A VACUUM slowed to a crawl by its cost delay stays in pg_stat_progress_vacuum long enough to see.
    await pg.sql(`CREATE TABLE slow AS SELECT g AS id FROM generate_series(1, 200000) g; DELETE FROM slow`);
    const vacuumer = await pg.client();
    await vacuumer.query('SET vacuum_cost_delay = 100; SET vacuum_cost_limit = 1');
    const [{ pid }] = (await vacuumer.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows as [
      { pid: number },
    ];
    const running = vacuumer.query('VACUUM slow').catch(() => undefined);
    // Until the heap scan starts (phase "initializing") heap_blks_total is 0 and the ratio has no
    // sample: wait for the scan, not only for the vacuum to be listed.
    await eventually(
      async () => {
        m = await exporter.poll('autovacuum');
        return (
          m.find('pg_stat_progress_vacuum_running_seconds', { ...D, relname: 'slow' }).length === 1 &&
          m.find('pg_stat_progress_vacuum_heap_scanned_ratio', { ...D, relname: 'slow' }).length === 1
        );
      },
      15_000,
      'running vacuum seen scanning the heap',
    );
    const [sample] = m.find('pg_stat_progress_vacuum_heap_scanned_ratio', { ...D, relname: 'slow' });
    t.equal(sample?.labels.autovacuum, 'false', 'a manual VACUUM');
    t.ok(sample!.value >= 0 && sample!.value < 1, 'part of the heap scanned');
    await pg.sql(`SELECT pg_cancel_backend(${pid})`);
    await running;
  });
}
