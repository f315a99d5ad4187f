import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { alertsDir, dashboards, metricNames, panelsOf } from '../helpers/mixin.js';
import { pollIntervalOf } from '../helpers/poll-windows.js';

// What an on-call engineer reads off the boards without thinking: pgvigil's series only (the
// exporter selector the alert rules share), the platform's targets in red when missed, "no
// traffic" instead of a gap where a ratio is 0/0, and firing alerts that deserve a look.

/** The parts of a panel's field config these checks read. */
interface FieldDefaults {
  readonly thresholds?: { readonly steps: { readonly color: string; readonly value: number | null }[] };
  readonly color?: { readonly mode: string };
  readonly mappings?: { readonly type: string; readonly options: { match?: string; result?: { text: string } } }[];
}
interface Panel {
  readonly title: string;
  readonly type: string;
  readonly description?: string;
  readonly targets?: { refId: string; expr: string; legendFormat?: string }[];
  readonly fieldConfig?: {
    readonly defaults?: FieldDefaults;
    readonly overrides?: { matcher: { options: string }; properties: { id: string; value: unknown }[] }[];
  };
  readonly transformations?: { id: string; options: { configRefId?: string } }[];
}

const { exporterSelector } = JSON.parse(readFileSync(join(alertsDir, 'mixin-config.json'), 'utf8')) as {
  exporterSelector: string;
};
const boards = dashboards();
const panels = boards.flatMap(({ json }) =>
  panelsOf(json)
    .filter((p) => p.type !== 'row')
    .map((p) => ({ board: json.uid, panel: p as unknown as Panel })),
);
const panel = (board: string, title: string) => {
  const found = panels.find((p) => p.board === board && p.panel.title === title);
  if (found === undefined) throw new Error(`${board}: no panel "${title}"`);
  return found.panel;
};
const steps = (d: FieldDefaults | undefined) => (d?.thresholds?.steps ?? []).map((s) => [s.value, s.color]);

t.test("every query of pgvigil's series carries the exporter selector", async (t) => {
  t.match(exporterSelector, /^job=~?"/, 'alerts/mixin-config.json holds a job selector');
  for (const { json } of boards) {
    const job = json.templating.list.find((v) => v.name === 'job');
    t.ok(job?.definition?.includes(`pg_up{${exporterSelector}}`), `${json.uid}: $job lists pgvigil's jobs only`);
  }
  let checked = 0;
  for (const { board, panel: p } of panels) {
    for (const target of p.targets ?? []) {
      // The application's pool is scraped from the application's job; ALERTS come from every job.
      const own = metricNames(target.expr).filter((n) => !/^(pgvigil_client_|ALERTS$)/.test(n) && !n.includes(':'));
      if (own.length === 0) continue;
      checked++;
      const selectors = [...target.expr.matchAll(new RegExp(`\\b(${own.join('|')})\\{([^}]*)\\}`, 'g'))];
      t.ok(
        selectors.length > 0 && selectors.every((m) => m[2]!.startsWith(exporterSelector)),
        `${board} "${p.title}" ${target.refId}: every selector starts with ${exporterSelector}`,
      );
    }
  }
  t.ok(checked > 100, `${checked} queries checked`);
});

t.test('panels showing a platform target colour by it, red beyond', async (t) => {
  const redBelow = (value: number) => [
    [null, 'red'],
    [value, 'green'],
  ];
  const redFrom = (value: number) => [
    [null, 'green'],
    [value, 'red'],
  ];
  const expected: [string, string, unknown[][]][] = [
    ['pgvigil-overview', 'Cache and index hit ratio', redBelow(0.95)],
    ['pgvigil-tables', 'Table (heap) hit ratio', redBelow(0.95)],
    ['pgvigil-tables', 'Index hit ratio', redBelow(0.95)],
    ['pgvigil-overview', 'Connection slots used', redFrom(0.8)],
    ['pgvigil-connections', 'Utilization: server slots and client pools', redFrom(0.8)],
    ['pgvigil-connections', 'PgBouncer max wait', redFrom(0.01)],
    ['pgvigil-connections', 'Application acquire wait (p95, p99)', redFrom(0.01)],
    ['pgvigil-overview', 'p95 latency per query class, share of its objective', redFrom(1)],
    ['pgvigil-tables', 'Sequential scan reduction vs the baseline week (target 80 %)', redBelow(0.8)],
  ];
  for (const [board, title, want] of expected) {
    const p = panel(board, title);
    t.same(steps(p.fieldConfig?.defaults), want, `${board} "${title}": thresholds`);
    t.equal(p.fieldConfig?.defaults?.color?.mode, 'thresholds', `${board} "${title}": coloured by them`);
  }
  // Class objectives and targets differ per class: the panel takes its threshold from a query.
  const perClass: [string, string, string][] = [
    ['pgvigil-queries', 'Latency of $class: p50, p95, p99 and objective', 'pg_statement_class_objective_seconds'],
    ['pgvigil-slo', 'Calls within objective', 'pg_statement_class_target_ratio'],
    ['pgvigil-slo', 'p95 vs objective', 'pg_statement_class_objective_seconds'],
    ['pgvigil-slo', 'Calls of $class within objective: application vs server (5 m)', 'pg_statement_class_target_ratio'],
    ['pgvigil-slo', 'p95 latency of $class: application vs server', 'pg_statement_class_objective_seconds'],
  ];
  for (const [board, title, family] of perClass) {
    const p = panel(board, title);
    const refId = p.transformations?.find((x) => x.id === 'configFromData')?.options.configRefId;
    const config = p.targets?.find((x) => x.refId === refId);
    t.ok(config?.expr.includes(family), `${board} "${title}": threshold from ${family}`);
    t.equal(config?.legendFormat, 'Threshold', `${board} "${title}": the query is mapped to the threshold`);
    t.ok(
      steps(p.fieldConfig?.defaults).some(([, colour]) => colour === 'red'),
      `${board} "${title}": red beyond`,
    );
  }
  // The check can fail: a threshold drawn in green only is not red beyond.
  t.not(steps({ thresholds: { steps: [{ value: null, color: 'green' }] } }), redBelow(0.95));
});

t.test('a ratio of rates shows "no traffic" instead of NaN', async (t) => {
  const noTraffic = (p: Panel) =>
    (p.fieldConfig?.defaults?.mappings ?? []).some(
      (m) => m.type === 'special' && m.options.match === 'nan' && m.options.result?.text === 'no traffic',
    );
  // Division by a rate or increase, or a quantile of one: both NaN when nothing happened.
  const isRatio = (expr: string) =>
    /histogram_quantile\(/.test(expr) || /\/\s*\(*\s*(sum|max)?[^/]*\b(rate|increase)\(/.test(expr);
  let checked = 0;
  for (const { board, panel: p } of panels) {
    if (!(p.targets ?? []).some((x) => isRatio(x.expr) && pollIntervalOf(metricNames(x.expr)[0] ?? '') !== undefined))
      continue;
    checked++;
    t.ok(noTraffic(p), `${board} "${p.title}": NaN reads "no traffic"`);
  }
  t.ok(checked >= 10, `${checked} ratio panels checked`);
  t.ok(isRatio('sum(rate(a[4m])) / (sum(rate(a[4m])) + sum(rate(b[4m])))'), 'the ratio finder finds a hit ratio');
});

t.test('firing alerts: warning and above, from every job', async (t) => {
  for (const title of ['Firing alerts']) {
    for (const p of panels.filter((x) => x.board === 'pgvigil-overview' && x.panel.title === title)) {
      for (const target of p.panel.targets ?? []) {
        t.match(target.expr, /ALERTS\{alertstate="firing", severity(="critical"|="warning"|=~"critical\|warning")\}/);
        t.notMatch(target.expr, /job=/, "not only pgvigil's job: application pool alerts count too");
      }
    }
  }
});

t.test('pool exhaustion: one row per application, each layer a column', async (t) => {
  const p = panel('pgvigil-connections', 'Pool exhaustion: each layer per application');
  t.equal(p.type, 'table');
  t.equal(p.transformations?.[0]?.id, 'merge', 'rows merged on their labels');
  const families = (p.targets ?? []).flatMap((x) => metricNames(x.expr));
  for (const layer of [
    'pg_stat_activity_connections',
    'pgbouncer_pools_client_waiting_connections',
    'pgvigil_client_pool_waiting_requests',
    'pgvigil_client_pool_acquire_seconds_bucket',
    'pgvigil_client_pool_acquire_timeouts_total',
  ]) {
    t.ok(families.includes(layer), `a column reads ${layer}`);
  }
  for (const target of p.targets ?? []) {
    t.match(
      target.expr,
      /^(sum|max) by \(application_name\)|^histogram_quantile\(0\.95, sum by \(application_name, le\)/,
      `${target.refId}: by application_name`,
    );
  }
});
