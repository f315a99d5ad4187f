import t from 'tap';
import { bucketBounds, bucketIndex, quantileFromCounts } from '../../src/statements/histogram.js';
import {
  fitCdf,
  type IntervalMoments,
  logGamma,
  normalCdf,
  regularizedBeta,
  spreadCalls,
  varianceBound,
} from '../../src/statements/latency-fit.js';

// The distribution fit as pure math: special functions against closed forms, then the fitted
// CDFs against samples of known shape (moments computed the way pg_stat_statements does).

const close = (t: Tap, actual: number, expected: number, tolerance: number, what: string) =>
  t.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual} ≈ ${expected} (±${tolerance})`);
type Tap = { ok(c: boolean, m: string): void };

/** A deterministic uniform generator (mulberry32), so samples are the same every run. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

function momentsOf(xs: readonly number[]): IntervalMoments {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length;
  return { calls: xs.length, mean, variance, min: Math.min(...xs), max: Math.max(...xs) };
}

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const quantile = (xs: readonly number[], q: number) => xs[Math.ceil(q * xs.length) - 1]!;

t.test('special functions match closed forms', async (t) => {
  close(t, logGamma(5), Math.log(24), 1e-12, 'ln Γ(5)');
  close(t, logGamma(0.5), 0.5 * Math.log(Math.PI), 1e-12, 'ln Γ(1/2)');
  close(t, logGamma(1e-4), -Math.log(1e-4) - 0.5772156649 * 1e-4, 1e-8, 'ln Γ(tiny)');
  close(t, normalCdf(1.959964), 0.975, 1e-6, 'Φ(1.96)');
  close(t, normalCdf(0), 0.5, 1e-7, 'Φ(0)');
  for (const x of [0.1, 0.37, 0.9]) close(t, regularizedBeta(x, 1, 1), x, 1e-10, `I_${x}(1,1) = x`);
  close(t, regularizedBeta(0.3, 2, 3), 6 * 0.09 - 8 * 0.027 + 3 * 0.0081, 1e-10, 'I_0.3(2,3)');
  close(t, regularizedBeta(0.5, 0.01, 0.01), 0.5, 1e-9, 'symmetric U shape: half below the middle');
  close(t, regularizedBeta(0.5, 40, 400), 1, 1e-9, 'far right of a narrow hump');
});

t.test('the Beta fit: uniform is uniform, the Bhatia–Davis bound is the two-point mass', async (t) => {
  const uniform = fitCdf({ calls: 100, mean: 0.03, variance: 0.05 ** 2 / 12, min: 0.005, max: 0.055 }, 'beta');
  for (const x of [0.005, 0.015, 0.03, 0.05]) close(t, uniform(x), (x - 0.005) / 0.05, 1e-9, `uniform CDF(${x})`);

  // 90 % at 2 ms, 10 % at 120 ms: variance exactly at the bound.
  const m: IntervalMoments = { calls: 1000, mean: 0.0138, variance: 0.9 * 0.1 * 0.118 ** 2, min: 0.002, max: 0.12 };
  close(t, m.variance / varianceBound(m), 1, 1e-9, 'at the bound');
  const twoPoint = fitCdf(m, 'beta');
  close(t, twoPoint(0.05), 0.9, 1e-9, '90 % within 50 ms');
  t.equal(twoPoint(0.0019), 0, 'nothing below min');
  t.equal(twoPoint(0.12), 1, 'everything at or below max');

  const one = fitCdf({ calls: 1, mean: 0.01, variance: 0, min: 0.01, max: 0.01 }, 'beta');
  t.equal(one(0.0099), 0, 'one call: all at its duration');
  t.equal(one(0.01), 1);
});

t.test('spreadCalls keeps the count exact and is monotonic', async (t) => {
  const bounds = bucketBounds([]);
  const into = new Array<number>(bounds.length + 1).fill(0);
  spreadCalls(bounds, { calls: 37, mean: 0.02, variance: 1e-4, min: 0.001, max: 0.4 }, 'beta', into);
  close(
    t,
    into.reduce((a, b) => a + b, 0),
    37,
    1e-9,
    'all 37 calls',
  );
  t.ok(
    into.every((c) => c >= 0),
    'no negative bucket',
  );
});

// Samples of known shape with jitter (what pg_sleep under load looks like), fitted from their
// moments: share within the objective within 3 points, p95 and p99 within one bucket.
const rng = random(42);
const shapes: Record<string, { objective: number; draw: () => number }> = {
  bimodal: { objective: 0.05, draw: () => (rng() < 0.9 ? 0.002 : 0.12) + rng() * 0.0015 },
  uniform: { objective: 0.05, draw: () => 0.005 + rng() * 0.05 },
  lognormal: {
    objective: 0.025,
    draw: () => 0.01 * Math.exp(0.6 * Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng())),
  },
};

for (const [name, shape] of Object.entries(shapes)) {
  t.test(`the Beta fit meets the targets on a ${name} sample`, async (t) => {
    const xs = sorted(Array.from({ length: 20_000 }, shape.draw));
    const bounds = bucketBounds([shape.objective]);
    const counts = new Array<number>(bounds.length + 1).fill(0);
    spreadCalls(bounds, momentsOf(xs), 'beta', counts);
    const within = counts.slice(0, bounds.indexOf(shape.objective) + 1).reduce((a, b) => a + b, 0) / xs.length;
    const truth = xs.filter((x) => x <= shape.objective).length / xs.length;
    close(t, within, truth, 0.03, 'share within the objective');
    for (const q of [0.95, 0.99]) {
      const estimate = quantileFromCounts(bounds, counts, q);
      const off = Math.abs(bucketIndex(bounds, estimate) - bucketIndex(bounds, quantile(xs, q)));
      t.ok(off <= 1, `p${q * 100}: ${estimate} vs ${quantile(xs, q)} (${off} buckets apart)`);
    }
  });
}

t.test('putting every call at the mean (the old way) misses the bimodal tail', async (t) => {
  const r = random(7);
  const xs = sorted(Array.from({ length: 10_000 }, () => (r() < 0.9 ? 0.002 : 0.12)));
  const bounds = bucketBounds([]);
  const counts = new Array<number>(bounds.length + 1).fill(0);
  spreadCalls(bounds, momentsOf(xs), 'mean', counts);
  t.equal(counts[bounds.indexOf(0.025)], xs.length, 'all calls in the bucket of the 13.8 ms mean');
});
