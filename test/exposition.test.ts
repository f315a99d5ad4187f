import t from 'tap';
import { assertValidFamily, counter, gauge, type HistogramFamily } from '../src/exposition/families.js';
import { negotiateFormat } from '../src/exposition/format.js';
import { render, renderFamilyText as renderFamily, renderSliced } from '../src/exposition/render.js';
import { parseMetrics } from './helpers/metrics.js';

t.test('label values and HELP are escaped and parse back', async (t) => {
  const nasty = 'a "quoted" \\ back\nline ünï 🐘';
  const text = renderFamily(
    gauge('pg_x', 'help with \\ and\nnewline', [{ labels: { relname: nasty }, value: 1 }]),
    'prometheus',
  );
  t.match(text, /# HELP pg_x help with \\\\ and\\nnewline\n/);
  t.equal(parseMetrics(text).samples[0]?.labels.relname, nasty);
});

t.test('counters: _total in text format, stripped from TYPE in OpenMetrics', async (t) => {
  const family = counter('pg_x_total', 'h', [{ labels: {}, value: 3 }]);
  t.match(renderFamily(family, 'prometheus'), /# TYPE pg_x_total counter\npg_x_total 3\n/);
  t.match(renderFamily(family, 'openmetrics'), /# TYPE pg_x counter\npg_x_total 3\n/);
  t.throws(() => counter('pg_x', 'h', []), /must end in _total/);
});

t.test('histograms render cumulative buckets, +Inf equal to count', async (t) => {
  const h: HistogramFamily = {
    type: 'histogram',
    name: 'pg_h_seconds',
    help: 'h',
    bounds: [0.01, 0.1],
    samples: [{ labels: { datname: 'd' }, buckets: [2, 5], sum: 0.3, count: 7 }],
  };
  const m = parseMetrics(renderFamily(h, 'prometheus'));
  t.equal(m.value('pg_h_seconds_bucket', { le: '0.01' }), 2);
  t.equal(m.value('pg_h_seconds_bucket', { le: '0.1' }), 5);
  t.equal(m.value('pg_h_seconds_bucket', { le: '+Inf' }), 7);
  t.equal(m.value('pg_h_seconds_count'), 7);
  t.equal(m.value('pg_h_seconds_sum'), 0.3);
});

t.test('special values', async (t) => {
  const text = renderFamily(
    gauge('pg_v', 'h', [
      { labels: { k: 'nan' }, value: NaN },
      { labels: { k: 'inf' }, value: Infinity },
      { labels: { k: 'ninf' }, value: -Infinity },
    ]),
    'prometheus',
  );
  t.match(text, /pg_v\{k="nan"\} NaN/);
  t.match(text, /pg_v\{k="inf"\} \+Inf/);
  t.match(text, /pg_v\{k="ninf"\} -Inf/);
});

t.test('merge keeps one series per label set and counts duplicates', async (t) => {
  const a = gauge('pg_m', 'h', [{ labels: { datname: 'a', x: '1' }, value: 1 }]);
  const b = gauge('pg_m', 'h', [
    { labels: { x: '1', datname: 'a' }, value: 2 },
    { labels: { datname: 'b', x: '1' }, value: 3 },
  ]);
  const { chunks, series, duplicates } = render([[a], [b]], 'prometheus');
  t.equal(series, 2);
  t.equal(duplicates, 1, 'toplevel-style duplicates are dropped, not served (Prometheus rejects the whole scrape)');
  const text = Buffer.concat(chunks).toString();
  t.equal(text.match(/# TYPE pg_m gauge/g)?.length, 1, 'one family');
  t.same(
    parseMetrics(text).samples.map((s) => s.value),
    [1, 3],
    'the first of a label set wins',
  );
  t.throws(
    () => render([[a], [counter('pg_m_total', 'h', [])], [{ ...a, type: 'counter' }]], 'prometheus'),
    /both gauge and counter/,
  );
});

t.test('names are checked where families are defined', async (t) => {
  t.throws(() => assertValidFamily(gauge('pg-bad', 'h', [])), /invalid metric name/);
  t.throws(() => assertValidFamily(gauge('pg_x_total', 'h', [])), /reserved for counters/);
  t.throws(
    () => assertValidFamily(gauge('pg_x', 'h', [{ labels: { 'bad-label': 'v' }, value: 1 }])),
    /invalid label name/,
  );
  t.throws(() => assertValidFamily(gauge('pg_x', 'h', [{ labels: { __name: 'v' }, value: 1 }])), /invalid label name/);
  t.doesNotThrow(() => assertValidFamily(gauge('pg_x', 'h', [{ labels: { datname: 'v' }, value: 1 }])));
});

t.test('format negotiation', async (t) => {
  t.equal(negotiateFormat(undefined), 'prometheus');
  t.equal(negotiateFormat('text/plain;version=0.0.4'), 'prometheus');
  t.equal(negotiateFormat('application/openmetrics-text;version=1.0.0,text/plain;q=0.5'), 'openmetrics');
  t.equal(negotiateFormat('*/*'), 'prometheus');
});

t.test('one label set is one series whatever order or part its labels come in', async (t) => {
  const first = gauge('pg_o', 'h', [
    { labels: { a: '1', b: '2' }, value: 1 },
    { labels: { b: '2', a: '1' }, value: 2 }, // same set, other order: a duplicate
    { labels: { c: '3', a: '1' }, value: 3 }, // another set of names: its own series
  ]);
  const second = gauge('pg_o', 'h', [
    { labels: { a: '1', c: '3' }, value: 4 }, // that set again, in another order and part
    { labels: { b: '2', a: '9' }, value: 5 },
  ]);
  const { chunks, series, duplicates } = render([[first], [second]], 'prometheus');
  t.equal(series, 3);
  t.equal(duplicates, 2);
  const parsed = parseMetrics(Buffer.concat(chunks).toString());
  t.same(
    parsed.samples.map((s) => [s.labels, s.value]),
    [
      [{ a: '1', b: '2' }, 1],
      [{ a: '1', c: '3' }, 3],
      [{ a: '9', b: '2' }, 5],
    ],
  );
});

t.test('histograms of several parts merge, and a duplicate drops all its lines', async (t) => {
  const h = (datname: string, count: number): HistogramFamily => ({
    type: 'histogram',
    name: 'pg_h_seconds',
    help: 'h',
    bounds: [0.5],
    samples: [{ labels: { datname }, buckets: [1], sum: 1, count }],
  });
  const { chunks, series, duplicates } = render([[h('a', 2)], [h('b', 3)], [h('a', 4)]], 'openmetrics');
  t.equal(series, 2);
  t.equal(duplicates, 1);
  const text = Buffer.concat(chunks).toString();
  t.equal(
    text.split('\n').filter((l) => l.startsWith('pg_h_seconds')).length,
    8,
    'two series of two buckets, sum and count',
  );
  t.equal(parseMetrics(text).value('pg_h_seconds_count', { datname: 'a' }), 2);
});

t.test('no labels, and an empty family keeps its HELP and TYPE', async (t) => {
  const text = Buffer.concat(
    render([[gauge('pg_e', 'h', []), gauge('pg_one', 'h', [{ labels: {}, value: 7 }])]], 'prometheus').chunks,
  ).toString();
  t.equal(text, '# HELP pg_e h\n# TYPE pg_e gauge\n# HELP pg_one h\n# TYPE pg_one gauge\npg_one 7\n');
});

t.test('sliced rendering gives the same bytes as rendering at once', async (t) => {
  const samples = Array.from({ length: 1234 }, (_, i) => ({ labels: { relname: `t${i}`, schemaname: 'ü' }, value: i }));
  const parts = [[gauge('pg_s', 'h', samples), counter('pg_s_total', 'h', samples)]];
  const whole = render(parts, 'openmetrics');
  const sliced = await renderSliced(parts, 'openmetrics', 100);
  t.same(Buffer.concat(sliced.chunks), Buffer.concat(whole.chunks));
  t.equal(sliced.length, Buffer.concat(whole.chunks).length);
  t.equal(sliced.series, 2468);
});
