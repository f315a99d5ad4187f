import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { databaseSize, isVanishedDatabase } from '../../src/collectors/database-size.js';
import type { QueryFn } from '../../src/collectors/types.js';
import { startPgvigil } from '../helpers/pgvigil.js';
import { testPostgres } from '../helpers/postgres.js';
import { collectDirectly, sampleValue } from './collect-directly.js';

// Ground truth: the files of the database directory (what pg_database_size() adds up), a table
// of known size, a role that may not CONNECT to one database, and the real error PostgreSQL
// raises when a database disappears under the size query.

const dirBytes = (dir: string) => readdirSync(dir).reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);

t.test('database sizes against the data directory, as a pg_monitor role', async (t) => {
  const pg = await testPostgres(t, { settings: { autovacuum: 'off' } });
  await pg.sql('CREATE DATABASE empty');
  await pg.sql('CREATE DATABASE bulk');
  await pg.sql('CREATE DATABASE secret');
  await pg.sql('REVOKE CONNECT ON DATABASE secret FROM PUBLIC');
  // ~10 MB of rows: 40,000 rows of 200 bytes plus headers.
  await pg.sql(
    `CREATE TABLE blob AS SELECT g AS id, repeat('x', 200) AS pad FROM generate_series(1, 40000) g`,
    [],
    'bulk',
  );
  await pg.sql(`CREATE ROLE watcher LOGIN IN ROLE pg_monitor`);
  await pg.sql(`CHECKPOINT`);

  const exporter = await startPgvigil(t, pg.urlFor('postgres', 'watcher'));
  const m = await exporter.poll('database_size');
  const [truth] = await pg.sql<{ oid: number; size: number }>(
    `SELECT oid, pg_database_size(oid)::float8 AS size FROM pg_database WHERE datname = 'bulk'`,
  );
  const [table] = await pg.sql<{ bytes: number }>(`SELECT pg_total_relation_size('blob')::float8 AS bytes`, [], 'bulk');
  const bulk = m.value('pg_database_size_bytes', { datname: 'bulk' });
  t.equal(bulk, dirBytes(join(pg.cluster!.dataDir, 'base', String(truth!.oid))), 'the sum of the files in base/<oid>');
  t.equal(bulk, truth!.size, 'equal to pg_database_size() as superuser');
  t.ok(table!.bytes > 8_000_000, `the table holds ${table!.bytes} bytes`);
  t.ok(
    bulk! - m.value('pg_database_size_bytes', { datname: 'empty' })! >= table!.bytes,
    'bulk outweighs empty by at least the table',
  );
  t.equal(m.types.get('pg_database_size_bytes'), 'gauge');
  t.equal(m.find('pg_database_size_bytes', { datname: 'secret' }).length, 0, 'no CONNECT privilege: not measured');
  t.ok(m.value('pg_database_size_bytes', { datname: 'template1' })! > 0, 'templates count toward disk use');
  t.equal(m.value('pgvigil_collector_success', { collector: 'database_size' }), 1);

  const narrow = await startPgvigil(t, pg.url, { PGVIGIL_INCLUDE_DATABASES: '^(bulk|secret)$' });
  const n = await narrow.poll('database_size');
  t.same(
    n
      .find('pg_database_size_bytes')
      .map((s) => s.labels.datname)
      .sort(),
    ['bulk', 'secret'],
    'include pattern applies',
  );
});

t.test('a database dropped during the query does not fail the collector', async (t) => {
  const pg = await testPostgres(t);
  await pg.sql(`CREATE ROLE watcher LOGIN IN ROLE pg_monitor`);
  await pg.sql('CREATE DATABASE keeper');
  await pg.sql('CREATE DATABASE doomed');
  const [{ oid }] = (await pg.sql<{ oid: number }>(`SELECT oid FROM pg_database WHERE datname = 'doomed'`)) as [
    { oid: number },
  ];
  await pg.sql('DROP DATABASE doomed');

  // The error the size function raises for a role without superuser once the database is gone
  // (for a superuser it returns NULL instead).
  const watcher = await pg.client('postgres', { connectionString: pg.urlFor('postgres', 'watcher') });
  t.equal((await watcher.query<{ u: string }>('SELECT current_user AS u')).rows[0]?.u, 'watcher');
  const vanished = await watcher.query('SELECT pg_database_size($1::oid)', [oid]).then(
    () => undefined,
    (err: unknown) => err,
  );
  t.ok(
    vanished !== undefined,
    `size of a dropped database fails for pg_monitor: ${(vanished as Error | undefined)?.message}`,
  );
  t.ok(isVanishedDatabase(vanished), 'recognised as a vanished database');
  const superuser = await pg.sql<{ size: number | null }>('SELECT pg_database_size($1::oid) AS size', [oid]).then(
    (rows) => rows[0]?.size,
    (err: unknown) => err,
  );
  if (pg.major < 18) t.equal(superuser, null, 'NULL for a superuser');
  else t.ok(isVanishedDatabase(superuser), 'from 18 on a superuser gets the error too');

  // The first run of the query hits that error, as if the DROP happened mid-query; the collector
  // reads again and reports the databases that exist.
  let calls = 0;
  const racing: QueryFn = async (sql, params) => {
    if (++calls === 1) throw vanished;
    return (await watcher.query(sql, params)).rows;
  };
  const { families } = await collectDirectly(watcher, databaseSize, { query: racing });
  t.equal(calls, 2, 'read again once');
  t.ok(sampleValue(families, 'pg_database_size_bytes', { datname: 'keeper' })! > 0, 'keeper measured');
  t.equal(sampleValue(families, 'pg_database_size_bytes', { datname: 'doomed' }), undefined);

  // Any other error is the collector's failure, not retried.
  let others = 0;
  const denied: QueryFn = async () => {
    others++;
    throw Object.assign(new Error('permission denied for function pg_database_size'), { code: '42501' });
  };
  await t.rejects(collectDirectly(watcher, databaseSize, { query: denied }), /permission denied/);
  t.equal(others, 1, 'not retried');
});
