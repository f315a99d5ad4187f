import { bucketIndex } from 'pgvigil-pool/buckets';
import type { HistogramSample, Labels } from '../exposition/families.js';

// The bounds and the bucket search live with the application-side histograms, so both sides share them.
export { BASE_BOUNDS, bucketBounds, bucketIndex } from 'pgvigil-pool/buckets';

// Latency histograms built from pg_stat_statements deltas. PostgreSQL keeps no per-call
// durations, only sums, so each interval a statement's Δcalls are spread over the buckets as
// expected counts (latency-fit.ts), kept as floats. _sum and _count grow by exactly Δtime and
// Δcalls, so rate(_sum)/rate(_count) is the true mean.

/** Cumulative-from-start histograms keyed by a label set; they only ever grow. */
export class DeltaHistograms {
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();

  constructor(readonly bounds: readonly number[]) {}

  /** Counts `calls` observations at their mean (`totalSeconds / calls`), adding `totalSeconds` to the sum. */
  observe(labels: Labels, calls: number, totalSeconds: number): void {
    if (!(calls > 0)) return;
    const s = this.seriesOf(labels);
    s.counts[bucketIndex(this.bounds, totalSeconds / calls)]! += calls;
    s.sum += totalSeconds;
    s.count += calls;
  }

  /**
   * Adds expected counts per bucket (index bounds.length is +Inf) that sum to `calls`; the sum
   * and count grow by the exact `totalSeconds` and `calls`.
   */
  observeSpread(labels: Labels, expected: readonly number[], calls: number, totalSeconds: number): void {
    if (!(calls > 0)) return;
    const s = this.seriesOf(labels);
    for (let i = 0; i < s.counts.length; i++) s.counts[i]! += expected[i]!;
    s.sum += totalSeconds;
    s.count += calls;
  }

  private seriesOf(labels: Labels): { labels: Labels; counts: number[]; sum: number; count: number } {
    const key = JSON.stringify(labels);
    let s = this.series.get(key);
    if (s === undefined) {
      s = { labels, counts: new Array<number>(this.bounds.length + 1).fill(0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    return s;
  }

  /** Drops every series whose labels `keep` refuses (their source is gone for good). */
  forget(keep: (labels: Labels) => boolean): void {
    for (const [key, s] of this.series) if (!keep(s.labels)) this.series.delete(key);
  }

  /** Makes a label set present (all zero) so dashboards see it before its first call. */
  ensure(labels: Labels): void {
    this.seriesOf(labels);
  }

  /**
   * Cumulative buckets as whole calls: the running float total rounded, never above the exact
   * count, so buckets are monotonic (in `le` and over time, since the floats only grow) and +Inf
   * is exactly _count.
   */
  samples(): HistogramSample[] {
    return [...this.series.values()].map((s) => {
      let running = 0;
      const buckets = this.bounds.map((_, i) => {
        running += s.counts[i]!;
        return Math.min(s.count, Math.round(running));
      });
      return { labels: s.labels, buckets, sum: s.sum, count: s.count };
    });
  }

  /** Estimated quantile of one series from its buckets (linear inside a bucket), like histogram_quantile. */
  quantile(labels: Labels, q: number): number | undefined {
    const s = this.series.get(JSON.stringify(labels));
    if (s === undefined || s.count === 0) return undefined;
    return quantileFromCounts(this.bounds, s.counts, q);
  }
}

export function quantileFromCounts(bounds: readonly number[], counts: readonly number[], q: number): number {
  const total = counts.reduce((a, b) => a + b, 0);
  const rank = q * total;
  let cumulative = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i]!;
    if (cumulative + c >= rank && c > 0) {
      if (i >= bounds.length) return bounds[bounds.length - 1]!;
      const lower = i === 0 ? 0 : bounds[i - 1]!;
      return lower + (bounds[i]! - lower) * ((rank - cumulative) / c);
    }
    cumulative += c;
  }
  return bounds[bounds.length - 1]!;
}
