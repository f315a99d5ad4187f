import t from 'tap';
import type { ParsedMetrics } from '../helpers/metrics.js';
import { eventually, startPgvigil } from '../helpers/pgvigil.js';
import { testPostgres } from '../helpers/postgres.js';

/** These tests change sizes between polls: read them every poll. */
const EVERY_POLL_SIZES = { PGVIGIL_SIZES_INTERVAL_SECONDS: '0' };

const T = 'pg_stat_user_tables';
const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;

// One server for every subtest (they use their own tables and databases): starting a cluster per
// subtest dominated the run time.
const pg = await testPostgres(t, { settings: { autovacuum: 'off' } });

t.test('pg_stat_user_tables against ground truth', async (t) => {
  await pg.sql(`CREATE TABLE orders (id int, note text) WITH (fillfactor = 50)`);
  await pg.sql(`CREATE INDEX orders_id ON orders (id)`);
  await pg.sql(`INSERT INTO orders SELECT g, 'n' || g FROM generate_series(1, 1000) g`);
  const exporter = await startPgvigil(t, pg.url, EVERY_POLL_SIZES);
  const L = { datname: 'postgres', schemaname: 'public', relname: 'orders' };
  let m: ParsedMetrics = await exporter.poll('tables');
  const pollUntil = async (what: string, check: (m: ParsedMetrics) => boolean) =>
    eventually(
      async () => {
        m = await exporter.poll('tables');
        return check(m);
      },
      15_000,
      what,
    );

  await pollUntil('1000 inserts', (m) => m.value(`${T}_n_tup_ins_total`, L) === 1000);
  t.equal(m.types.get(`${T}_seq_scan_total`), 'counter');
  t.equal(m.types.get(`${T}_n_live_tup`), 'gauge');
  t.equal(m.value(`${T}_bloat_estimate_bytes`, L), undefined, 'no bloat estimate before the first ANALYZE');
  t.equal(m.value(`${T}_last_vacuum_age_seconds`, L), undefined, 'never vacuumed: absent');

  // K sequential scans over N rows.
  const seq0 = m.value(`${T}_seq_scan_total`, L)!;
  const read0 = m.value(`${T}_seq_tup_read_total`, L)!;
  const scanner = await pg.client();
  await scanner.query('SET enable_indexscan = off; SET enable_indexonlyscan = off; SET enable_bitmapscan = off');
  for (let i = 0; i < 7; i++) await scanner.query('SELECT count(*) FROM orders');
  await scanner.end();
  await pollUntil('7 more seq scans', (m) => m.value(`${T}_seq_scan_total`, L) === seq0 + 7);
  t.equal(m.value(`${T}_seq_tup_read_total`, L), read0 + 7 * 1000, 'seq_tup_read grew by K*N');

  // One transaction: no page pruning can remove the dead rows before the stats see them.
  await pg.sql(`BEGIN; UPDATE orders SET note = 'u' WHERE id <= 100; DELETE FROM orders WHERE id > 950; COMMIT`);
  await pollUntil('update and delete counted', (m) => m.value(`${T}_n_tup_del_total`, L) === 50);
  t.equal(m.value(`${T}_n_tup_upd_total`, L), 100);
  t.equal(m.value(`${T}_n_live_tup`, L), 950);
  t.equal(m.value(`${T}_n_dead_tup`, L), 150);
  t.equal(m.value(`${T}_dead_tuple_ratio`, L), 150 / 1100);
  const [view] = await pg.sql<{ hot: number }>(
    `SELECT n_tup_hot_upd::float8 AS hot FROM pg_stat_user_tables WHERE relname = 'orders'`,
  );
  t.equal(m.value(`${T}_n_tup_hot_upd_total`, L), view!.hot, 'HOT updates as the view says');

  await pg.sql('ANALYZE orders');
  await pollUntil('analyze counted', (m) => m.value(`${T}_analyze_total`, L) === 1);
  t.equal(m.value(`${T}_n_live_tup`, L), 950, 'ANALYZE of a fully sampled table counts the live rows exactly');
  const analyzeAge = m.value(`${T}_last_analyze_age_seconds`, L)!;
  t.ok(analyzeAge >= 0 && analyzeAge < 30, `analyze age ${analyzeAge}`);
  await pg.sql('VACUUM orders');
  await pollUntil('vacuum counted', (m) => m.value(`${T}_vacuum_total`, L) === 1);
  t.equal(m.value(`${T}_n_dead_tup`, L), 0);
  t.equal(m.value(`${T}_dead_tuple_ratio`, L), 0);
  t.ok(m.value(`${T}_last_vacuum_age_seconds`, L)! < 30);
  t.equal(m.value(`${T}_autovacuum_total`, L), 0);
  t.equal(m.value(`${T}_last_autovacuum_age_seconds`, L), undefined, 'autovacuum never ran: absent');

  // Sizes equal PostgreSQL's own functions.
  const [sizes] = await pg.sql<{ rel: number; total: number; idx: number }>(
    `SELECT pg_relation_size('orders')::float8 AS rel, pg_total_relation_size('orders')::float8 AS total,
            pg_indexes_size('orders')::float8 AS idx`,
  );
  m = await exporter.poll('tables');
  t.equal(m.value(`${T}_table_size_bytes`, L), sizes!.rel);
  t.equal(m.value(`${T}_total_size_bytes`, L), sizes!.total);
  t.equal(m.value(`${T}_index_size_bytes`, L), sizes!.idx);
  // Block hits of the index are a separate statistics entry from the table's, which a backend may
  // flush in a later round than the table's counters waited for above: wait for them too.
  await pollUntil(
    'heap and index blocks hit',
    (m) =>
      m.value('pg_statio_user_tables_heap_blocks_hit_total', L)! > 0 &&
      m.value('pg_statio_user_tables_idx_blocks_hit_total', L)! > 0,
  );
  t.pass('heap blocks hit and index blocks hit (CREATE INDEX, inserts)');

  // Transaction-ID age: ten transactions later, ten more.
  const xid0 = m.value(`${T}_xid_age`, L)!;
  const burner = await pg.client();
  for (let i = 0; i < 10; i++) await burner.query('SELECT txid_current()');
  m = await exporter.poll('tables');
  const [age] = await pg.sql<{ age: number }>(
    `SELECT age(relfrozenxid)::float8 AS age FROM pg_class WHERE relname = 'orders'`,
  );
  t.equal(m.value(`${T}_xid_age`, L), age!.age, 'xid age as age(relfrozenxid)');
  t.equal(m.value(`${T}_xid_age`, L), xid0 + 10);
});

t.test('bloat estimate follows real dead space', async (t) => {
  await pg.sql(`CREATE TABLE packed (id int, payload text)`);
  await pg.sql(`INSERT INTO packed SELECT g, repeat('x', 60) FROM generate_series(1, 20000) g`);
  await pg.sql('VACUUM ANALYZE packed');
  const exporter = await startPgvigil(t, pg.url, EVERY_POLL_SIZES);
  const L = { datname: 'postgres', relname: 'packed' };
  let m = await exporter.poll('tables');
  const size = m.value(`${T}_table_size_bytes`, L)!;
  const fresh = m.value(`${T}_bloat_estimate_bytes`, L)!;
  t.ok(fresh / size < 0.15, `freshly loaded: estimate ${fresh} of ${size} bytes`);
  // Every other row deleted: VACUUM frees the space inside the pages but cannot give pages back.
  await pg.sql('DELETE FROM packed WHERE id % 2 = 0');
  await pg.sql('VACUUM ANALYZE packed');
  m = await exporter.poll('tables');
  t.equal(m.value(`${T}_table_size_bytes`, L), size, 'no page returned');
  const bloat = m.value(`${T}_bloat_estimate_bytes`, L)!;
  t.ok(bloat / size > 0.4 && bloat / size < 0.6, `half deleted: estimate ${bloat} of ${size} bytes`);
});

t.test('an ACCESS EXCLUSIVE lock, held or awaited, never blocks the table collector', async (t) => {
  await pg.sql(`CREATE TABLE locked (id int PRIMARY KEY, v text)`);
  await pg.sql(`INSERT INTO locked SELECT g, 'v' FROM generate_series(1, 5000) g`);
  await pg.sql(`CREATE TABLE free (id int)`);
  await pg.sql(`INSERT INTO free SELECT generate_series(1, 100)`);
  await pg.sql('ANALYZE');
  // A lock wait would last lock_timeout (10 s); the guard must make the poll return well before.
  const exporter = await startPgvigil(t, pg.url, {
    PGVIGIL_LOCK_TIMEOUT_SECONDS: '10',
    PGVIGIL_STATEMENT_TIMEOUT_SECONDS: '12',
    PGVIGIL_COLLECTOR_TIMEOUT_SECONDS: '15',
    ...EVERY_POLL_SIZES,
  });
  const [cat] = await pg.sql<{ bytes: number; total: number }>(
    `SELECT (c.relpages * 8192)::float8 AS bytes,
            ((c.relpages + t.relpages + (SELECT sum(ic.relpages)
                                          FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
                                          WHERE i.indrelid IN (c.oid, c.reltoastrelid))) * 8192)::float8 AS total
     FROM pg_class c JOIN pg_class t ON t.oid = c.reltoastrelid WHERE c.relname = 'locked'`,
  );
  const [exact] = await pg.sql<{ free: number }>(`SELECT pg_relation_size('free')::float8 AS free`);
  const expectNoWait = async (what: string) => {
    const started = Date.now();
    const m = await exporter.poll('tables');
    const took = Date.now() - started;
    t.ok(took < 5000, `${what}: poll took ${took} ms (a lock wait would take 10 s)`);
    t.equal(m.value('pgvigil_collector_success', { collector: 'tables' }), 1, `${what}: collector succeeded`);
    t.equal(m.value(`${T}_table_size_bytes`, { relname: 'locked' }), cat!.bytes, `${what}: relpages * block_size`);
    t.equal(m.value(`${T}_total_size_bytes`, { relname: 'locked' }), cat!.total, `${what}: total from relpages`);
    t.equal(m.value(`${T}_table_size_bytes`, { relname: 'free' }), exact!.free, `${what}: other tables still exact`);
    t.equal(m.value('pgvigil_tables_sized_from_catalog', { datname: 'postgres' }), 1);
    t.ok(
      m.value(`${T}_n_live_tup`, { relname: 'locked' }) !== undefined,
      `${what}: stats of the locked table still served`,
    );
  };

  const holder = await pg.client();
  await holder.query('BEGIN');
  await holder.query('LOCK TABLE locked IN ACCESS EXCLUSIVE MODE');
  await expectNoWait('granted');
  await holder.query('ROLLBACK');

  // A pending ACCESS EXCLUSIVE request queues every later AccessShareLock behind it.
  const reader = await pg.client();
  await reader.query('BEGIN');
  await reader.query('SELECT 1 FROM locked LIMIT 1');
  const alter = await pg.client();
  const altering = alter.query('ALTER TABLE locked ADD COLUMN extra int');
  await eventually(
    async () => {
      const rows = await pg.sql(`SELECT 1 FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND NOT granted`);
      return rows.length > 0;
    },
    10_000,
    'ALTER TABLE waiting for its lock',
  );
  await expectNoWait('awaited');
  await reader.query('COMMIT');
  await altering;

  const m = await exporter.poll('tables');
  t.equal(
    m.value('pgvigil_tables_sized_from_catalog', { datname: 'postgres' }),
    0,
    'exact sizes once the lock is gone',
  );
});

t.test('every database, include/exclude patterns, names that need escaping', async (t) => {
  const schema = 'we"ird\\sch';
  const table = 'a "b"\\c d\nline ü€ 🐘';
  for (const db of ['shop', 'crm']) {
    await pg.sql(`CREATE DATABASE ${db}`);
    await pg.sql(`CREATE TABLE ${db}_items (id int); INSERT INTO ${db}_items SELECT generate_series(1, 3)`, [], db);
  }
  await pg.sql(
    `CREATE SCHEMA ${ident(schema)}; CREATE TABLE ${ident(schema)}.${ident(table)} (x int);
                INSERT INTO ${ident(schema)}.${ident(table)} VALUES (1), (2)`,
    [],
    'shop',
  );

  const all = await startPgvigil(t, pg.url);
  let m: ParsedMetrics = await all.poll('tables');
  await eventually(
    async () => {
      m = await all.poll('tables');
      return (
        m.value(`${T}_n_live_tup`, { datname: 'crm', relname: 'crm_items' }) === 3 &&
        m.value(`${T}_n_live_tup`, { datname: 'shop', schemaname: schema, relname: table }) === 2
      );
    },
    15_000,
    'both databases and the odd name',
  );
  t.equal(m.value(`${T}_n_live_tup`, { datname: 'shop', relname: 'shop_items' }), 3);
  t.equal(m.find(`${T}_n_live_tup`, { datname: 'crm', relname: 'shop_items' }).length, 0, 'no cross-database rows');
  t.ok(
    (await all.text()).includes(`schemaname="we\\"ird\\\\sch",relname="a \\"b\\"\\\\c d\\nline ü€ 🐘"`),
    'escaped on the wire',
  );

  const onlyShop = await startPgvigil(t, pg.url, { PGVIGIL_INCLUDE_DATABASES: '^shop$' });
  m = await onlyShop.poll('tables');
  t.equal(m.value(`${T}_n_live_tup`, { datname: 'shop', relname: 'shop_items' }), 3);
  t.equal(m.find(`${T}_n_live_tup`, { datname: 'crm' }).length, 0, 'crm not included');
  t.same([...new Set(m.find(`${T}_n_live_tup`).map((s) => s.labels.datname))], ['shop']);

  const notCrm = await startPgvigil(t, pg.url, { PGVIGIL_EXCLUDE_DATABASES: '^crm$' });
  m = await notCrm.poll('tables');
  t.same([...new Set(m.find('pgvigil_tables_omitted').map((s) => s.labels.datname))].sort(), ['postgres', 'shop']);
  t.equal(m.find(`${T}_n_live_tup`, { datname: 'crm' }).length, 0, 'crm excluded');
});

t.test('sizes are read every PGVIGIL_SIZES_INTERVAL_SECONDS, statistics every poll', async (t) => {
  await pg.sql('CREATE DATABASE sized');
  await pg.sql('CREATE TABLE growing (id int PRIMARY KEY, pad text)', [], 'sized');
  const exporter = await startPgvigil(t, pg.urlFor('sized'), {
    PGVIGIL_INCLUDE_DATABASES: '^sized$',
    PGVIGIL_SIZES_INTERVAL_SECONDS: '3600',
  });
  const labels = { datname: 'sized', relname: 'growing' };
  const sizeOf = async (name: string, relname = 'growing') =>
    (await exporter.scrape()).value(`${T}_${name}`, { ...labels, relname });
  await exporter.poll('tables', 'indexes');
  const firstSize = await sizeOf('total_size_bytes');
  const firstIndex = (await exporter.scrape()).value('pg_stat_user_indexes_size_bytes', {
    datname: 'sized',
    indexrelname: 'growing_pkey',
  });
  t.ok(firstSize !== undefined && firstSize > 0, `first poll reads sizes (${firstSize})`);

  await pg.sql(`INSERT INTO growing SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g`, [], 'sized');
  await pg.sql('CREATE TABLE newcomer (id int)', [], 'sized');
  await pg.sql('ANALYZE', [], 'sized');
  const [real] = await pg.sql<{ total: number }>(
    `SELECT pg_total_relation_size('growing')::float8 AS total`,
    [],
    'sized',
  );
  t.ok(real!.total > firstSize! * 10, 'the table really grew');
  await exporter.poll('tables', 'indexes');
  const m = await exporter.scrape();
  t.equal(m.value(`${T}_n_live_tup`, labels), 20000, 'statistics are fresh on the next poll');
  t.equal(await sizeOf('total_size_bytes'), firstSize, 'the size is the one read last time');
  t.equal(
    m.value('pg_stat_user_indexes_size_bytes', { datname: 'sized', indexrelname: 'growing_pkey' }),
    firstIndex,
    'index size too',
  );
  t.equal(m.value(`${T}_n_live_tup`, { ...labels, relname: 'newcomer' }), 0, 'a new table has statistics at once');
  t.equal(await sizeOf('total_size_bytes', 'newcomer'), undefined, 'but no size until the next size read');

  // A new pgvigil with sizes every poll (0) sees the real size: the cache, not the query, held it.
  const everyPoll = await startPgvigil(t, pg.urlFor('sized'), {
    PGVIGIL_INCLUDE_DATABASES: '^sized$',
    PGVIGIL_SIZES_INTERVAL_SECONDS: '0',
  });
  await everyPoll.poll('tables');
  await pg.sql(`INSERT INTO growing SELECT g, repeat('y', 200) FROM generate_series(20001, 30000) g`, [], 'sized');
  const [after] = await pg.sql<{ total: number }>(
    `SELECT pg_total_relation_size('growing')::float8 AS total`,
    [],
    'sized',
  );
  const m2 = await everyPoll.poll('tables');
  t.equal(m2.value(`${T}_total_size_bytes`, labels), after!.total, 'with 0, every poll reads sizes');
});
