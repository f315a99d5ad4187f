import t from 'tap';
import { collectorDefinitions } from '../../src/collectors/index.js';
import { dashboards, panelsOf } from '../helpers/mixin.js';
import { pollIntervalOf, rangeSelectors, windowSeconds } from '../helpers/poll-windows.js';

// A family a collector polls changes once per poll. A rate over fewer than four polls reads 0 for
// one evaluation and too much for the next, and a hit ratio turns 0/0: every range selector over
// a polled family in a dashboard spans at least four of its collector's default intervals (taken
// here from the collector definitions themselves), and the panel says which interval it assumes.

const MIN_POLLS = 4;

/** Range selectors of `expr` over polled families shorter than four default polls. */
function shortWindows(expr: string): string[] {
  const short: string[] = [];
  for (const { name, range } of rangeSelectors(expr)) {
    const poll = pollIntervalOf(name);
    if (poll === undefined || range === '$__range') continue;
    const seconds = windowSeconds(range);
    if (seconds === undefined || seconds < MIN_POLLS * poll.seconds) {
      short.push(`${name}[${range}] (${poll.collector} polls every ${poll.seconds} s)`);
    }
  }
  return short;
}

t.test('every rate window over a polled family spans four default poll intervals', async (t) => {
  let checked = 0;
  for (const { json } of dashboards()) {
    for (const panel of panelsOf(json)) {
      for (const target of panel.targets ?? []) {
        const where = `${json.uid} "${panel.title}" ${target.refId}`;
        t.same(shortWindows(target.expr), [], `${where}: windows of at least ${MIN_POLLS} polls`);
        for (const { name, range } of rangeSelectors(target.expr)) {
          const poll = pollIntervalOf(name);
          // Windows of an hour and more (a growth trend, a baseline week) are not derived from the poll.
          if (poll === undefined || range === '$__range' || (windowSeconds(range) ?? 0) >= 3600) continue;
          checked++;
          t.match(
            panel.description ?? '',
            `default ${poll.seconds} s`,
            `${where}: the description names the ${poll.collector} interval it assumes`,
          );
        }
      }
    }
  }
  t.ok(checked > 30, `${checked} windows over polled families checked`);
});

t.test('the window check fails on $__rate_interval over a 60 s family', async (t) => {
  const tables = collectorDefinitions.find((c) => c.name === 'tables')!;
  t.equal(tables.defaultIntervalSeconds, 60, 'the tables collector polls every 60 s by default');
  const back = 'rate(pg_stat_user_tables_seq_scan_total{job=~"$job"}[$__rate_interval])';
  t.same(shortWindows(back), ['pg_stat_user_tables_seq_scan_total[$__rate_interval] (tables polls every 60 s)']);
  t.same(shortWindows('rate(pg_stat_user_tables_seq_scan_total{job=~"$job"}[3m])').length, 1, 'three polls');
  t.same(shortWindows('rate(pg_stat_user_tables_seq_scan_total{job=~"$job"}[4m])'), [], 'four polls');
  // Families no collector polls (pgvigil's own, the application's pool) keep Grafana's window.
  t.same(shortWindows('rate(process_cpu_seconds_total[$__rate_interval])'), []);
  t.same(shortWindows('rate(pgvigil_client_pool_acquire_seconds_bucket[$__rate_interval])'), []);
});

t.test('the range selector reader', async (t) => {
  t.same(
    rangeSelectors(
      'sum(rate(a_total{x="[1m]"}[4m])) / increase(b_bucket[$__rate_interval] offset $baseline) + c[1h:1m]',
    ),
    [
      { name: 'a_total', range: '4m' },
      { name: 'b_bucket', range: '$__rate_interval' },
    ],
  );
  t.equal(windowSeconds('90s'), 90);
  t.equal(windowSeconds('1w'), 604_800);
  t.equal(windowSeconds('$__rate_interval'), undefined);
});
