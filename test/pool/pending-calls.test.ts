import t from 'tap';
import { PendingCalls } from '../../packages/pool/src/pending-calls.js';

// Pure logic: the free list of reusable continuations behind the per-query wrappers.

interface Settled {
  readonly state: string;
  readonly text: unknown;
  readonly started: number;
  readonly err: unknown;
  readonly result: unknown;
}

function recorder() {
  const settled: Settled[] = [];
  const calls = new PendingCalls<string>((state, text, started, err, result) =>
    settled.push({ state, text, started, err, result }),
  );
  return { settled, calls };
}

t.test('a callback call settles, then calls the caller with every argument', async (t) => {
  const { settled, calls } = recorder();
  const seen: unknown[][] = [];
  const done = calls.take().forCallback('login', 'SELECT 1', 5, (...args) => seen.push(args));
  t.equal(done.name, 'pgvigilQueryDone', 'node-postgres gets a function the wrapper can recognise');
  done(undefined, 'rows', 'release');
  t.same(settled, [{ state: 'login', text: 'SELECT 1', started: 5, err: undefined, result: 'rows' }]);
  t.same(seen, [[undefined, 'rows', 'release']]);
});

t.test('a finished call goes back to the list and is reused by the next one', async (t) => {
  const { calls } = recorder();
  const first = calls.take();
  first.forCallback('a', undefined, 1, () => {})(undefined, 1);
  t.equal(calls.size, 1);
  t.equal(calls.take(), first, 'the same PendingCall, not a new one');
});

t.test('a callback that queries again reuses the call it came from', async (t) => {
  const { settled, calls } = recorder();
  const first = calls.take();
  let inner: unknown;
  first.forCallback('outer', undefined, 1, () => {
    inner = calls.take();
    (inner as typeof first).forCallback('inner', undefined, 2, () => {})(undefined, 'x');
  })(undefined, 'y');
  t.equal(inner, first);
  t.same(
    settled.map((s) => s.state),
    ['outer', 'inner'],
  );
});

t.test('calls in flight at once each keep their own state', async (t) => {
  const { settled, calls } = recorder();
  const dones = ['a', 'b', 'c'].map((s, i) => calls.take().forCallback(s, `text ${s}`, i, () => {}));
  dones[1]!(undefined, 'B');
  dones[2]!(new Error('C'));
  dones[0]!(undefined, 'A');
  t.same(
    settled.map((s) => [s.state, s.text, s.started, s.result ?? (s.err as Error).message]),
    [
      ['b', 'text b', 1, 'B'],
      ['c', 'text c', 2, 'C'],
      ['a', 'text a', 0, 'A'],
    ],
  );
  t.equal(calls.size, 3);
});

t.test('the promise form resolves with the result and rejects with the error', async (t) => {
  const { settled, calls } = recorder();
  const ok = calls.take();
  const resolved = ok.forPromise('a', 'q', 1);
  ok.done(undefined, 'rows');
  t.equal(await resolved, 'rows');
  const bad = calls.take();
  const rejected = bad.forPromise('b', 'q', 2);
  bad.done(new Error('boom'));
  await t.rejects(rejected, /boom/);
  t.equal(settled.length, 2);
});

t.test('abandon rejects the promise without measuring, and frees the call', async (t) => {
  const { settled, calls } = recorder();
  const call = calls.take();
  const promise = call.forPromise('a', 'q', 1);
  call.abandon(new Error('thrown by node-postgres'));
  await t.rejects(promise, /thrown by node-postgres/);
  t.equal(settled.length, 0);
  t.equal(calls.size, 1);
});

t.test('a second call of one callback is ignored, not settled against another call', async (t) => {
  const { settled, calls } = recorder();
  const done = calls.take().forCallback('a', undefined, 1, () => {});
  done(undefined, 1);
  done(undefined, 2);
  t.equal(settled.length, 1);
});

t.test('a finished call keeps no result or caller alive', async (t) => {
  const { calls } = recorder();
  const call = calls.take();
  call.forCallback('a', 'text', 1, () => {})(undefined, { big: 'result' });
  const fields = call as unknown as Record<string, unknown>;
  for (const name of ['state', 'text', 'callback', 'resolve', 'reject']) t.equal(fields[name], undefined, name);
});

t.test('the list keeps a bounded number of idle calls', async (t) => {
  const calls = new PendingCalls<string>(() => {}, 2);
  const dones = [1, 2, 3].map(() => calls.take().forCallback('a', undefined, 0, () => {}));
  for (const done of dones) done(undefined, 0);
  t.equal(calls.size, 2);
});
