import t from 'tap';
import type { ParsedMetrics } from '../helpers/metrics.js';
import { eventually, startPgvigil } from '../helpers/pgvigil.js';
import { testPostgres } from '../helpers/postgres.js';
import { steadyRead } from '../helpers/steady-read.js';

const I = 'pg_stat_user_indexes';

t.test('pg_stat_user_indexes against ground truth', async (t) => {
  const pg = await testPostgres(t, { settings: { autovacuum: 'off' } });
  await pg.sql(`CREATE TABLE items (id int PRIMARY KEY, sku text, qty int)`);
  await pg.sql(`INSERT INTO items SELECT g, 'sku' || g, g % 7 FROM generate_series(1, 5000) g`);
  await pg.sql(`CREATE INDEX items_sku ON items (sku)`);
  await pg.sql('ANALYZE items');
  const exporter = await startPgvigil(t, pg.url);
  const pkey = { datname: 'postgres', schemaname: 'public', relname: 'items', indexrelname: 'items_pkey' };
  const sku = { ...pkey, indexrelname: 'items_sku' };
  let m: ParsedMetrics = await exporter.poll('indexes');
  t.equal(m.types.get(`${I}_idx_scan_total`), 'counter');
  const scans0 = m.value(`${I}_idx_scan_total`, pkey)!;
  const read0 = m.value(`${I}_idx_tup_read_total`, pkey)!;
  const fetch0 = m.value(`${I}_idx_tup_fetch_total`, pkey)!;
  t.equal(m.value(`${I}_idx_scan_total`, sku), 0, 'sku index never scanned');

  // Four single-row lookups through the primary key.
  const c = await pg.client();
  await c.query('SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off');
  for (const id of [1, 20, 300, 4000]) await c.query('SELECT qty FROM items WHERE id = $1', [id]);
  await c.end();
  await eventually(
    async () => {
      m = await exporter.poll('indexes');
      return m.value(`${I}_idx_scan_total`, pkey) === scans0 + 4;
    },
    15_000,
    'four more index scans',
  );
  t.equal(m.value(`${I}_idx_tup_read_total`, pkey), read0 + 4);
  t.equal(m.value(`${I}_idx_tup_fetch_total`, pkey), fetch0 + 4);
  t.ok(
    m.value('pg_statio_user_indexes_idx_blks_hit_total', pkey)! +
      m.value('pg_statio_user_indexes_idx_blks_read_total', pkey)! >
      0,
  );

  const [sizes] = await pg.sql<{ pkey: number; sku: number }>(
    `SELECT pg_relation_size('items_pkey')::float8 AS pkey, pg_relation_size('items_sku')::float8 AS sku`,
  );
  t.equal(m.value(`${I}_size_bytes`, pkey), sizes!.pkey);
  t.equal(m.value(`${I}_size_bytes`, sku), sizes!.sku);
  t.equal(m.value(`${I}_info`, { ...pkey, valid: 'true', unique: 'true', primary: 'true' }), 1);
  t.equal(m.value(`${I}_info`, { ...sku, valid: 'true', unique: 'false', primary: 'false' }), 1);
  t.equal(m.find(`${I}_last_idx_scan_age_seconds`).length, 0, 'last_idx_scan needs PostgreSQL 16');

  // The per-database pair is the sum over every index, read from the view itself while no
  // backend's statistics flush lands between the view and the poll.
  const { polled, view: db } = await steadyRead(
    async () =>
      (
        await pg.sql<{ hit: number; read: number }>(
          `SELECT sum(idx_blks_hit)::float8 AS hit, sum(idx_blks_read)::float8 AS read FROM pg_statio_user_indexes`,
        )
      )[0]!,
    () => exporter.poll('indexes'),
  );
  m = polled;
  t.equal(m.value('pg_statio_user_indexes_database_idx_blks_hit_total', { datname: 'postgres' }), db.hit);
  t.equal(m.value('pg_statio_user_indexes_database_idx_blks_read_total', { datname: 'postgres' }), db.read);
  t.equal(m.value('pgvigil_indexes_omitted', { datname: 'postgres' }), 0);

  // An index of a table under ACCESS EXCLUSIVE lock is sized from the catalog, without waiting.
  const holder = await pg.client();
  await holder.query('BEGIN; LOCK TABLE items IN ACCESS EXCLUSIVE MODE');
  const [cat] = await pg.sql<{ bytes: number }>(
    `SELECT (relpages * 8192)::float8 AS bytes FROM pg_class WHERE relname = 'items_sku'`,
  );
  m = await exporter.poll('indexes');
  t.equal(m.value('pgvigil_collector_success', { collector: 'indexes' }), 1);
  t.equal(m.value(`${I}_size_bytes`, sku), cat!.bytes);
  await holder.query('ROLLBACK');
});
