import t from 'tap';
import { SizeCache, withCachedSizes } from '../../src/collectors/size-cache.js';

t.test('sizes are due once per interval and per database', async (t) => {
  const cache = new SizeCache<{ bytes: number | null }>(300_000);
  t.ok(cache.due('app', 0), 'never read: due');
  const rows = [
    { name: 'a', bytes: 10 },
    { name: 'b', bytes: 20 },
  ];
  withCachedSizes(
    cache,
    'app',
    1000,
    true,
    rows,
    (r) => r.name,
    (r) => ({ bytes: r.bytes }),
    { bytes: null },
  );
  t.notOk(cache.due('app', 1000 + 299_999), 'not due within the interval');
  t.ok(cache.due('app', 1000 + 300_000), 'due once it has passed');
  t.ok(cache.due('other', 1000), 'another database keeps its own clock');
  const later = withCachedSizes(
    cache,
    'app',
    2000,
    false,
    [
      { name: 'a', bytes: null },
      { name: 'c', bytes: null },
    ],
    (r) => r.name,
    (r) => ({ bytes: r.bytes }),
    { bytes: null },
  );
  t.same(
    later,
    [
      { name: 'a', bytes: 10 },
      { name: 'c', bytes: null },
    ],
    'cached sizes filled in, unknown objects without',
  );
  withCachedSizes(
    cache,
    'other',
    1000 + 900_001,
    true,
    [],
    (r: { name: string }) => r.name,
    () => ({ bytes: 1 }),
    { bytes: null },
  );
  t.equal(cache.lookup('app', 'a'), undefined, 'a database not polled for three intervals is forgotten');
});
