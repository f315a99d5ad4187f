import t from 'tap';
import { type CumulativeMoments, intervalMoments } from '../../src/statements/interval-moments.js';

// One interval's mean and variance from two cumulative readings, as pg_stat_statements reports
// them (mean, population stddev, min, max since the entry started), and the cases where the
// readings can't be trusted.

function reading(xs: readonly number[]): CumulativeMoments {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length;
  const stddevSeconds = Math.sqrt(variance);
  const [minSeconds, maxSeconds] = [Math.min(...xs), Math.max(...xs)];
  return { calls: xs.length, meanSeconds: mean, stddevSeconds, minSeconds, maxSeconds };
}
const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

t.test('the interval between two readings has its own mean and variance', async (t) => {
  const before = [0.001, 0.002, 0.0015, 0.003, 0.002];
  const interval = [0.12, 0.002, 0.118, 0.0021];
  const all = [...before, ...interval];
  const r = intervalMoments(reading(before), reading(all), interval.length, sum(interval));
  t.ok(r.ok);
  const mean = sum(interval) / interval.length;
  const variance = sum(interval.map((x) => (x - mean) ** 2)) / interval.length;
  t.ok(Math.abs(r.moments.mean - mean) < 1e-15, 'mean');
  t.ok(Math.abs(r.moments.variance - variance) / variance < 1e-9, `variance ${r.moments.variance} vs ${variance}`);
  t.equal(r.moments.min, 0.001, 'lifetime min bounds the interval');
  t.equal(r.moments.max, 0.12);
});

t.test('a new or reset entry: the interval is everything the entry holds', async (t) => {
  const xs = [0.01, 0.02, 0.03];
  const r = intervalMoments(undefined, reading(xs), 3, sum(xs));
  t.ok(r.ok);
  t.ok(Math.abs(r.moments.variance - 2e-4 / 3) < 1e-15);
  // Counters went back (reset between polls): the delta is the current value, whatever came before.
  const reset = intervalMoments(reading([5, 5, 5, 5]), reading(xs), 3, sum(xs));
  t.same(reset, r, 'the stale previous reading is ignored');
});

t.test('one call has no spread', async (t) => {
  const r = intervalMoments(reading([0.01, 0.5]), reading([0.01, 0.5, 0.2]), 1, 0.2);
  t.same(r, { ok: true, moments: { calls: 1, mean: 0.2, variance: 0, min: 0.2, max: 0.2 } });
});

t.test('huge cumulative sums: float error never becomes a spread', async (t) => {
  // 10^12 calls of about 1 ms behind one interval of 10 calls at the mean: M2 barely moves.
  const m2 = 1e12 * 0.0004 ** 2;
  const extremes = { minSeconds: 0.0001, maxSeconds: 2 };
  const before: CumulativeMoments = { calls: 1e12, meanSeconds: 0.001, stddevSeconds: 0.0004, ...extremes };
  const now: CumulativeMoments = { ...before, calls: 1e12 + 10, stddevSeconds: Math.sqrt(m2 / (1e12 + 10)) };
  const r = intervalMoments(before, now, 10, 0.01);
  t.same(r.ok ? 'ok' : r.reason, 'imprecise_variance', 'the interval variance is below what float error allows to see');
  t.equal(r.moments.variance, 0, 'counted at the mean');
  // The same interval behind 10^4 calls: the variance (0) is seen exactly.
  const smallNow = { ...now, calls: 1e4 + 10, stddevSeconds: Math.sqrt((1e4 * 0.0004 ** 2) / (1e4 + 10)) };
  const small = intervalMoments({ ...before, calls: 1e4 }, smallNow, 10, 0.01);
  t.same(small, { ok: true, moments: { calls: 10, mean: 0.001, variance: 0, min: 0.0001, max: 2 } });
  // stddev a bit too small for the previous reading: a clearly negative interval variance.
  const shrunkNow = { ...before, calls: 110, stddevSeconds: 0.005 };
  const shrunk = intervalMoments({ ...before, calls: 100, stddevSeconds: 0.01 }, shrunkNow, 10, 0.01);
  t.same(shrunk.ok ? 'ok' : shrunk.reason, 'negative_variance', 'negative variance falls back');
  t.equal(shrunk.moments.variance, 0, 'and counts at the mean');
});

t.test('moments that contradict the extremes fall back to the mean, with a reason', async (t) => {
  const base: CumulativeMoments = {
    calls: 10,
    meanSeconds: 0.01,
    stddevSeconds: 0.001,
    minSeconds: 0.005,
    maxSeconds: 0.02,
  };
  const outside = intervalMoments(undefined, { ...base, minSeconds: 0.05, maxSeconds: 0.06 }, 10, 0.1);
  t.same(outside.ok ? 'ok' : outside.reason, 'mean_outside_extremes');
  const wide = intervalMoments(undefined, { ...base, stddevSeconds: 0.05 }, 10, 0.1);
  t.same(wide.ok ? 'ok' : wide.reason, 'variance_above_bound');
  const missing = intervalMoments(undefined, { ...base, stddevSeconds: Number.NaN }, 10, 0.1);
  t.same(missing.ok ? 'ok' : missing.reason, 'missing_moments');
});
