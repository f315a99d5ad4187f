import t from 'tap';
import { eventually, startPgvigil } from '../helpers/pgvigil.js';
import { testPostgres } from '../helpers/postgres.js';

t.test('pg_stat_activity against ground truth', async (t) => {
  const pg = await testPostgres(t);
  await pg.sql('CREATE DATABASE shop');
  const exporter = await startPgvigil(t, pg.url);

  // Five idle connections named "checkout" in database shop.
  for (let i = 0; i < 5; i++) await pg.client('shop', { application_name: 'checkout' });
  let m = await exporter.poll('activity');
  t.equal(m.sum('pg_stat_activity_connections', { datname: 'shop', application_name: 'checkout', state: 'idle' }), 5);
  t.equal(m.value('pg_connections_max'), 100);
  t.ok((m.value('pg_connections_reserved') ?? 0) >= 3, 'superuser_reserved_connections counted');
  // Zero rows: every state of every connectable database, 0 where no session is in it.
  const states = ['active', 'idle', 'idle in transaction', 'idle in transaction (aborted)'];
  for (const state of [...states, 'fastpath function call', 'disabled']) {
    t.ok(m.find('pg_stat_activity_connections', { datname: 'shop', state }).length > 0, `shop has a ${state} row`);
  }
  t.equal(m.sum('pg_stat_activity_connections', { datname: 'shop', state: 'idle in transaction' }), 0);
  t.equal(m.find('pg_stat_activity_connections', { datname: 'template0' }).length, 0, 'not connectable: no rows');
  t.equal(
    m.find('pg_stat_activity_connections', { datname: 'shop', state: 'idle' }).length,
    1,
    'no zero row beside a real one',
  );
  const total = m.sum('pg_stat_activity_connections');
  t.equal(m.value('pg_connections_utilization_ratio'), total / (100 - m.value('pg_connections_reserved')!));

  // An idle-in-transaction session, and a session blocked behind its lock.
  const holder = await pg.client('shop', { application_name: 'holder' });
  await holder.query('CREATE TABLE stock (id int primary key, n int); INSERT INTO stock VALUES (1, 1)');
  await holder.query('BEGIN');
  await holder.query('UPDATE stock SET n = n + 1 WHERE id = 1');
  const waiter = await pg.client('shop', { application_name: 'waiter' });
  const blocked = waiter.query('UPDATE stock SET n = n + 1 WHERE id = 1');
  await eventually(
    async () => {
      m = await exporter.poll('activity');
      return (
        (m.value('pg_stat_activity_blocked_sessions', { datname: 'shop' }) ?? 0) === 1 &&
        (m.value('pg_stat_activity_longest_lock_wait_seconds', { datname: 'shop' }) ?? 0) > 0.2
      );
    },
    10_000,
    'one blocked session waiting > 0.2 s',
  );
  t.equal(m.sum('pg_stat_activity_connections', { application_name: 'waiter', wait_event_type: 'Lock' }), 1);
  t.equal(m.sum('pg_stat_activity_connections', { datname: 'shop', state: 'idle in transaction' }), 1);
  t.ok(
    m.value('pg_stat_activity_oldest_idle_in_transaction_seconds', { datname: 'shop' })! > 0.2,
    'holder idle in transaction',
  );
  t.ok(m.value('pg_stat_activity_oldest_transaction_seconds', { datname: 'shop' })! > 0.2);
  t.ok(m.value('pg_stat_activity_oldest_query_seconds', { datname: 'shop' })! > 0.2, 'waiter query running');
  await holder.query('COMMIT');
  await blocked;
  m = await exporter.poll('activity');
  t.equal(m.value('pg_stat_activity_blocked_sessions', { datname: 'shop' }), 0);
  t.equal(
    m.find('pg_stat_activity_connections', { application_name: 'waiter', wait_event_type: 'Lock' }).length,
    0,
    'vanished label sets vanish from /metrics',
  );
});
