import { bucketIndex, quantileFromCounts } from '../src/statements/histogram.js';
import { truthQuantile, truthShareWithin } from './latency-truth.js';

// Exporter vs truth for one shape: the share of calls within the objective, and p50/p95/p99 the
// way Prometheus' histogram_quantile reads cumulative buckets (linear inside a bucket, the
// highest finite bound when the rank falls in +Inf). Targets: share within 3 percentage points;
// p95 and p99 in the truth's bucket or a neighbouring one.

export const SHARE_TOLERANCE = 0.03;
export const QUANTILES = [0.5, 0.95, 0.99] as const;

export interface Histogram {
  /** Finite upper bounds, ascending. */
  readonly bounds: readonly number[];
  /** Cumulative counts per finite bound. */
  readonly buckets: readonly number[];
  /** The +Inf bucket. */
  readonly count: number;
  /** _sum, when read from an exposition. */
  readonly sum?: number;
}

export interface Comparison {
  readonly calls: { readonly truth: number; readonly exporter: number };
  readonly share: { readonly truth: number; readonly exporter: number; readonly ok: boolean };
  readonly quantiles: readonly {
    readonly q: number;
    readonly truth: number;
    readonly exporter: number;
    /** Buckets between the estimate's and the truth's bucket (0: same bucket). */
    readonly bucketsOff: number;
    /** Only p95 and p99 have a target; p50 is printed for context. */
    readonly ok: boolean | null;
  }[];
  readonly ok: boolean;
}

/** Per-bucket (not cumulative) counts including +Inf, as quantileFromCounts takes them. */
export function perBucket(h: Histogram): number[] {
  const out = h.buckets.map((c, i) => c - (i === 0 ? 0 : h.buckets[i - 1]!));
  out.push(h.count - (h.buckets[h.buckets.length - 1] ?? 0));
  return out;
}

export function shareWithin(h: Histogram, objectiveSeconds: number): number {
  const i = h.bounds.indexOf(objectiveSeconds);
  if (i === -1) throw new Error(`objective ${objectiveSeconds} is not a bucket bound`);
  return h.count > 0 ? h.buckets[i]! / h.count : 0;
}

export function compare(truth: readonly number[], h: Histogram, objectiveSeconds: number): Comparison {
  const counts = perBucket(h);
  const share = { truth: truthShareWithin(truth, objectiveSeconds), exporter: shareWithin(h, objectiveSeconds) };
  const quantiles = QUANTILES.map((q) => {
    const t = truthQuantile(truth, q);
    const e = quantileFromCounts(h.bounds, counts, q);
    const bucketsOff = Math.abs(bucketIndex(h.bounds, e) - bucketIndex(h.bounds, t));
    return { q, truth: t, exporter: e, bucketsOff, ok: q === 0.5 ? null : bucketsOff <= 1 };
  });
  const shareOk = Math.abs(share.truth - share.exporter) <= SHARE_TOLERANCE;
  return {
    calls: { truth: truth.length, exporter: h.count },
    share: { ...share, ok: shareOk },
    quantiles,
    ok: shareOk && quantiles.every((q) => q.ok !== false),
  };
}

const ms = (s: number) => `${(s * 1000).toFixed(1)} ms`;
const pct = (x: number) => `${(x * 100).toFixed(1)} %`;

/** One Markdown table row per (shape, source): truth | estimate for each figure, and whether targets hold. */
export function tableRow(shape: string, source: string, objectiveSeconds: number, c: Comparison): string {
  const cells = [
    shape,
    source,
    `${c.calls.exporter}/${c.calls.truth}`,
    `${ms(objectiveSeconds)}: ${pct(c.share.truth)} / ${pct(c.share.exporter)}${c.share.ok ? '' : ' ✗'}`,
    ...c.quantiles.map((q) => {
      const miss = q.ok === false ? ` ✗ (${q.bucketsOff} buckets)` : '';
      return `${ms(q.truth)} / ${ms(q.exporter)}${miss}`;
    }),
    c.ok ? 'yes' : 'NO',
  ];
  return `| ${cells.join(' | ')} |`;
}

export const TABLE_HEADER = [
  '| shape | source | calls (est/truth) | within objective (truth / est) ' +
    '| p50 (truth / est) | p95 (truth / est) | p99 (truth / est) | targets met |',
  '|---|---|---|---|---|---|---|---|',
].join('\n');
