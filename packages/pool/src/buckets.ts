// Latency bucket bounds shared by the exporter's statement histograms (estimated from
// pg_stat_statements) and the application's query histograms (exact), so both sides of one
// query class can be compared bucket by bucket and an objective is always a bucket boundary.

/** 0.5 ms .. 30 s; every class objective (and the slow-query threshold) is added as a bound. */
export const BASE_BOUNDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export function bucketBounds(extra: readonly number[]): number[] {
  return [...new Set([...BASE_BOUNDS, ...extra])].sort((a, b) => a - b);
}

/** Index of the first bound >= value (Prometheus `le`), or bounds.length for +Inf. */
export function bucketIndex(bounds: ArrayLike<number>, value: number): number {
  let lo = 0;
  let hi = bounds.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (bounds[mid]! >= value) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
