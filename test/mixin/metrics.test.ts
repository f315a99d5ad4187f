import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import t from 'tap';
import { GOLDEN_PATH, type GoldenFamily } from '../../src/dev/update-docs.js';
import { familiesOfAllMajors } from '../helpers/golden-majors.js';
import {
  allRules,
  createdLabels,
  dashboardQueries,
  familyOf,
  groupingLabels,
  metricNames,
  repoRoot,
  selectorLabels,
  templateLabels,
  variableQueries,
} from '../helpers/mixin.js';

// No alert or panel may read a metric pgvigil does not emit: a rule on a renamed metric never
// fires and a panel on one stays empty, silently. The list of emitted families is the golden file,
// which test/golden.test.ts proves equal to what a real primary, standby, PgBouncer and
// instrumented client pool emit (helpers/emitted-families.ts).

// families.json holds every place a family shows on the default major; the per-major files
// (test/golden/pg<major>.json) add the families and labels of the other majors.
function goldenFamilies() {
  const golden = JSON.parse(readFileSync(GOLDEN_PATH, 'utf8')) as GoldenFamily[];
  const majors = familiesOfAllMajors();
  const types = new Map([...majors.types, ...golden.map((f) => [f.name, f.type] as const)]);
  const labels = new Map(majors.labels);
  for (const f of golden) labels.set(f.name, new Set([...(labels.get(f.name) ?? []), ...f.labels]));
  return { types, labels, pgbouncer: golden.some((f) => f.collector === 'pgbouncer') };
}

// Series that exist in Prometheus without any exporter: the alert state Prometheus records, and
// the health of each scrape target.
const PROMETHEUS_SERIES = new Set(['ALERTS', 'up']);
// Labels Prometheus adds to every scraped series.
const TARGET_LABELS = new Set(['job', 'instance']);

// Used only when PgBouncer is not installed (CI installs it): the pgbouncer collector's families,
// each checked to be named in src/collectors/pgbouncer.ts.
const PGBOUNCER_SOURCE = join(repoRoot, 'src/collectors/pgbouncer.ts');

interface Use {
  readonly where: string;
  readonly expr: string;
  /** Templates printing labels of the result: a panel's legend, an alert's annotations. */
  readonly templates?: string[];
}

function uses(): Use[] {
  const fromRules = allRules().map((r) => ({
    where: `${basename(r.file)} ${r.alert ?? r.record}`,
    expr: r.expr,
    templates: Object.values(r.annotations ?? {}),
  }));
  const fromPanels = dashboardQueries().map((q) => ({
    where: `${q.dashboard} "${q.panel}" ${q.refId}`,
    expr: q.expr,
    templates: q.legend === undefined ? [] : [q.legend],
  }));
  const fromVariables = variableQueries().map((v) => ({ where: `${v.dashboard} variable ${v.name}`, expr: v.expr }));
  return [...fromRules, ...fromPanels, ...fromVariables];
}

t.test('every metric in alerts/ and dashboards/ is one pgvigil emits', async (t) => {
  const emitted = goldenFamilies();
  const pgbouncer = emitted.pgbouncer ? 'running' : 'not installed: allow-list used';
  t.comment(`${emitted.types.size} families emitted (PgBouncer ${pgbouncer})`);
  const recorded = new Set(allRules().flatMap((r) => (r.record !== undefined ? [r.record] : [])));
  const pgbouncerSource = readFileSync(PGBOUNCER_SOURCE, 'utf8');
  const used = new Set<string>();
  for (const use of uses()) {
    const names = metricNames(use.expr);
    t.ok(names.length > 0 || /vector\(|time\(\)/.test(use.expr), `${use.where} reads something`);
    for (const name of names) {
      used.add(name);
      if (recorded.has(name) || PROMETHEUS_SERIES.has(name)) continue;
      if (familyOf(name, emitted.types) !== undefined) continue;
      if (!emitted.pgbouncer && name.startsWith('pgbouncer_') && pgbouncerSource.includes(`'${name}'`)) continue;
      t.fail(`${use.where}: ${name} is not emitted by pgvigil`);
    }
  }
  t.ok(used.size > 50, `${used.size} distinct names checked`);

  // The labels selectors match on exist on the family (a renamed label empties a panel silently).
  let checked = 0;
  for (const use of uses()) {
    for (const { name, labels } of selectorLabels(use.expr)) {
      const family = familyOf(name, emitted.types);
      if (family === undefined) continue;
      for (const label of labels) {
        if (TARGET_LABELS.has(label) || (label === 'le' && name.endsWith('_bucket'))) continue;
        checked++;
        t.ok(emitted.labels.get(family)?.has(label), `${use.where}: ${name} has a ${label} label`);
      }
    }
  }
  t.ok(checked > 50, `${checked} selector labels checked`);
  // The check must be able to fail: a misspelt name is caught.
  t.equal(familyOf('pg_stat_activity_connection', emitted.types), undefined);
  t.equal(familyOf('pg_statement_class_duration_seconds_bucket', emitted.types), 'pg_statement_class_duration_seconds');
});

t.test('every label alerts and dashboards group, match or print by is on a family they read', async (t) => {
  const emitted = goldenFamilies();
  const rules = allRules();
  // Labels a recorded series can carry: those of the families its expression reads.
  const recorded = new Map<string, Set<string>>();
  const labelsRead = (expr: string): Set<string> => {
    const found = new Set<string>([...TARGET_LABELS, ...createdLabels(expr)]);
    for (const name of metricNames(expr)) {
      const family = familyOf(name, emitted.types);
      for (const l of (family === undefined ? recorded.get(name) : emitted.labels.get(family)) ?? []) found.add(l);
      if (family !== undefined && name.endsWith('_bucket')) found.add('le');
    }
    return found;
  };
  for (const r of rules) if (r.record !== undefined) recorded.set(r.record, labelsRead(r.expr));
  // ALERTS, the series Prometheus records for alerts: each alert's labels and those of its result.
  const alertLabels = new Set(['alertname', 'alertstate']);
  for (const r of rules) {
    if (r.alert === undefined) continue;
    for (const l of [...labelsRead(r.expr), ...Object.keys(r.labels ?? {})]) alertLabels.add(l);
  }
  recorded.set('ALERTS', alertLabels);

  let checked = 0;
  for (const use of uses()) {
    const available = labelsRead(use.expr);
    const used = [...groupingLabels(use.expr), ...(use.templates ?? []).flatMap(templateLabels)];
    for (const label of new Set(used)) {
      checked++;
      t.ok(available.has(label), `${use.where}: ${label} is a label of what it reads`);
    }
  }
  t.ok(checked > 100, `${checked} grouping, matching and template labels checked`);
  // The check must be able to fail: a label no family has is caught.
  t.notOk(labelsRead('sum by (datname) (pg_stat_database_xact_commit_total)').has('relname'));
});

t.test('the label extractors', async (t) => {
  t.same(
    groupingLabels(
      'sum by (job, instance) (a) / on (job) group_left (class) b{x="by (no)"} unless ignoring(le) c',
    ).sort(),
    ['class', 'instance', 'job', 'le'],
  );
  t.same(groupingLabels('sum without (instance) (x) * on () group_left () y'), ['instance']);
  t.same(createdLabels('label_replace(x, "p95", "$1", "a", "(.*)")'), ['p95']);
  t.same(templateLabels('{{ $labels.datname }} on {{ $labels.instance }}: {{ $value | humanize }} {{datname}}'), [
    'datname',
    'instance',
    'datname',
  ]);
});

t.test('the metric-name extractor', async (t) => {
  t.same(
    metricNames(
      'histogram_quantile(0.95, sum by (class, le) (rate(a_bucket{job=~"$job", x="b{c}"}[5m]))) ' +
        '> on (job) group_left () b:rec{t="x"} and ignoring(le) c offset 5m or vector(0)',
    ).sort(),
    ['a_bucket', 'b:rec', 'c'],
  );
  t.same(metricNames('sum without (instance) (rate(x_total[$__rate_interval])) / scalar(y)').sort(), ['x_total', 'y']);
  t.same(metricNames('count(ALERTS{alertstate="firing"}) or vector(0)'), ['ALERTS']);
  t.same(selectorLabels('sum(rate(a{job=~"$job", stage="x{y}"}[5m])) / b{c!="", d=~"e"} + f'), [
    { name: 'a', labels: ['job', 'stage'] },
    { name: 'b', labels: ['c', 'd'] },
  ]);
});
