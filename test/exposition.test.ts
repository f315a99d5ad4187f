import t from 'tap';
import {
  assertValidFamily,
  counter,
  gauge,
  mergeFamilies,
  negotiateFormat,
  renderFamily,
  type HistogramFamily,
} from '../src/exposition.js';
import { parseMetrics } from './helpers/metrics.js';

t.test('label values and HELP are escaped and parse back', async (t) => {
  const nasty = 'a "quoted" \\ back\nline ünï 🐘';
  const text = renderFamily(gauge('pg_x', 'help with \\ and\nnewline', [{ labels: { relname: nasty }, value: 1 }]), 'prometheus');
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
  const text = renderFamily(gauge('pg_v', 'h', [{ labels: { k: 'nan' }, value: NaN }, { labels: { k: 'inf' }, value: Infinity }, { labels: { k: 'ninf' }, value: -Infinity }]), 'prometheus');
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
  const { families, duplicates } = mergeFamilies([[a], [b]]);
  t.equal(families.length, 1);
  t.equal(families[0]!.samples.length, 2);
  t.equal(duplicates, 1, 'toplevel-style duplicates are dropped, not served (FIELD-NOTES #4)');
  t.throws(() => mergeFamilies([[a], [counter('pg_m_total', 'h', [])], [{ ...a, type: 'counter' }]]), /both gauge and counter/);
});

t.test('names are checked where families are defined', async (t) => {
  t.throws(() => assertValidFamily(gauge('pg-bad', 'h', [])), /invalid metric name/);
  t.throws(() => assertValidFamily(gauge('pg_x_total', 'h', [])), /reserved for counters/);
  t.throws(() => assertValidFamily(gauge('pg_x', 'h', [{ labels: { 'bad-label': 'v' }, value: 1 }])), /invalid label name/);
  t.throws(() => assertValidFamily(gauge('pg_x', 'h', [{ labels: { __name: 'v' }, value: 1 }])), /invalid label name/);
  t.doesNotThrow(() => assertValidFamily(gauge('pg_x', 'h', [{ labels: { datname: 'v' }, value: 1 }])));
});

t.test('format negotiation', async (t) => {
  t.equal(negotiateFormat(undefined), 'prometheus');
  t.equal(negotiateFormat('text/plain;version=0.0.4'), 'prometheus');
  t.equal(negotiateFormat('application/openmetrics-text;version=1.0.0,text/plain;q=0.5'), 'openmetrics');
  t.equal(negotiateFormat('*/*'), 'prometheus');
});
