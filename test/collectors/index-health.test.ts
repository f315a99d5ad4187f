import t from 'tap';
import type { ParsedMetrics } from '../helpers/metrics.js';
import { eventually, startPgvigil } from '../helpers/pgvigil.js';
import { testPostgres } from '../helpers/postgres.js';

const names = (m: ParsedMetrics, family: string, relname: string) =>
  m
    .find(family, { datname: 'postgres', relname })
    .map((s) => s.labels.indexrelname)
    .sort();

t.test('invalid, unused and duplicate indexes; seq-scan-heavy tables', async (t) => {
  const pg = await testPostgres(t, { settings: { autovacuum: 'off' } });
  // A failed CREATE UNIQUE INDEX CONCURRENTLY over duplicate values leaves an invalid index.
  await pg.sql(`CREATE TABLE events (kind int)`);
  await pg.sql(`INSERT INTO events VALUES (1), (1), (2)`);
  await t.rejects(
    pg.sql(`CREATE UNIQUE INDEX CONCURRENTLY events_kind ON events (kind)`),
    /could not create unique index/,
  );

  await pg.sql(`CREATE TABLE h (id int PRIMARY KEY, a int, b text, c int UNIQUE)`);
  await pg.sql(`INSERT INTO h SELECT g, g, 'b' || g, g FROM generate_series(1, 100) g`);
  await pg.sql(`CREATE INDEX d1 ON h (a); CREATE INDEX d2 ON h (a);
                CREATE INDEX e1 ON h (lower(b)); CREATE INDEX e2 ON h (lower(b));
                CREATE INDEX p1 ON h (a) WHERE a > 0; CREATE INDEX x1 ON h (upper(b));
                CREATE INDEX c_plain ON h (c); CREATE INDEX u1 ON h (b);
                CREATE INDEX inc1 ON h (a) INCLUDE (c); CREATE INDEX desc1 ON h (a DESC)`);

  await pg.sql(`CREATE TABLE parted (id int) PARTITION BY RANGE (id);
                CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (100);
                CREATE INDEX parted_id ON parted (id)`);
  await pg.sql(`CREATE TABLE big AS SELECT g AS id, repeat('x', 40) AS pad FROM generate_series(1, 20000) g`);
  await pg.sql(`CREATE TABLE tiny AS SELECT g AS id FROM generate_series(1, 10) g`);
  await pg.sql('ANALYZE');
  const c = await pg.client();
  await c.query('SET enable_seqscan = off; SET enable_bitmapscan = off');
  for (let i = 0; i < 3; i++) await c.query(`SELECT * FROM h WHERE b = 'b5'`);
  await c.query('RESET enable_seqscan');
  for (let i = 0; i < 6; i++) await c.query('SELECT count(*) FROM big');
  for (let i = 0; i < 10; i++) await c.query('SELECT count(*) FROM tiny');
  await c.end();

  const exporter = await startPgvigil(t, pg.url, {
    PGVIGIL_SEQ_SCAN_MIN_SCANS: '5',
    PGVIGIL_SEQ_SCAN_MIN_ROWS_PER_SCAN: '1000',
    PGVIGIL_SEQ_SCAN_MIN_TABLE_BYTES: '100000',
  });
  let m: ParsedMetrics = await exporter.poll('index_health');
  await eventually(
    async () => {
      m = await exporter.poll('index_health');
      return (
        m.value('pg_table_seq_scan_heavy_rows_per_scan', { relname: 'big' }) !== undefined &&
        !names(m, 'pg_index_unused_size_bytes', 'h').includes('u1')
      );
    },
    15_000,
    'scan statistics flushed',
  );

  const [bad] = await pg.sql<{ valid: boolean; size: number }>(
    `SELECT indisvalid AS valid, pg_relation_size(indexrelid)::float8 AS size
     FROM pg_index WHERE indexrelid = 'events_kind'::regclass`,
  );
  t.equal(bad!.valid, false, 'ground truth: the failed build left an invalid index');
  t.equal(
    m.value('pg_index_invalid_size_bytes', { datname: 'postgres', relname: 'events', indexrelname: 'events_kind' }),
    bad!.size,
  );
  t.equal(m.find('pg_index_invalid_size_bytes').length, 1, 'only the invalid index');

  t.same(
    m
      .find('pg_index_duplicate_size_bytes', { relname: 'h' })
      .map((s) => `${s.labels.indexrelname}=${s.labels.duplicate_of}`)
      .sort(),
    ['c_plain=h_c_key', 'd2=d1', 'e2=e1'],
    'exact duplicates only: the constraint index (else the oldest) is kept; ' +
      'partial, INCLUDE, DESC and other expressions differ',
  );
  const [d2] = await pg.sql<{ size: number }>(`SELECT pg_relation_size('d2')::float8 AS size`);
  t.equal(
    m.value('pg_index_duplicate_size_bytes', { indexrelname: 'd2' }),
    d2!.size,
    'value: the size a DROP gives back',
  );

  t.same(
    names(m, 'pg_index_unused_size_bytes', 'h'),
    ['c_plain', 'd1', 'd2', 'desc1', 'e1', 'e2', 'inc1', 'p1', 'x1'],
    'never-scanned indexes; the scanned one (u1) and the constraint ones (h_pkey, h_c_key) are not',
  );
  t.same(
    names(m, 'pg_index_unused_size_bytes', 'events'),
    [],
    'an invalid index is reported as invalid, not as unused',
  );
  t.same(
    names(m, 'pg_index_unused_size_bytes', 'parted'),
    [],
    'a partitioned index is never scanned itself: not judged',
  );
  t.same(names(m, 'pg_index_unused_size_bytes', 'parted_1'), ['parted_1_id_idx'], "its partition's index is");

  t.equal(
    m.value('pg_table_seq_scan_heavy_rows_per_scan', { datname: 'postgres', schemaname: 'public', relname: 'big' }),
    20000,
  );
  t.equal(
    m.find('pg_table_seq_scan_heavy_rows_per_scan', { relname: 'tiny' }).length,
    0,
    'small table: not a candidate',
  );
  t.equal(m.find('pg_table_seq_scan_heavy_rows_per_scan', { relname: 'h' }).length, 0, 'under the size threshold');

  // Fixing the findings makes them vanish.
  await pg.sql('DROP INDEX events_kind; DROP INDEX d2');
  m = await exporter.poll('index_health');
  t.equal(m.find('pg_index_invalid_size_bytes').length, 0);
  t.equal(m.find('pg_index_duplicate_size_bytes', { indexrelname: 'd2' }).length, 0);
});

t.test('findings beyond PGVIGIL_MAX_INDEX_FINDINGS are counted, not listed', async (t) => {
  const pg = await testPostgres(t, { settings: { autovacuum: 'off' } });
  await pg.sql(`CREATE TABLE events (kind int)`);
  await pg.sql(`INSERT INTO events VALUES (1), (1)`);
  await t.rejects(pg.sql(`CREATE UNIQUE INDEX CONCURRENTLY events_kind ON events (kind)`), /could not create unique/);
  // Three never-scanned indexes of different sizes; CREATE INDEX sets their relpages.
  await pg.sql(`CREATE TABLE w AS SELECT g AS a, 'wide key ' || g AS b FROM generate_series(1, 50000) g`);
  await pg.sql(`CREATE TABLE s AS SELECT g AS a FROM generate_series(1, 100) g`);
  await pg.sql(`CREATE INDEX w_a ON w (a); CREATE INDEX w_ab ON w (a, b); CREATE INDEX s_a ON s (a)`);
  await pg.sql('ANALYZE');

  const exporter = await startPgvigil(t, pg.url, { PGVIGIL_MAX_INDEX_FINDINGS: '2' });
  const m = await exporter.poll('index_health');
  const listed = [...m.find('pg_index_invalid_size_bytes'), ...m.find('pg_index_unused_size_bytes')]
    .map((s) => s.labels.indexrelname)
    .sort();
  t.same(listed, ['events_kind', 'w_ab'], 'the invalid index first, then the largest');

  const [truth] = await pg.sql<{ unused: number; invalid: number }>(
    `SELECT sum(relpages) FILTER (WHERE relname IN ('w_a', 'w_ab', 's_a'))::float8
              * current_setting('block_size')::float8 AS unused,
            sum(relpages) FILTER (WHERE relname = 'events_kind')::float8
              * current_setting('block_size')::float8 AS invalid
     FROM pg_class`,
  );
  const datname = 'postgres';
  t.equal(m.value('pg_index_findings', { datname, kind: 'unused' }), 3, 'every unused index counted');
  t.equal(m.value('pg_index_findings', { datname, kind: 'invalid' }), 1);
  t.equal(m.value('pg_index_findings', { datname, kind: 'duplicate' }), 0);
  t.equal(m.value('pg_index_findings_size_bytes', { datname, kind: 'unused' }), truth!.unused);
  t.equal(m.value('pg_index_findings_size_bytes', { datname, kind: 'invalid' }), truth!.invalid);
  t.equal(m.value('pgvigil_index_health_omitted', { datname }), 2, 'w_a and s_a have no series of their own');
});
