import t from 'tap';
import { testMajors } from '../helpers/majors.js';
import { eventually, startPgvigil } from '../helpers/pgvigil.js';
import { testPostgres } from '../helpers/postgres.js';

// A blocking chain built for real: "holder" (idle in transaction) holds a row lock, "waiter1"
// waits on it, and "waiter2" waits behind waiter1 for an ACCESS EXCLUSIVE lock on the table.

// 13 waits are timed from the query start (no pg_locks.waitstart), 16 from waitstart.
for (const major of testMajors([13, 16]))
  t.test(`locks by mode and a blocking chain attributed to its root blocker on ${major}`, async (t) => {
    const pg = await testPostgres(t, { major });
    await pg.sql('CREATE DATABASE shop');
    await pg.sql('CREATE TABLE stock (id int primary key, n int); INSERT INTO stock VALUES (1, 1)', [], 'shop');
    const exporter = await startPgvigil(t, pg.url);

    let m = await exporter.poll('locks');
    t.equal(m.find('pg_locks_blocking_sessions').length, 0, 'no chain yet');

    const holder = await pg.client('shop', { application_name: 'holder' });
    await holder.query('BEGIN');
    await holder.query('UPDATE stock SET n = n + 1 WHERE id = 1');
    const waiter1 = await pg.client('shop', { application_name: 'waiter1' });
    const w1 = waiter1.query('UPDATE stock SET n = n + 1 WHERE id = 1');
    const waiter2 = await pg.client('shop', { application_name: 'waiter2' });
    await eventually(
      async () =>
        (await pg.sql(`SELECT 1 FROM pg_stat_activity WHERE application_name = 'waiter1' AND wait_event_type = 'Lock'`))
          .length === 1,
    );
    await waiter2.query('BEGIN');
    const w2 = waiter2.query('LOCK TABLE stock IN ACCESS EXCLUSIVE MODE');
    await eventually(
      async () =>
        (await pg.sql(`SELECT 1 FROM pg_stat_activity WHERE application_name = 'waiter2' AND wait_event_type = 'Lock'`))
          .length === 1,
    );

    const root = { datname: 'shop', state: 'idle in transaction', application_name: 'holder' };
    await eventually(
      async () => {
        m = await exporter.poll('locks');
        return (
          m.value('pg_locks_waiting_sessions', root) === 2 &&
          (m.value('pg_locks_longest_wait_seconds', root) ?? 0) > 0.3
        );
      },
      15_000,
      'two sessions waiting behind holder for > 0.3 s',
    );
    t.equal(m.value('pg_locks_blocking_sessions', root), 1, 'one root blocker: holder, idle in transaction');
    t.equal(m.value('pg_locks_blocking_chain_depth', root), 2, 'waiter2 waits on waiter1 (and holder): depth 2');
    t.equal(m.find('pg_locks_blocking_sessions', { application_name: 'waiter1' }).length, 0, 'waiter1 is not a root');

    // Background processes may take locks between our poll and the truth query: compare a matching pair.
    let truth: { rx: number; waiting: number } | undefined;
    await eventually(
      async () => {
        m = await exporter.poll('locks');
        [truth] = await pg.sql<{ rx: number; waiting: number }>(`
      SELECT count(*) FILTER (WHERE mode = 'RowExclusiveLock' AND granted)::float8 AS rx,
             count(*) FILTER (WHERE NOT granted)::float8 AS waiting
      FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.datname = 'shop'`);
        return (
          m.sum('pg_locks', { datname: 'shop', granted: 'false' }) === truth!.waiting &&
          m.sum('pg_locks', { datname: 'shop', mode: 'RowExclusiveLock', granted: 'true' }) === truth!.rx
        );
      },
      10_000,
      'pg_locks counts equal to a query of pg_locks',
    );
    t.equal(
      m.sum('pg_locks', { datname: 'shop', mode: 'RowExclusiveLock', granted: 'true' }),
      truth!.rx,
      'RowExclusiveLock held',
    );
    t.equal(
      m.sum('pg_locks', { datname: 'shop', granted: 'false' }),
      truth!.waiting,
      `${truth!.waiting} awaited locks`,
    );
    t.equal(
      m.value('pg_locks', { datname: 'shop', mode: 'AccessExclusiveLock', granted: 'false' }),
      1,
      'the LOCK TABLE waits',
    );

    await holder.query('COMMIT');
    await w1;
    await w2;
    await waiter2.query('COMMIT');
    m = await exporter.poll('locks');
    t.equal(m.find('pg_locks_blocking_sessions').length, 0, 'chain gone: its series vanish');
    t.equal(m.sum('pg_locks', { granted: 'false' }), 0);
    // Zero rows: every mode, held and awaited, in every connectable database.
    for (const mode of ['AccessShareLock', 'ShareUpdateExclusiveLock', 'AccessExclusiveLock', 'SIReadLock']) {
      for (const granted of ['true', 'false']) {
        t.equal(m.find('pg_locks', { datname: 'shop', mode, granted }).length, 1, `shop ${mode} ${granted}: one row`);
      }
    }
    t.equal(m.value('pg_locks', { datname: 'shop', mode: 'AccessExclusiveLock', granted: 'false' }), 0);
  });
