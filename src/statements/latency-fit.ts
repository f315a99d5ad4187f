// How one interval's calls of one statement are spread over histogram buckets. pg_stat_statements
// keeps no per-call durations: per interval we know the number of calls, their mean and variance,
// and bounds every call lies within (the entry's min_exec_time and max_exec_time). A distribution
// on [min, max] with that mean and variance stands in for the unknown one.
//
// The default fit is a Beta distribution scaled to [min, max] with the interval's mean and
// variance. It is the one family that covers the shapes in between: the Bhatia–Davis inequality
// says variance <= (max - mean)(mean - min), with equality only for a two-point mass at min and
// max, and as the variance approaches that bound the moment-matched Beta converges to exactly that
// two-point mass (a bimodal statement: fast path plus slow path); at a third of the bound with the
// mean centred it is the uniform distribution; far below the bound it is a skewed, gamma-like hump
// (what most latencies look like). The other fits are kept for comparison (bench/latency-accuracy.ts).

export interface IntervalMoments {
  readonly calls: number;
  readonly mean: number;
  /** Population variance of the interval's calls (0 for one call). */
  readonly variance: number;
  /** Every call of the interval lies in [min, max]. */
  readonly min: number;
  readonly max: number;
}

export type LatencyFit = 'mean' | 'lognormal' | 'mixture' | 'beta';
export const LATENCY_FITS: readonly LatencyFit[] = ['mean', 'lognormal', 'mixture', 'beta'];

/** Cumulative distribution function on the real line. */
export type Cdf = (x: number) => number;

const pointMass =
  (at: number): Cdf =>
  (x) =>
    x >= at ? 1 : 0;

/** Variance at or above this share of the Bhatia–Davis bound is treated as the two-point mass itself. */
const TWO_POINT_SHARE = 1 - 1e-6;

/** The Bhatia–Davis bound: the largest variance any distribution on [min, max] with this mean can have. */
export function varianceBound(m: IntervalMoments): number {
  return Math.max(0, (m.max - m.mean) * (m.mean - m.min));
}

function twoPoint(m: IntervalMoments): Cdf {
  const pHigh = (m.mean - m.min) / (m.max - m.min);
  return (x) => (x >= m.max ? 1 : x >= m.min ? 1 - pHigh : 0);
}

/** The fitted CDF. Moments must be consistent: min <= mean <= max, 0 <= variance <= varianceBound. */
export function fitCdf(m: IntervalMoments, fit: LatencyFit): Cdf {
  const bound = varianceBound(m);
  if (fit === 'mean' || m.calls <= 1 || m.variance <= 0 || bound <= 0 || m.max <= m.min) return pointMass(m.mean);
  const share = Math.min(1, m.variance / bound);
  if (share >= TWO_POINT_SHARE) return twoPoint(m);
  switch (fit) {
    case 'beta':
      return scaledBeta(m, share);
    case 'lognormal':
      return truncatedLogNormal(m.mean, m.variance, m.min, m.max);
    case 'mixture': {
      // Weight of the two-point mass grows with closeness to the bound; the log-normal part
      // carries the rest of the variance.
      const w = share * share;
      const rest = (m.variance - w * bound) / (1 - w);
      const continuous = rest > 0 ? truncatedLogNormal(m.mean, rest, m.min, m.max) : pointMass(m.mean);
      const extremes = twoPoint(m);
      return (x) => w * extremes(x) + (1 - w) * continuous(x);
    }
  }
}

function scaledBeta(m: IntervalMoments, share: number): Cdf {
  const width = m.max - m.min;
  const mu = (m.mean - m.min) / width;
  // Moment match: variance = mu (1 - mu) / (nu + 1), and the bound is mu (1 - mu) width².
  const nu = 1 / share - 1;
  const a = mu * nu;
  const b = (1 - mu) * nu;
  return (x) => regularizedBeta((x - m.min) / width, a, b);
}

/** Log-normal with the given mean and variance, conditioned on [min, max]. */
function truncatedLogNormal(mean: number, variance: number, min: number, max: number): Cdf {
  if (!(mean > 0)) return pointMass(mean);
  const sigma2 = Math.log(1 + variance / (mean * mean));
  const sigma = Math.sqrt(sigma2);
  const mu = Math.log(mean) - sigma2 / 2;
  const raw = (x: number) => (x <= 0 ? 0 : normalCdf((Math.log(x) - mu) / sigma));
  const lo = raw(min);
  const hi = raw(max);
  if (!(hi - lo > 1e-12)) return pointMass(mean);
  return (x) => (x < min ? 0 : x >= max ? 1 : Math.min(1, Math.max(0, (raw(x) - lo) / (hi - lo))));
}

/**
 * Adds the interval's calls to per-bucket expected counts: `into[i]` for the bucket with upper
 * bound `bounds[i]`, `into[bounds.length]` for +Inf. The counts added always sum to `calls`.
 */
export function spreadCalls(bounds: readonly number[], m: IntervalMoments, fit: LatencyFit, into: number[]): void {
  const cdf = fitCdf(m, fit);
  let below = 0;
  for (let i = 0; i < bounds.length; i++) {
    const at = Math.min(1, Math.max(below, cdf(bounds[i]!)));
    into[i]! += m.calls * (at - below);
    below = at;
  }
  into[bounds.length]! += m.calls * (1 - below);
}

// --- special functions -------------------------------------------------------------------

/** Standard normal CDF (via erfc, |error| < 1.2e-7). */
export function normalCdf(z: number): number {
  return 0.5 * erfc(-z / Math.SQRT2);
}

/** Chebyshev fit of erfc (Numerical Recipes' erfcc), fractional error below 1.2e-7 everywhere. */
const ERFC_COEFFICIENTS = [
  -1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398, 1.48851587, -0.82215223,
  0.17087277,
];

function erfc(x: number): number {
  const t = 1 / (1 + 0.5 * Math.abs(x));
  let poly = 0;
  for (let i = ERFC_COEFFICIENTS.length - 1; i >= 0; i--) poly = ERFC_COEFFICIENTS[i]! + t * poly;
  const r = t * Math.exp(-x * x + poly);
  return x >= 0 ? r : 2 - r;
}

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** ln Γ(x) for x > 0 (Lanczos, g = 7; reflection below 0.5 keeps tiny arguments accurate). */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let s = LANCZOS[0]!;
  for (let i = 1; i < 9; i++) s += LANCZOS[i]! / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(s);
}

/** The regularized incomplete beta function I_x(a, b): the CDF of Beta(a, b) at x. */
export function regularizedBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const logFront = logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log1p(-x);
  const front = Math.exp(logFront);
  // The continued fraction converges fast on the side of the mean where x is small.
  if (x < (a + 1) / (a + b + 2)) return Math.min(1, Math.max(0, (front * betaFraction(x, a, b)) / a));
  return Math.min(1, Math.max(0, 1 - (front * betaFraction(1 - x, b, a)) / b));
}

/** Continued fraction of the incomplete beta function (modified Lentz). */
function betaFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let num = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + num * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + num / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    num = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + num * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + num / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const step = d * c;
    h *= step;
    if (Math.abs(step - 1) < 1e-12) break;
  }
  return h;
}
