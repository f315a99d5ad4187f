import t from 'tap';
import { SizePasses } from '../../src/collectors/size-cache.js';

// The pass logic alone, over a list of OIDs standing for relations; test/collectors/tables-scale.test.ts
// runs it against PostgreSQL.

const OIDS = Array.from({ length: 2600 }, (_, i) => 1000 + i * 3);
const SETTINGS = { intervalMs: 300_000, statementTimeoutMs: 8000, budgetMs: 1000 };

type Read = (after: number, limit: number) => Promise<{ relid: number; bytes: number }[]>;

/** One poll of database app: sizes are the rows' bytes, time is the fake clock. */
const advance = (passes: SizePasses<{ bytes: number }>, now: number, read: Read, clock: { t: number }) =>
  passes.advance(
    'app',
    now,
    read,
    (r) => ({ bytes: r.bytes }),
    () => clock.t,
  );

/** A batch reader over OIDS that records its calls; `took` is the fake time one batch takes. */
function reader(oids: number[], took: (limit: number) => number, clock: { t: number }) {
  const calls: { after: number; limit: number }[] = [];
  const read = async (after: number, limit: number) => {
    calls.push({ after, limit });
    clock.t += took(limit);
    return oids
      .filter((o) => o > after)
      .slice(0, limit)
      .map((relid) => ({ relid, bytes: relid * 10 }));
  };
  return { calls, read };
}

t.test('a pass reads OID batches, grows fast batches, and completes', async (t) => {
  const clock = { t: 0 };
  const passes = new SizePasses<{ bytes: number }>(SETTINGS);
  const { calls, read } = reader(OIDS, () => 10, clock);
  await advance(passes, 0, read, clock);
  t.same(
    calls.map((c) => c.limit),
    [500, 1000, 2000],
    'fast batches double',
  );
  t.equal(calls[1]!.after, OIDS[499], 'the next batch starts after the last OID read');
  t.equal(passes.lookup('app', OIDS[2599]!)?.bytes, OIDS[2599]! * 10);
  t.same(passes.status('app', 0), { stale: 0, ageSeconds: 0 }, 'complete: not stale');
  calls.length = 0;
  await advance(passes, 60_000, read, clock);
  t.equal(calls.length, 0, 'no read before the interval has passed');
});

t.test('a poll stops at its budget and the next one resumes; old sizes are served meanwhile', async (t) => {
  const clock = { t: 0 };
  const passes = new SizePasses<{ bytes: number }>(SETTINGS);
  // 600 ms a batch: over the 1000 ms budget after two batches.
  const slow = reader(OIDS, () => 600, clock);
  await advance(passes, 0, slow.read, clock);
  t.equal(slow.calls.length, 2, 'two batches fit the budget');
  t.equal(passes.status('app', 0).stale, 1, 'never complete: stale');
  t.equal(passes.lookup('app', OIDS[0]!)?.bytes, OIDS[0]! * 10, 'what was read is served already');
  await advance(passes, 60_000, slow.read, clock);
  t.ok(slow.calls[2]!.after > slow.calls[1]!.after, 'the third batch starts after the second');
  for (let poll = 2; passes.status('app', poll * 60_000).stale === 1 && poll < 20; poll++) {
    await advance(passes, poll * 60_000, slow.read, clock);
  }
  t.equal(passes.status('app', 300_000).stale, 0, 'the pass completes over several polls');
  t.equal([...passes.all('app')].length, OIDS.length, 'every object sized once');

  // A new pass: objects dropped since vanish once it completes; until then the old size is served.
  const fewer = OIDS.slice(0, 100);
  const next = reader(fewer, () => 10, clock);
  await passes.advance(
    'app',
    700_000,
    next.read,
    (r) => ({ bytes: r.bytes + 1 }),
    () => clock.t,
  );
  t.equal(passes.lookup('app', OIDS[5]!)?.bytes, OIDS[5]! * 10 + 1, 'the new pass is served');
  t.equal(passes.lookup('app', OIDS[500]!), undefined, 'a dropped object is forgotten');
});

t.test('a batch cancelled by the statement timeout is retried smaller on the next poll', async (t) => {
  const clock = { t: 0 };
  const passes = new SizePasses<{ bytes: number }>(SETTINGS);
  const calls: number[] = [];
  const read = async (after: number, limit: number) => {
    calls.push(limit);
    if (limit > 200) throw Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' });
    return OIDS.filter((o) => o > after)
      .slice(0, limit)
      .map((relid) => ({ relid, bytes: 1 }));
  };
  await advance(passes, 0, read, clock);
  t.same(calls, [500], 'the poll stops at the cancelled batch');
  t.equal(passes.status('app', 0).stale, 1);
  await advance(passes, 60_000, read, clock);
  t.equal(calls[1], 125, 'a quarter of the batch next time');
  await t.rejects(
    passes.advance(
      'other',
      0,
      () => Promise.reject(new Error('permission denied')),
      () => ({ bytes: 0 }),
    ),
    /permission denied/,
    'other errors fail the collector as before',
  );
});
