import { getHeapStatistics } from 'node:v8';
import { HeapTrim } from '../../src/heap-trim.js';

// Run by test/heap-trim.test.ts in a node of its own, with the flags given there. Leaves what a
// poll leaves: old-generation garbage interleaved with live objects, then asks HeapTrim to trim.

const MiB = 1024 * 1024;
const trim = new HeapTrim(4 * MiB);
const live: object[] = [];
let garbage: object[] | undefined = [];
for (let i = 0; i < 400_000; i++) {
  const row = { relname: `table_${i}`, values: [i, i + 0.5, i * 2.5] };
  // One in ten stays: the rest dies beside it, on the same pages.
  if (i % 10 === 0) live.push(row);
  else garbage.push(row);
}
garbage = undefined;
const before = getHeapStatistics();
const trimmed = trim.idle();
const after = getHeapStatistics();
const again = trim.idle();
process.stdout.write(
  JSON.stringify({
    enabled: trim.enabled,
    trimmed,
    again,
    totalBefore: before.total_heap_size / MiB,
    totalAfter: after.total_heap_size / MiB,
    usedAfter: after.used_heap_size / MiB,
    live: live.length,
  }),
);
