import t from 'tap';
import { buildLockTrees, type LockSessionRow } from '../../src/collectors/lock-trees.js';

// The tree shape from hand-written sessions: a waiter behind two blockers appears under both, a
// deadlock cycle not yet broken has no root and shows no tree, a session gone between the two
// reads is left out.

const session = (pid: number, blockedBy: number[], query = ''): LockSessionRow => ({
  pid,
  blocked_by: blockedBy.join(','),
  datname: 'shop',
  usename: 'app',
  application_name: `app${pid}`,
  state: blockedBy.length === 0 ? 'idle in transaction' : 'active',
  state_seconds: 1.23456,
  wait_event_type: blockedBy.length === 0 ? 'Client' : 'Lock',
  wait_event: blockedBy.length === 0 ? 'ClientRead' : 'relation',
  wait_seconds: blockedBy.length === 0 ? null : 2,
  lock_type: 'relation',
  lock_mode: 'AccessExclusiveLock',
  lock_relation: blockedBy.length === 0 ? '' : 'stock',
  query,
});

t.test('a waiter behind two blockers appears under each, with the awaited lock', async (t) => {
  const rows = [session(1, [], "UPDATE stock SET note = 'x'"), session(2, [1]), session(3, [1, 2])];
  const { trees } = buildLockTrees(rows, Date.UTC(2026, 10, 29));
  t.equal(trees.length, 1);
  const root = trees[0]!;
  t.equal(root.pid, 1);
  t.equal(root.query, 'UPDATE stock SET note = ?');
  t.equal(root.state_seconds, 1.235);
  t.same(
    root.blocking.map((n) => n.pid),
    [2, 3],
  );
  t.same(
    root.blocking[0]!.blocking.map((n) => n.pid),
    [3],
  );
  t.same(root.blocking[1]!.waiting_for, {
    lock_type: 'relation',
    mode: 'AccessExclusiveLock',
    relation: 'stock',
    seconds: 2,
  });
});

t.test('a cycle has no root; a blocker that ended is left out', async (t) => {
  t.same(buildLockTrees([session(1, [2]), session(2, [1])], 0).trees, []);
  t.same(buildLockTrees([session(2, [9])], 0).trees, [], 'pid 9 ended before pg_stat_activity was read');
});
