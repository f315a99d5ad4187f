import t from 'tap';
import { bucketBounds, bucketIndex, DeltaHistograms, quantileFromCounts } from '../../src/statements/histogram.js';

t.test('bounds span 0.5 ms to 30 s and include objectives', async (t) => {
  const b = bucketBounds([0.03, 0.2, 0.05]);
  t.equal(b[0], 0.0005);
  t.equal(b[b.length - 1], 30);
  t.ok(b.includes(0.03) && b.includes(0.2));
  t.same(
    [...b].sort((x, y) => x - y),
    b,
    'sorted',
  );
  t.equal(new Set(b).size, b.length, 'no duplicate bound');
});

t.test('bucket index follows le semantics', async (t) => {
  const b = [0.001, 0.01, 0.1];
  t.equal(bucketIndex(b, 0.0005), 0);
  t.equal(bucketIndex(b, 0.001), 0, 'equal to a bound is inside it');
  t.equal(bucketIndex(b, 0.0011), 1);
  t.equal(bucketIndex(b, 5), 3, '+Inf');
});

t.test('calls land at their interval mean; sum and count are exact', async (t) => {
  const h = new DeltaHistograms([0.001, 0.01, 0.1]);
  h.observe({ datname: 'a' }, 10, 0.05); // mean 5 ms
  h.observe({ datname: 'a' }, 2, 0.6); // mean 300 ms
  h.observe({ datname: 'a' }, 0, 1); // no calls: nothing
  const [s] = h.samples();
  t.same(s!.buckets, [0, 10, 10], 'cumulative buckets');
  t.equal(s!.count, 12);
  t.equal(s!.sum, 0.65);
  t.equal(quantileFromCounts([1, 2], [0, 10, 0], 0.5), 1.5, 'linear inside the bucket');
});

t.test('expected counts are kept as floats; emitted buckets are whole, monotonic, +Inf exact', async (t) => {
  const h = new DeltaHistograms([0.001, 0.01, 0.1]);
  for (let i = 0; i < 3; i++) h.observeSpread({ class: 'x' }, [0.4, 0.4, 0.2, 0], 1, 0.005);
  const [s] = h.samples();
  t.same(s!.buckets, [1, 2, 3], 'running totals 1.2, 2.4, 3.0 rounded');
  t.equal(s!.count, 3);
  t.equal(s!.sum, 0.015);
  h.observeSpread({ class: 'x' }, [0, 0, 0.3, 0.7], 1, 0.2);
  const [later] = h.samples();
  t.same(later!.buckets, [1, 2, 3], 'never above the count, never down');
  t.equal(later!.count, 4);
});
