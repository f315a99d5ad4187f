import t from 'tap';
import { tables } from '../../src/collectors/tables.js';
import type { QueryFn } from '../../src/collectors/types.js';
import type { Family } from '../../src/exposition/families.js';
import { createLogger } from '../../src/logger.js';
import { loadConfig } from '../../src/pgvigil-config.js';
import { readServerFacts } from '../../src/server-facts.js';
import type { ParsedMetrics } from '../helpers/metrics.js';
import { eventually, startPgvigil } from '../helpers/pgvigil.js';
import { testPostgres } from '../helpers/postgres.js';
import { sampleValue } from './collect-directly.js';

// A schema too large for one statement per poll, at test size: 3 schemas of 1,000 tables. The cap
// is ranked in SQL, rollups cover every table, sizes come in OID batches across polls, and a
// batch cancelled by its statement timeout leaves the rest of the poll served.

const T = 'pg_stat_user_tables';
const DB = 'tenants';
const SCHEMAS = ['s0', 's1', 's2'];
const PER_SCHEMA = 1000;

const pg = await testPostgres(t, { settings: { autovacuum: 'off', max_locks_per_transaction: 512 } });
await pg.sql('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
await pg.sql(`CREATE DATABASE ${DB}`);
for (const schema of SCHEMAS) {
  await pg.sql(
    `CREATE SCHEMA ${schema};
     DO $$ BEGIN
       FOR i IN 0..${PER_SCHEMA - 1} LOOP
         EXECUTE format('CREATE TABLE ${schema}.t%s (id int PRIMARY KEY, pad text)', i);
       END LOOP;
     END $$`,
    [],
    DB,
  );
}
// The largest table, a busy one (sequential scans) and one with dead rows, from a session that
// ends: a backend flushes its statistics when it exits.
const writer = await pg.client(DB);
await writer.query('SET enable_indexscan = off; SET enable_indexonlyscan = off; SET enable_bitmapscan = off');
await writer.query(`INSERT INTO s0.t7 SELECT g, repeat('x', 100) FROM generate_series(1, 20000) g; ANALYZE s0.t7`);
await writer.query(`INSERT INTO s2.t9 SELECT g, 'y' FROM generate_series(1, 100) g`);
await writer.query('DELETE FROM s2.t9 WHERE id <= 40');
for (let i = 0; i < 5; i++) await writer.query('SELECT count(*) FROM s1.t3');
await writer.end();

async function viewTotals(schema: string) {
  const [row] = await pg.sql<{ tables: number; seq_scan: number; n_dead_tup: number; total: number }>(
    `SELECT count(*)::float8 AS tables, sum(seq_scan)::float8 AS seq_scan, sum(n_dead_tup)::float8 AS n_dead_tup,
            sum(pg_total_relation_size(relid))::float8 AS total
     FROM pg_stat_user_tables WHERE schemaname = $1`,
    [schema],
    DB,
  );
  return row!;
}

t.test('3,000 tables: first poll succeeds, cap keeps largest and busiest, rollups cover all', async (t) => {
  const exporter = await startPgvigil(t, pg.url, { PGVIGIL_MAX_TABLES: '10', PGVIGIL_MAX_INDEXES: '10' });
  let m: ParsedMetrics = await exporter.poll('tables', 'indexes');
  t.equal(m.value('pgvigil_collector_success', { collector: 'tables' }), 1, 'the first tables poll succeeds');
  t.equal(m.value('pgvigil_collector_success', { collector: 'indexes' }), 1, 'the first indexes poll succeeds');
  const kept = m.samples.filter((s) => s.name === `${T}_n_live_tup` && s.labels.datname === DB);
  t.equal(kept.length, 10, 'PGVIGIL_MAX_TABLES tables with their own series');
  t.equal(m.value('pgvigil_tables_omitted', { datname: DB }), 3 * PER_SCHEMA - 10, 'the rest counted');
  t.equal(m.value('pgvigil_indexes_omitted', { datname: DB }), 3 * PER_SCHEMA - 10);
  t.ok(
    kept.some((s) => s.labels.schemaname === 's0' && s.labels.relname === 't7'),
    'the largest table is kept',
  );

  // The statistics reach the views when the backends flush them: wait for the ground truth first.
  let seen = '';
  await eventually(
    async () => {
      const [busy] = await pg.sql<{ seq_scan: number }>(
        `SELECT seq_scan::float8 FROM pg_stat_user_tables WHERE relid = 's1.t3'::regclass`,
        [],
        DB,
      );
      const s2 = await viewTotals('s2');
      seen = `s1.t3 seq_scan ${busy!.seq_scan}, s2 n_dead_tup ${s2.n_dead_tup}`;
      // Creating a table's primary key scans it once: five more than that.
      return busy!.seq_scan >= 5 && s2.n_dead_tup === 40;
    },
    15_000,
    'scans and dead rows in pg_stat_user_tables',
  ).catch((err: Error) => {
    throw new Error(`${err.message} (${seen})`);
  });
  const truth = Object.fromEntries(await Promise.all(SCHEMAS.map(async (s) => [s, await viewTotals(s)] as const)));
  m = await exporter.poll('tables');
  const L = (schemaname: string) => ({ datname: DB, schemaname });
  const [busy] = await pg.sql<{ seq_scan: number }>(
    `SELECT seq_scan::float8 FROM pg_stat_user_tables WHERE relid = 's1.t3'::regclass`,
    [],
    DB,
  );
  t.equal(m.value(`${T}_seq_scan_total`, { ...L('s1'), relname: 't3' }), busy!.seq_scan, 'the busiest table is kept');
  for (const schema of SCHEMAS) {
    t.equal(m.value(`${T}_schema_tables`, L(schema)), truth[schema]!.tables, `${schema}: tables`);
    t.equal(m.value(`${T}_schema_seq_scan_total`, L(schema)), truth[schema]!.seq_scan, `${schema}: seq scans`);
    t.equal(m.value(`${T}_schema_n_dead_tup`, L(schema)), truth[schema]!.n_dead_tup, `${schema}: dead rows`);
  }
  await eventually(
    async () => {
      m = await exporter.poll('tables');
      return m.value('pgvigil_tables_part_stale', { datname: DB, part: 'sizes' }) === 0;
    },
    60_000,
    'a complete size pass',
  );
  for (const schema of SCHEMAS) {
    t.equal(m.value(`${T}_schema_total_size_bytes`, L(schema)), truth[schema]!.total, `${schema}: summed sizes`);
  }
  const [big] = await pg.sql<{ total: number }>(`SELECT pg_total_relation_size('s0.t7')::float8 AS total`, [], DB);
  t.equal(m.value(`${T}_total_size_bytes`, { ...L('s0'), relname: 't7' }), big!.total, 'a kept table is sized');
  const [batches] = await pg.sql<{ calls: number }>(
    `SELECT coalesce(sum(calls), 0)::float8 AS calls FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
     WHERE d.datname = $1 AND s.query LIKE '%pg_indexes_size%' AND s.query LIKE '%LIMIT $3%'`,
    [DB],
  );
  t.ok(batches!.calls >= 2, `sizes were read in batches (${batches!.calls} statements)`);
});

t.test('a size batch cancelled by its statement timeout: the poll is served, the next resumes', async (t) => {
  const client = await pg.client(DB);
  const config = loadConfig({
    DATABASE_URL: pg.url,
    PGVIGIL_STATEMENT_TIMEOUT_SECONDS: '0.4',
    PGVIGIL_MAX_TABLES: '10',
  });
  const collector = tables.create(config, createLogger('warn'));
  const facts = await readServerFacts(client);
  const batchesAfter: number[] = [];
  let slowed = false;
  const query: QueryFn = async (sql, params) => {
    if (sql.includes('LIMIT $3')) {
      batchesAfter.push(params![1] as number);
      // The first batch outlasts its statement timeout (100 ms, a quarter of 0.4 s): the server cancels it.
      if (!slowed) {
        slowed = true;
        await client.query('SELECT pg_sleep(1)');
      }
    }
    return (await client.query(sql, params)).rows;
  };
  let now = Date.now();
  const poll = async (): Promise<Family[]> => {
    now += 1000;
    return collector.collect({ query, facts, datname: DB, log: createLogger('warn'), now });
  };

  let families = await poll();
  t.equal(sampleValue(families, 'pgvigil_tables_part_stale', { part: 'sizes' }), 1, 'sizes reported stale');
  t.equal(
    sampleValue(families, `${T}_total_size_bytes`, { schemaname: 's0', relname: 't7' }),
    undefined,
    'no sizes yet',
  );
  t.equal(
    sampleValue(families, `${T}_n_live_tup`, { schemaname: 's0', relname: 't7' }),
    20000,
    'statistics served in the same poll',
  );
  t.equal(sampleValue(families, `${T}_schema_tables`, { schemaname: 's2' }), PER_SCHEMA, 'rollups served');
  let polls = 1;
  while (sampleValue(families, 'pgvigil_tables_part_stale', { part: 'sizes' }) === 1 && polls < 200) {
    families = await poll();
    polls++;
  }
  t.equal(
    sampleValue(families, 'pgvigil_tables_part_stale', { part: 'sizes' }),
    0,
    `pass complete after ${polls} polls`,
  );
  t.ok(batchesAfter.filter((after) => after > 0).length > 0, 'later batches resumed after the last OID read');
  t.same(
    batchesAfter.slice(1).filter((after, i, all) => i > 0 && after < all[i - 1]!),
    [],
    'after the cancelled batch, no batch starts before the one before (a cancelled one is retried in place)',
  );
  const [big] = await pg.sql<{ total: number }>(`SELECT pg_total_relation_size('s0.t7')::float8 AS total`, [], DB);
  t.equal(sampleValue(families, `${T}_total_size_bytes`, { schemaname: 's0', relname: 't7' }), big!.total);
  t.equal(
    sampleValue(families, `${T}_schema_total_size_bytes`, { schemaname: 's1' }),
    (await viewTotals('s1')).total,
    'every table of a schema sized once the pass completes',
  );
});
