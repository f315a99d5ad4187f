import { getHeapStatistics, setFlagsFromString } from 'node:v8';

// A poll leaves its garbage behind: the rows of 4000 statements or 6000 indexes outlive a young
// generation of 2 MiB, so they die in the old one, which V8 grows to hold them. With nothing
// allocating between polls, V8's own memory reducer gives that memory back only 8 s or more
// later, and the heap of a big fixture sat 10-15 MB above its live size most of the time
// (measured with bench/). So when the poller goes idle after polls that grew the heap by more than a
// threshold, pgvigil collects at once and compacts, which returns the emptied pages to the system.
//
// Needs node's --expose-gc (the entry point's flags); without it this does nothing.

/** Growth below this share of the live heap never triggers a trim: a big heap is trimmed less often. */
const MIN_GROWTH_SHARE = 0.25;

export class HeapTrim {
  /** Heap in use right after the last trim (or at start). */
  private baseline: number;

  constructor(
    /** Bytes the heap must have grown since the last trim; 0 turns trimming off. */
    private readonly thresholdBytes: number,
    private readonly gc: (() => void) | undefined = exposedGc(),
    private readonly heapUsed: () => number = () => getHeapStatistics().used_heap_size,
  ) {
    this.baseline = heapUsed();
  }

  /** Whether trimming can happen at all (a threshold set and gc exposed). */
  get enabled(): boolean {
    return this.thresholdBytes > 0 && this.gc !== undefined;
  }

  /** Call when the poller has just gone idle; returns whether it collected. */
  idle(): boolean {
    if (!this.enabled) return false;
    const used = this.heapUsed();
    // V8 collected on its own meanwhile: measure growth from there.
    this.baseline = Math.min(this.baseline, used);
    if (used - this.baseline < Math.max(this.thresholdBytes, this.baseline * MIN_GROWTH_SHARE)) return false;
    // A full GC only frees the pages that became entirely empty; the garbage of a poll lies
    // between live objects, so this one moves them together (V8 otherwise compacts by heuristics).
    setFlagsFromString('--compact-on-every-full-gc');
    try {
      this.gc!();
    } finally {
      setFlagsFromString('--no-compact-on-every-full-gc');
    }
    this.baseline = this.heapUsed();
    return true;
  }
}

function exposedGc(): (() => void) | undefined {
  const gc = (globalThis as { gc?: unknown }).gc;
  return typeof gc === 'function' ? () => (gc as () => void)() : undefined;
}
