import t from 'tap';
import { testMajors } from '../helpers/majors.js';
import { createMonitoringRole } from '../helpers/monitoring-role.js';
import { eventually, startPgvigil } from '../helpers/pgvigil.js';
import { testPostgres } from '../helpers/postgres.js';

// GET /api/locks on a real two-level chain, read by pgvigil as the pg_monitor-only role: "holder"
// sits idle in transaction on a row lock, "waiter1" waits for that row, "waiter2" waits for an
// ACCESS EXCLUSIVE lock on the table behind both. The table's name is hostile on purpose: it
// reaches the JSON as a quoted identifier, and the holder's literal never leaves the process.

const TABLE = '"<img src=x onerror=alert(1)>"';

interface Node {
  pid: number;
  application_name: string;
  user: string;
  state: string;
  state_seconds: number;
  waiting_for: { lock_type: string; mode: string; relation: string | null; seconds: number | null } | null;
  query: string;
  blocking: Node[];
}

for (const major of testMajors([13, 16]))
  t.test(`/api/locks shows the blocking tree of an idle-in-transaction root on ${major}`, async (t) => {
    const pg = await testPostgres(t, { major });
    await pg.sql(`CREATE TABLE ${TABLE} (id int primary key, note text); INSERT INTO ${TABLE} VALUES (1, '')`);
    await createMonitoringRole(pg, 'pgvigil', 'secret-pw');
    const exporter = await startPgvigil(t, pg.urlFor('postgres', 'pgvigil', 'secret-pw'));
    const locks = async () => JSON.parse((await exporter.pgvigil.app.inject({ url: '/api/locks' })).body);

    await exporter.poll('locks');
    t.same((await locks()).trees, [], 'no blocking yet');

    const holder = await pg.client('postgres', { application_name: 'holder' });
    await holder.query('BEGIN');
    await holder.query(`UPDATE ${TABLE} SET note = 'secret-literal' WHERE id = 1`);
    const waiter1 = await pg.client('postgres', { application_name: 'waiter1' });
    const w1 = waiter1.query(`UPDATE ${TABLE} SET note = 'w1' WHERE id = 1`);
    const lockWait = (app: string) => `SELECT 1 FROM pg_stat_activity
      WHERE application_name = '${app}' AND wait_event_type = 'Lock'`;
    await eventually(async () => (await pg.sql(lockWait('waiter1'))).length === 1, 10_000, 'waiter1 waits');
    const waiter2 = await pg.client('postgres', { application_name: 'waiter2' });
    await waiter2.query('BEGIN');
    const w2 = waiter2.query(`LOCK TABLE ${TABLE} IN ACCESS EXCLUSIVE MODE`);
    await eventually(async () => (await pg.sql(lockWait('waiter2'))).length === 1, 10_000, 'waiter2 waits');

    await exporter.poll('locks');
    const snapshot = await locks();
    t.ok(Date.parse(snapshot.at) > 0, 'when the locks collector read it');
    t.equal(snapshot.trees.length, 1, 'one root');
    const root: Node = snapshot.trees[0];
    const [truth] = await pg.sql<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE application_name = 'holder'`);
    t.equal(root.pid, truth!.pid, 'the root is the holder');
    t.equal(root.application_name, 'holder');
    t.equal(root.user, 'postgres');
    t.equal(root.state, 'idle in transaction');
    t.equal(root.waiting_for, null, 'the root waits for nothing');
    t.match(root.query, /SET note = \? WHERE id = \?/, 'redacted query');
    t.notMatch(JSON.stringify(snapshot), /secret-literal/, 'the literal never leaves the process');

    const first = root.blocking.find((n) => n.application_name === 'waiter1');
    t.ok(first, 'waiter1 waits on the root');
    t.equal(first!.waiting_for?.lock_type, 'transactionid');
    t.equal(first!.waiting_for?.mode, 'ShareLock');
    t.ok((first!.waiting_for?.seconds ?? -1) >= 0, 'wait time known');
    const second = first!.blocking.find((n) => n.application_name === 'waiter2');
    t.ok(second, 'waiter2 waits on waiter1: the second level');
    t.equal(second!.waiting_for?.mode, 'AccessExclusiveLock');
    t.equal(second!.waiting_for?.relation, TABLE, 'relation named (quoted) in the connection database');
    t.same(second!.blocking, []);

    await holder.query('COMMIT');
    await w1;
    await w2;
    await waiter2.query('COMMIT');
    await exporter.poll('locks');
    t.same((await locks()).trees, [], 'the chain is gone');
  });
