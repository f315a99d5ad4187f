import t from 'tap';
import { capObjects, ObjectCap } from '../../src/collectors/cardinality.js';
import { withLockFallback } from '../../src/collectors/relation-locks.js';
import type { ParsedMetrics } from '../helpers/metrics.js';
import { eventually, startPgvigil } from '../helpers/pgvigil.js';
import { testPostgres } from '../helpers/postgres.js';
import { steadyRead } from '../helpers/steady-read.js';

interface Obj {
  name: string;
  size: number;
  scans: number;
}
const obj = (name: string, size: number, scans = 0): Obj => ({ name, size, scans });
const cap = (rows: Obj[], limit: number) => {
  const r = capObjects(rows, limit, [(o) => o.size, (o) => o.scans]);
  return { kept: r.kept.map((o) => o.name), omitted: r.omitted };
};

t.test('capObjects keeps the union of the largest and the busiest', async (t) => {
  const rows = [obj('a', 10), obj('b', 50), obj('c', 40, 1), obj('d', 1, 99), obj('e', 30), obj('f', 2, 5)];
  t.same(cap(rows, 10), { kept: ['a', 'b', 'c', 'd', 'e', 'f'], omitted: 0 }, 'under the limit: everything');
  t.same(cap(rows, 2), { kept: ['b', 'd'], omitted: 4 }, 'largest and busiest');
  t.same(cap(rows, 4), { kept: ['b', 'c', 'd', 'f'], omitted: 2 }, 'taken in turn: b, d, c, f');
  t.same(cap(rows, 5), { kept: ['b', 'c', 'd', 'e', 'f'], omitted: 1 }, 'activity exhausted: size fills the rest');
  t.same(
    cap([obj('x', 5), obj('y', 5), obj('z', 5)], 2),
    { kept: ['x', 'y'], omitted: 1 },
    'ties: input order, stable',
  );
});

t.test('objects kept last poll keep their place until a rival is clearly ahead', async (t) => {
  const cap = new ObjectCap<Obj>((o) => o.name, [(o) => o.size, (o) => o.scans]);
  const names = (rows: Obj[]) => cap.apply('db', rows, 1).kept.map((o) => o.name);
  t.same(names([obj('a', 100), obj('b', 90)]), ['a']);
  t.same(names([obj('a', 100), obj('b', 110)]), ['a'], 'b 10 % larger: a stays');
  t.same(names([obj('a', 100), obj('b', 130)]), ['b'], 'b 30 % larger: b takes over');
  t.same(
    cap.apply('other', [obj('a', 100), obj('b', 110)], 1).kept.map((o) => o.name),
    ['b'],
    'memory is per database',
  );
});

t.test('withLockFallback retries with catalog sizes only after lock_timeout', async (t) => {
  const calls: boolean[] = [];
  const rows = await withLockFallback(async (exact) => {
    calls.push(exact);
    if (exact) throw Object.assign(new Error('canceling statement due to lock timeout'), { code: '55P03' });
    return ['ok'];
  });
  t.same(rows, ['ok']);
  t.same(calls, [true, false]);
  await t.rejects(
    withLockFallback(async () => Promise.reject(Object.assign(new Error('denied'), { code: '42501' }))),
    /denied/,
    'other errors are not retried',
  );
});

t.test('PGVIGIL_MAX_TABLES / PGVIGIL_MAX_INDEXES on a real database', async (t) => {
  const pg = await testPostgres(t, { settings: { autovacuum: 'off' } });
  await pg.sql('CREATE DATABASE many');
  const ddl: string[] = [];
  for (let i = 1; i <= 12; i++) {
    const n = String(i).padStart(2, '0');
    ddl.push(
      `CREATE TABLE t${n} AS SELECT g AS id FROM generate_series(1, ${i * 1000}) g; ` +
        `CREATE INDEX t${n}_id ON t${n} (id);`,
    );
  }
  ddl.push(`CREATE TABLE hot (id int); INSERT INTO hot VALUES (1); CREATE INDEX hot_id ON hot (id);`);
  await pg.sql(ddl.join('\n'), undefined, 'many');
  await pg.sql('ANALYZE', undefined, 'many');
  const c = await pg.client('many');
  await c.query('SET enable_seqscan = off; SET enable_bitmapscan = off');
  for (let i = 0; i < 20; i++) await c.query('SELECT * FROM hot WHERE id = 1');
  await c.end();

  const exporter = await startPgvigil(t, pg.url, {
    PGVIGIL_INCLUDE_DATABASES: '^many$',
    PGVIGIL_MAX_TABLES: '5',
    PGVIGIL_MAX_INDEXES: '3',
  });
  const L = { datname: 'many' };
  let m: ParsedMetrics = await exporter.poll('tables', 'indexes', 'index_health');
  await eventually(
    async () => {
      m = await exporter.poll('tables', 'indexes', 'index_health');
      return m.value('pg_stat_user_indexes_idx_scan_total', { ...L, indexrelname: 'hot_id' }) === 20;
    },
    15_000,
    'the 20 index scans of hot',
  );
  const tables = [...new Set(m.find('pg_stat_user_tables_n_live_tup', L).map((s) => s.labels.relname))].sort();
  t.same(tables, ['hot', 't09', 't10', 't11', 't12'], 'the four largest tables and the busiest one');
  t.equal(m.value('pgvigil_tables_omitted', L), 8);
  const indexes = m
    .find('pg_stat_user_indexes_size_bytes', L)
    .map((s) => s.labels.indexrelname)
    .sort();
  t.same(indexes, ['hot_id', 't11_id', 't12_id'], 'the two largest indexes and the most scanned one');
  t.equal(m.value('pgvigil_indexes_omitted', L), 10);
  t.equal(m.find('pg_stat_user_indexes_info', L).length, 3, 'every per-index family obeys the cap');
  t.equal(m.find('pg_index_unused_size_bytes', L).length, 12, 'findings are not cut by the cap: t01_id..t12_id unused');

  // Compared while no backend's statistics flush lands between the view and the poll.
  const { polled, view: db } = await steadyRead(
    async () => {
      const sql = 'SELECT sum(idx_blks_hit)::float8 AS hit FROM pg_statio_user_indexes';
      return (await pg.sql<{ hit: number }>(sql, undefined, 'many'))[0]!;
    },
    () => exporter.poll('indexes'),
  );
  const hit = polled.value('pg_statio_user_indexes_database_idx_blks_hit_total', L);
  t.equal(hit, db.hit, 'the per-database pair covers cut indexes too');
});
