import pino from 'pino';
import t from 'tap';
import type { Family } from '../../src/exposition/families.js';
import { zeroCounters } from '../../src/statements/deltas.js';
import { type PollInput, type StatementSample, StatementsEngine } from '../../src/statements/engine.js';

// The engine with hand-written snapshots: what reaches each series when entries move in and
// out of the top N, when texts cannot be fetched, and when the server changes under us.

const settings = {
  topN: 1,
  maxSeries: 2000,
  textMaxLength: 200,
  textCacheBytes: 1 << 20,
  textTimeoutMs: 1000,
  slowThresholdSeconds: 10,
  slowLogIntervalMs: 60_000,
  explain: false,
  seqScanMinRows: 0,
  planChecks: false,
  planChecksPerPoll: 1,
  planSeqScanMinBytes: 0,
  planRecheckMs: 60_000,
  classes: [{ name: 'reads', objectiveSeconds: 0.1, target: 0.99, query: /^SELECT/i }],
  seriesStaleMs: 30_000,
};

const sample = (queryid: string, calls: number, seconds: number, datname = 'app'): StatementSample => ({
  dbid: datname === 'app' ? 5 : 6,
  userid: 10,
  queryid,
  toplevel: true,
  statsSince: null,
  datname,
  usename: 'web',
  counters: { ...zeroCounters(), calls, exec_seconds: seconds },
  meanSeconds: calls > 0 ? seconds / calls : 0,
  stddevSeconds: 0,
  minSeconds: calls > 0 ? seconds / calls : 0,
  maxSeconds: calls > 0 ? seconds / calls : 0,
});

const input = (now: number, entries: StatementSample[], serverStart = 1): PollInput => ({
  now,
  entries,
  statsReset: 100,
  dealloc: 0,
  maxEntries: 5000,
  trackPlanning: false,
  hasToplevel: true,
  serverStart,
  extversion: '1.10',
  connectionDatname: 'postgres',
  major: 15,
});

function value(families: Family[], name: string, labels: Record<string, string>): number | undefined {
  const f = families.find((x) => x.name === name);
  if (f === undefined || f.type === 'histogram') return undefined;
  return f.samples.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

function histogramCount(families: Family[], name: string, labels: Record<string, string>): number | undefined {
  const f = families.find((x) => x.name === name);
  if (f === undefined || f.type !== 'histogram') return undefined;
  return f.samples.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.count;
}

const log = pino({ level: 'silent' });

t.test('moving between top N and other never makes a series jump; rates reconcile', async (t) => {
  const engine = new StatementsEngine(settings, log);
  const io = {
    query: async () => [],
    fetchTexts: async () =>
      new Map([
        ['5/10/a', 'SELECT a'],
        ['5/10/b', 'SELECT b'],
      ]),
  };
  let f = await engine.poll(input(0, [sample('a', 100, 10), sample('b', 50, 1)]), io);
  t.equal(
    value(f, 'pg_stat_statements_calls_total', { queryid: 'a' }),
    100,
    'baseline: the top entry starts at its view value',
  );
  t.equal(value(f, 'pg_stat_statements_calls_total', { queryid: 'other' }), 50, '"other" starts at what it folds');
  t.equal(
    histogramCount(f, 'pg_statement_duration_seconds', { datname: 'app' }),
    undefined,
    'no burst on the baseline',
  );
  // b becomes much busier: it takes a's place (1.5x margin), a's later deltas go to "other".
  f = await engine.poll(input(10_000, [sample('a', 101, 10.1), sample('b', 150, 40)]), io);
  t.equal(value(f, 'pg_stat_statements_calls_total', { queryid: 'b' }), 150);
  t.equal(value(f, 'pg_stat_statements_calls_total', { queryid: 'a' }), undefined, 'a left the top N');
  t.equal(
    value(f, 'pg_stat_statements_calls_total', { queryid: 'other' }),
    51,
    '"other" grew by a\'s delta only, no jump',
  );
  t.equal(histogramCount(f, 'pg_statement_duration_seconds', { datname: 'app' }), 101, 'every call of the interval');
  t.equal(
    histogramCount(f, 'pg_statement_class_duration_seconds', { class: 'reads' }),
    101,
    'classified from the fetched text',
  );
  const api = engine.snapshot();
  t.equal(api.statements[0]?.queryid, 'b');
  t.equal(api.statements[0]?.calls_per_second, 10);
  t.equal(api.statements[0]?.mean_seconds, 0.39);
  t.equal(api.statements[0]?.share_of_total_time, Math.round((39 / 39.1) * 1e6) / 1e6);
  t.equal(api.other.entries, 1);
});

t.test('texts that cannot be fetched are retried later, not guessed', async (t) => {
  const engine = new StatementsEngine(settings, log);
  let fail = true;
  let fetches = 0;
  const io = {
    query: async () => [],
    fetchTexts: async () => {
      fetches++;
      if (fail) throw new Error('canceling statement due to statement timeout');
      return new Map([['5/10/a', 'SELECT a']]);
    },
  };
  await engine.poll(input(0, [sample('a', 1, 0.01)]), io);
  let f = await engine.poll(input(10_000, [sample('a', 2, 0.02)]), io);
  t.equal(fetches, 1, 'no second fetch within the retry delay');
  t.equal(histogramCount(f, 'pg_statement_class_duration_seconds', { class: 'other' }), 1, 'unclassified meanwhile');
  fail = false;
  f = await engine.poll(input(80_000, [sample('a', 3, 0.03)]), io);
  t.equal(fetches, 2);
  t.equal(
    histogramCount(f, 'pg_statement_class_duration_seconds', { class: 'reads' }),
    1,
    'classified once the text arrived',
  );
  t.equal(value(f, 'pgvigil_statements_text_fetches_total', { result: 'error' }), 1);
});

t.test('a new server incarnation (restart, failover) starts a new baseline', async (t) => {
  const engine = new StatementsEngine(settings, log);
  const io = { query: async () => [], fetchTexts: async () => new Map<string, string>() };
  await engine.poll(input(0, [sample('a', 10, 1)], 1), io);
  const f = await engine.poll(input(10_000, [sample('z', 5000, 100)], 2), io);
  t.equal(
    histogramCount(f, 'pg_statement_duration_seconds', { datname: 'app' }),
    undefined,
    "the other server's totals are no burst",
  );
});

t.test('a snapshot torn by a full reset is only a new baseline', async (t) => {
  const engine = new StatementsEngine(settings, log);
  const io = { query: async () => [], fetchTexts: async () => new Map<string, string>() };
  await engine.poll(input(0, [sample('a', 10, 1)]), io);
  let f = await engine.poll({ ...input(10_000, [sample('a', 2, 0.2)]), statsReset: 200, torn: true }, io);
  t.equal(
    histogramCount(f, 'pg_statement_duration_seconds', { datname: 'app' }),
    undefined,
    'nothing counted from the torn snapshot',
  );
  f = await engine.poll({ ...input(20_000, [sample('a', 5, 0.5)]), statsReset: 200 }, io);
  t.equal(
    histogramCount(f, 'pg_statement_duration_seconds', { datname: 'app' }),
    3,
    'then deltas from it: 3, not the 5 since the reset',
  );
});

t.test('an interval is spread by its own mean and variance; inconsistent moments fall back, counted', async (t) => {
  const engine = new StatementsEngine(settings, log);
  const io = { query: async () => [], fetchTexts: async () => new Map([['5/10/a', 'SELECT a']]) };
  // 100 calls so far, all 2 ms; then 100 more: 90 at 2 ms and 10 at 120 ms (min 2 ms, max 120 ms).
  const before = sample('a', 100, 0.2);
  const xs = [...Array<number>(190).fill(0.002), ...Array<number>(10).fill(0.12)];
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const stddev = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length);
  const moments = { meanSeconds: mean, stddevSeconds: stddev, minSeconds: 0.002, maxSeconds: 0.12 };
  const after = { ...sample('a', 200, mean * 200), ...moments };
  await engine.poll(input(0, [before]), io);
  let f = await engine.poll(input(10_000, [after]), io);
  const h = f.find((x) => x.name === 'pg_statement_class_duration_seconds');
  const reads = h?.type === 'histogram' ? h.samples.find((s) => s.labels.class === 'reads') : undefined;
  const le = (bound: number) => reads!.buckets[(h as { bounds: readonly number[] }).bounds.indexOf(bound)];
  t.equal(reads?.count, 100, "the interval's 100 calls");
  t.equal(le(0.0025), 90, '90 at 2 ms');
  t.equal(le(0.1), 90, 'none between');
  t.equal(le(0.25), 100, '10 at 120 ms');
  const source = { class: 'reads', source: 'pg_stat_statements_moments' };
  t.equal(value(f, 'pg_statement_class_latency_source_info', source), 1);
  t.equal(value(f, 'pgvigil_statements_latency_fallbacks_total', { reason: 'variance_above_bound' }), 0);
  // The view's max went below calls it already counted: impossible, so the calls count at their mean.
  const broken = { ...sample('a', 300, mean * 200 + 100 * 0.05), ...moments, meanSeconds: 0.05, stddevSeconds: 0.2 };
  f = await engine.poll(input(20_000, [broken]), io);
  t.equal(value(f, 'pgvigil_statements_latency_fallbacks_total', { reason: 'variance_above_bound' }), 1);
  t.equal(histogramCount(f, 'pg_statement_class_duration_seconds', { class: 'reads' }), 200, 'the count stays exact');
});

t.test('a database without entries keeps its histogram and "other" series for the staleness period only', async (t) => {
  const engine = new StatementsEngine(settings, log);
  const io = { query: async () => [], fetchTexts: async () => new Map<string, string>() };
  // topN 1: the busiest entry is a member, every other one is folded into its database's "other".
  const busy = (calls: number) => sample('busy', calls * 10, calls);
  const tenant = (calls: number) => [sample('t1', calls, calls / 10, 'tenant'), sample('t2', calls, 1, 'tenant')];
  await engine.poll(input(0, [busy(10), ...tenant(10)]), io);
  let f = await engine.poll(input(10_000, [busy(20), ...tenant(20)]), io);
  t.equal(histogramCount(f, 'pg_statement_duration_seconds', { datname: 'tenant' }), 20, 'the tenant is observed');
  t.ok(value(f, 'pg_stat_statements_calls_total', { datname: 'tenant', queryid: 'other' }), 'and has "other"');
  // The tenant database is dropped: its entries no longer come back from the view.
  f = await engine.poll(input(20_000, [busy(30)]), io);
  t.equal(histogramCount(f, 'pg_statement_duration_seconds', { datname: 'tenant' }), 20, 'kept while recent');
  f = await engine.poll(input(40_000, [busy(40)]), io);
  t.equal(histogramCount(f, 'pg_statement_duration_seconds', { datname: 'tenant' }), 20, 'kept at the limit');
  t.ok(value(f, 'pg_stat_statements_calls_total', { datname: 'tenant', queryid: 'other' }), '"other" kept too');
  f = await engine.poll(input(40_001, [busy(41)]), io);
  t.equal(histogramCount(f, 'pg_statement_duration_seconds', { datname: 'tenant' }), undefined, 'gone after it');
  t.equal(value(f, 'pg_stat_statements_calls_total', { datname: 'tenant', queryid: 'other' }), undefined);
  t.equal(histogramCount(f, 'pg_statement_duration_seconds', { datname: 'app' }), 310, 'the live database untouched');
  t.equal(
    histogramCount(f, 'pg_statement_class_duration_seconds', { class: 'reads' }),
    0,
    'class series are configured, never forgotten',
  );
});
