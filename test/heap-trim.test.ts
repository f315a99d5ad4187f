import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { nodeFlagsOf } from '../bench/exporters.js';
import { HeapTrim } from '../src/heap-trim.js';

const MiB = 1024 * 1024;
const root = join(dirname(fileURLToPath(import.meta.url)), '..');

t.test('trims only after the heap grew by the threshold and by a quarter since the last trim', async (t) => {
  let used = 20 * MiB;
  let collections = 0;
  const trim = new HeapTrim(
    4 * MiB,
    () => {
      collections++;
      used = 21 * MiB; // what survives
    },
    () => used,
  );
  t.ok(trim.enabled);
  used = 24 * MiB;
  t.notOk(trim.idle(), '4 MiB above 20 but below a quarter of it (5 MiB)');
  used = 25.5 * MiB;
  t.ok(trim.idle(), 'above both');
  t.equal(collections, 1);
  used = 25 * MiB;
  t.notOk(trim.idle(), 'measured from the 21 MiB left after the trim');
  used = 12 * MiB; // V8 collected on its own
  t.notOk(trim.idle());
  used = 16.5 * MiB;
  t.ok(trim.idle(), 'growth counts from where V8 left the heap, with the 4 MiB floor');
  t.equal(collections, 2);
});

t.test('off with a threshold of 0, and without an exposed gc', async (t) => {
  let collections = 0;
  const off = new HeapTrim(
    0,
    () => collections++,
    () => 1000 * MiB,
  );
  t.notOk(off.enabled);
  t.notOk(off.idle());
  const noGc = new HeapTrim(4 * MiB, undefined, () => 1000 * MiB);
  t.notOk(noGc.enabled);
  t.notOk(noGc.idle());
  t.equal(collections, 0);
});

// The real thing: a node started with pgvigil's own flags (main.ts's first line) gives the
// emptied pages back. A plain full GC would free the garbage but keep most pages, since every
// page still holds some live rows.
t.test('with the entry point flags, a trim returns the pages the garbage held', async (t) => {
  const flags = nodeFlagsOf(join(root, 'src', 'main.ts'));
  t.ok(flags.includes('--expose-gc'), 'the entry point exposes gc');
  const child = spawnSync(
    process.execPath,
    [...process.execArgv, ...flags, join(root, 'test', 'helpers', 'heap-trim-child.ts')],
    {
      encoding: 'utf8',
      env: { ...process.env, NODE_OPTIONS: '' },
    },
  );
  t.equal(child.status, 0, child.stderr);
  const r = JSON.parse(child.stdout) as Record<string, number | boolean>;
  t.equal(r.enabled, true);
  t.equal(r.trimmed, true);
  t.equal(r.again, false, 'nothing grew since');
  t.equal(r.live, 40_000);
  const [before, after, used] = [r.totalBefore as number, r.totalAfter as number, r.usedAfter as number];
  const freed = before - after;
  t.ok(freed > 20, `heap ${before.toFixed(1)} → ${after.toFixed(1)} MiB (${used.toFixed(1)} MiB in use)`);
  t.ok(after < used * 1.5 + 4, 'close to what is live');
});
