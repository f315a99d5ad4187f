import t from 'tap';
import { startPgvigil } from '../helpers/pgvigil.js';
import { testPostgres } from '../helpers/postgres.js';

// pgvigil's sessions start with default_transaction_read_only=on: a collector query that tries
// to write (a bug, or a query class someone pasted) fails with 25006 instead of changing data,
// even when pgvigil connects as a role that could write.

t.test('writes through pgvigil connections fail with 25006', async (t) => {
  const pg = await testPostgres(t);
  await pg.sql('CREATE TABLE precious (id int); INSERT INTO precious VALUES (1)');
  const exporter = await startPgvigil(t, pg.url);
  const db = exporter.pgvigil.db;
  const attempts = [
    'INSERT INTO precious VALUES (2)',
    'UPDATE precious SET id = 3',
    'DELETE FROM precious',
    'CREATE TABLE sneaky (id int)',
    'DROP TABLE precious',
    "SELECT nextval('x')",
  ];
  await pg.sql('CREATE SEQUENCE x');
  for (const sql of attempts) {
    const err = await db
      .withConnection(db.defaultDatabase, 5000, (lease) => lease.client.query(sql))
      .then(
        () => undefined,
        (e: unknown) => e as { code?: string },
      );
    t.equal(err?.code, '25006', `${sql}: read_only_sql_transaction`);
  }
  const [row] = await pg.sql<{ n: number; ro: string }>(`SELECT count(*)::int AS n, max(id)::text AS ro FROM precious`);
  t.same(row, { n: 1, ro: '1' }, 'the table is untouched');
  const [setting] = await db.withConnection(
    db.defaultDatabase,
    5000,
    async (l) =>
      (await l.client.query<{ s: string }>("SELECT current_setting('default_transaction_read_only') AS s")).rows,
  );
  t.equal(setting?.s, 'on', 'session default is read-only');
});
