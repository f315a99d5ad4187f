import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import t from 'tap';
import { GOLDEN_PATH, type GoldenFamily } from '../../src/dev/update-docs.js';
import { allRules, dashboardQueries, familyOf, metricNames, repoRoot, selectorLabels, variableQueries } from '../helpers/mixin.js';

// No alert or panel may read a metric pgvigil does not emit: a rule on a renamed metric never
// fires and a panel on one stays empty, silently. The list of emitted families is the golden file,
// which test/golden.test.ts proves equal to what a real primary, standby, PgBouncer and
// instrumented client pool emit (helpers/emitted-families.ts).

function goldenFamilies() {
  const golden = JSON.parse(readFileSync(GOLDEN_PATH, 'utf8')) as GoldenFamily[];
  return {
    types: new Map(golden.map((f) => [f.name, f.type])),
    labels: new Map(golden.map((f) => [f.name, new Set(f.labels)])),
    pgbouncer: golden.some((f) => f.collector === 'pgbouncer'),
  };
}

// Series that exist in Prometheus without any exporter: the alert state Prometheus records.
const PROMETHEUS_SERIES = new Set(['ALERTS']);
// Labels Prometheus adds to every scraped series.
const TARGET_LABELS = new Set(['job', 'instance']);

// Used only when PgBouncer is not installed (CI installs it): the pgbouncer collector's families,
// each checked to be named in src/collectors/pgbouncer.ts.
const PGBOUNCER_SOURCE = join(repoRoot, 'src/collectors/pgbouncer.ts');

interface Use {
  readonly where: string;
  readonly expr: string;
}

function uses(): Use[] {
  const fromRules = allRules().map((r) => ({ where: `${basename(r.file)} ${r.alert ?? r.record}`, expr: r.expr }));
  const fromPanels = dashboardQueries().map((q) => ({ where: `${q.dashboard} "${q.panel}" ${q.refId}`, expr: q.expr }));
  const fromVariables = variableQueries().map((v) => ({ where: `${v.dashboard} variable ${v.name}`, expr: v.expr }));
  return [...fromRules, ...fromPanels, ...fromVariables];
}

t.test('every metric in alerts/ and dashboards/ is one pgvigil emits', async (t) => {
  const emitted = goldenFamilies();
  t.comment(`${emitted.types.size} families emitted (PgBouncer ${emitted.pgbouncer ? 'running' : 'not installed: allow-list used'})`);
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

t.test('the metric-name extractor', async (t) => {
  t.same(
    metricNames(
      'histogram_quantile(0.95, sum by (class, le) (rate(a_bucket{job=~"$job", x="b{c}"}[5m]))) > on (job) group_left () b:rec{t="x"} and ignoring(le) c offset 5m or vector(0)',
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
