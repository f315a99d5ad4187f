import { isDeepStrictEqual } from 'node:util';

// PostgreSQL publishes many statistics on its own schedule: a backend flushes its pending
// counters when it goes idle (at most once a second from 15 on, later if the stats lock is busy)
// or when it exits, after its client has already been told the connection is closed; the
// background writer and the checkpointer report when their loop comes round. A test that reads
// the view once and polls the exporter once may see a flush land in between, and a faster
// machine moves where it lands. Reading the view before and after the poll until the two reads
// agree gives a moment the value held still, so the exporter's value can be held to it exactly.

/**
 * Reads `view`, runs `poll`, reads `view` again, until both reads are equal; returns that poll's
 * result and the view's value at the time. Throws after `timeoutMs` if the view never holds still.
 */
export async function steadyRead<V, P>(
  view: () => Promise<V>,
  poll: () => Promise<P>,
  what = 'the view to hold still around a poll',
  timeoutMs = 15_000,
): Promise<{ polled: P; view: V }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const before = await view();
    const polled = await poll();
    const after = await view();
    if (isDeepStrictEqual(before, after)) return { polled, view: after };
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
