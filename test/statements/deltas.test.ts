import t from 'tap';
import { diffSnapshots, type EntrySnapshot, entryKey, zeroCounters } from '../../src/statements/deltas.js';

const entry = (queryid: string, calls: number, seconds: number, extra: Partial<EntrySnapshot> = {}): EntrySnapshot => ({
  dbid: 1,
  userid: 10,
  queryid,
  toplevel: true,
  statsSince: null,
  counters: { ...zeroCounters(), calls, exec_seconds: seconds },
  ...extra,
});
const snap = (entries: EntrySnapshot[], statsReset: number | null = 100) => ({
  entries: new Map(entries.map((e) => [entryKey(e), e])),
  statsReset,
});

t.test('first poll is a baseline: no deltas', async (t) => {
  const d = diffSnapshots(undefined, [entry('1', 100, 5)], 100);
  t.ok(d.baseline);
  t.equal(d.deltas.size, 0);
});

t.test('deltas, new entries and vanished entries', async (t) => {
  const d = diffSnapshots(snap([entry('1', 10, 1), entry('2', 5, 1)]), [entry('1', 15, 1.5), entry('3', 4, 0.2)], 100);
  t.equal(d.deltas.get(entryKey(entry('1', 0, 0)))!.calls, 5);
  t.equal(d.deltas.get(entryKey(entry('1', 0, 0)))!.exec_seconds, 0.5);
  t.equal(d.deltas.get(entryKey(entry('3', 0, 0)))!.calls, 4, 'a new entry counts from zero');
  t.equal(d.newEntries, 1);
  t.equal(d.vanished, 1);
});

t.test('toplevel is part of the key', async (t) => {
  const prev = snap([entry('1', 10, 1), entry('1', 3, 1, { toplevel: false })]);
  const d = diffSnapshots(prev, [entry('1', 11, 1.1), entry('1', 5, 1.2, { toplevel: false })], 100);
  t.equal(d.deltas.size, 2);
  t.equal(d.deltas.get(entryKey(entry('1', 0, 0, { toplevel: false })))!.calls, 2);
});

t.test('resets never produce negative deltas or the old total again', async (t) => {
  // Entry reset (negative delta): the delta is the new value.
  let d = diffSnapshots(snap([entry('1', 100, 10)]), [entry('1', 3, 0.3)], 100);
  t.equal(d.deltas.get(entryKey(entry('1', 0, 0)))!.calls, 3);
  t.equal(d.entryResets, 1);
  // Full reset (stats_reset moved) even though calls grew past the old value.
  d = diffSnapshots(snap([entry('1', 5, 1)], 100), [entry('1', 8, 2)], 200);
  t.ok(d.fullReset);
  t.equal(d.deltas.get(entryKey(entry('1', 0, 0)))!.calls, 8);
  // stats_since (1.11+) moved: the entry restarted.
  d = diffSnapshots(snap([entry('1', 5, 1, { statsSince: 1 })]), [entry('1', 9, 2, { statsSince: 2 })], 100);
  t.equal(d.deltas.get(entryKey(entry('1', 0, 0)))!.calls, 9);
  // No field ever goes negative.
  const prev = entry('1', 5, 1);
  prev.counters.rows = 50;
  d = diffSnapshots(snap([prev]), [entry('1', 6, 1.1)], 100);
  t.equal(d.deltas.get(entryKey(prev))!.rows, 0);
});
