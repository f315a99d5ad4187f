import type { DiffResult } from './deltas.js';

// Resets and evictions of the pg_stat_statements store as counters that survive them:
// pg_stat_statements_info.dealloc itself restarts from zero on a full reset.

export class StoreResets {
  full = 0;
  entry = 0;
  /** Evictions across resets. */
  dealloc = 0;
  private lastDealloc: number | null = null;

  record(diff: DiffResult, dealloc: number | null): void {
    if (diff.fullReset) this.full++;
    this.entry += diff.entryResets;
    if (dealloc === null) return;
    const rebase = diff.baseline || diff.fullReset;
    if (this.lastDealloc !== null && !rebase) this.dealloc += Math.max(0, dealloc - this.lastDealloc);
    else if (this.lastDealloc !== null)
      this.dealloc += dealloc; // reset: what was counted since
    else this.dealloc = dealloc;
    this.lastDealloc = dealloc;
  }
}
