import type { IntervalMoments } from './latency-fit.js';

// One interval's count, mean and variance of a pg_stat_statements entry, from two cumulative
// readings. The view gives per entry calls, total time, mean and stddev_exec_time (the
// POPULATION standard deviation, kept by Welford's method), so calls × stddev² is the entry's sum
// of squared deviations M2. Two readings combine like partitions of one sample (Chan et al.):
//   M2_now = M2_before + M2_interval + n_before · n / n_now · (mean_before − mean_interval)²
// which we solve for M2_interval. Working with M2 instead of the raw sum of squares
// (calls × (stddev² + mean²)) avoids subtracting two huge nearly equal numbers: the mean² part,
// which dominates for fast statements, is never accumulated.

export interface CumulativeMoments {
  readonly calls: number;
  readonly meanSeconds: number;
  /** Population standard deviation over the entry's life (stddev_exec_time). */
  readonly stddevSeconds: number;
  readonly minSeconds: number;
  readonly maxSeconds: number;
}

export type FallbackReason =
  | 'missing_moments'
  | 'negative_variance'
  | 'imprecise_variance'
  | 'mean_outside_extremes'
  | 'variance_above_bound';
export const FALLBACK_REASONS: readonly FallbackReason[] = [
  'missing_moments',
  'negative_variance',
  'imprecise_variance',
  'mean_outside_extremes',
  'variance_above_bound',
];

export type IntervalResult =
  | { readonly ok: true; readonly moments: IntervalMoments }
  /** The moments can't be trusted: count the calls at the interval mean, and say why. */
  | { readonly ok: false; readonly reason: FallbackReason; readonly moments: IntervalMoments };

/**
 * Relative float error of the terms M2 is computed from: the view's stddev is a rounded square
 * root in milliseconds, converted and squared again here (a few ulps each, with a wide margin).
 */
const RELATIVE_ERROR = 1e-13;
/** A standard deviation below 0.1 % of the mean is no spread worth drawing: the mean is exact enough. */
const NEGLIGIBLE_VARIANCE = 1e-6;
/** Relative slack when comparing the mean with the extremes. */
const EXTREMES_SLACK = 1e-9;

/**
 * `before` is the previous reading of the same entry, or undefined when the interval's calls are
 * all the entry has (new entry, reset, eviction and re-creation: the delta is the current value).
 * `calls` and `seconds` are the interval's exact deltas.
 */
export function intervalMoments(
  before: CumulativeMoments | undefined,
  now: CumulativeMoments,
  calls: number,
  seconds: number,
): IntervalResult {
  const mean = seconds / calls;
  const atMean: IntervalMoments = { calls, mean, variance: 0, min: mean, max: mean };
  const numbers = [now.calls, now.meanSeconds, now.stddevSeconds, now.minSeconds, now.maxSeconds];
  if (!numbers.every(Number.isFinite)) return { ok: false, reason: 'missing_moments', moments: atMean };
  if (calls === 1) return { ok: true, moments: atMean };

  const m2Now = now.calls * now.stddevSeconds ** 2;
  const fresh = before === undefined || calls >= now.calls;
  let m2: number;
  let scale: number; // the size of the terms subtracted, for the float error bound
  if (fresh) {
    m2 = m2Now;
    scale = m2Now;
  } else {
    const m2Before = before.calls * before.stddevSeconds ** 2;
    const shift = ((before.calls * calls) / now.calls) * (before.meanSeconds - mean) ** 2;
    m2 = m2Now - m2Before - shift;
    scale = m2Now + m2Before + shift;
  }
  let variance = m2 / calls;
  // What float error alone could make of the variance: with 10^12 calls behind an interval of
  // ten, the cumulative sums swamp the interval's own spread.
  const noise = (RELATIVE_ERROR * scale) / calls;
  if (!Number.isFinite(variance)) return { ok: false, reason: 'missing_moments', moments: atMean };
  if (variance < -noise) return { ok: false, reason: 'negative_variance', moments: atMean };
  if (variance <= noise) {
    if (noise > NEGLIGIBLE_VARIANCE * mean * mean) return { ok: false, reason: 'imprecise_variance', moments: atMean };
    variance = 0;
  }

  let min = now.minSeconds;
  let max = now.maxSeconds;
  const meanSlack = EXTREMES_SLACK * Math.max(Math.abs(max), Math.abs(mean));
  if (mean < min - meanSlack || mean > max + meanSlack) {
    return { ok: false, reason: 'mean_outside_extremes', moments: atMean };
  }
  min = Math.min(min, mean);
  max = Math.max(max, mean);
  const bound = (max - mean) * (mean - min);
  // Up to 1 % over the bound is rounding in the view's own sums (stddev is a rounded square root);
  // beyond that the extremes do not belong to these calls.
  if (variance > bound * 1.01 + noise) return { ok: false, reason: 'variance_above_bound', moments: atMean };
  return { ok: true, moments: { calls, mean, variance: Math.min(variance, bound), min, max } };
}
