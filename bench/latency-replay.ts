import { bucketBounds } from '../src/statements/histogram.js';
import { intervalMoments } from '../src/statements/interval-moments.js';
import { type LatencyFit, spreadCalls } from '../src/statements/latency-fit.js';
import type { Histogram } from './latency-compare.js';
import type { RawStatementRow } from './latency-harness.js';

// Replays the raw pg_stat_statements readings taken after each poll through one fit, the way
// the engine does (latency-histograms.ts), so every fit is judged on the same intervals.

export function replay(
  rows: readonly (RawStatementRow | undefined)[],
  objectives: readonly number[],
  fit: LatencyFit,
): Histogram {
  const bounds = bucketBounds(objectives);
  const counts = new Array<number>(bounds.length + 1).fill(0);
  let previous: RawStatementRow | undefined;
  let total = 0;
  for (const row of rows) {
    if (row === undefined) continue;
    const before = previous;
    previous = row;
    if (before === undefined && row === rows[0]) continue; // the baseline
    const calls = row.calls - (before?.calls ?? 0);
    const seconds = row.totalSeconds - (before?.totalSeconds ?? 0);
    if (calls <= 0) continue;
    const result = intervalMoments(before, row, calls, seconds);
    spreadCalls(bounds, result.moments, fit, counts);
    total += calls;
  }
  let running = 0;
  const buckets = bounds.map((_, i) => {
    running += counts[i]!;
    return Math.min(total, Math.round(running));
  });
  return { bounds, buckets, count: total };
}
