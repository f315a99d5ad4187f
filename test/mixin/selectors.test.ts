import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
// @ts-expect-error: a plain ESM script with no type declarations; the tests below pin its behaviour.
import { applySelectors, applySelectorsToFile, readMixinConfig } from '../../alerts/selectors.mjs';
import { allRules, metricNames, repoRoot, ruleFilePaths, selectorLabels } from '../helpers/mixin.js';

// alerts/mixin-config.json is the one place the job selectors are set; alerts/selectors.mjs writes
// them into every rule. A rule added without its selector, or a selector edited in one file only,
// would read postgres_exporter's pg_up in a shared Prometheus: caught here.

const config = readMixinConfig() as { exporterSelector: string; applicationSelector: string };
const exporter = config.exporterSelector;
const application = config.applicationSelector;

t.test('every rule file carries the selectors of mixin-config.json', async (t) => {
  for (const file of ruleFilePaths()) {
    const text = readFileSync(file, 'utf8');
    t.equal(applySelectorsToFile(text, config), text, `${file}: run node alerts/selectors.mjs`);
  }
});

t.test('every series an alert or recording rule reads is selected by its job', async (t) => {
  let checked = 0;
  for (const rule of allRules()) {
    const selected = new Map(selectorLabels(rule.expr).map((s) => [s.name, s]));
    for (const name of metricNames(rule.expr)) {
      if (name.includes(':')) continue; // recorded: its own rule selects
      const want = name.startsWith('pgvigil_client_') ? application : exporter;
      checked++;
      t.ok(selected.has(name), `${rule.alert ?? rule.record}: ${name} has matchers`);
      t.ok(rule.expr.includes(`${name}{${want}`), `${rule.alert ?? rule.record}: ${name}{${want}...}`);
    }
  }
  t.ok(checked > 50, `${checked} series checked`);
});

t.test('applySelectors puts the selector first and replaces a job matcher', async (t) => {
  const c = { exporterSelector: 'job="db"', applicationSelector: 'job=~"app.*"' };
  t.equal(applySelectors('pg_up == 0', c), 'pg_up{job="db"} == 0');
  t.equal(applySelectors('up{job="x", instance="i"} == 0', c), 'up{job="db", instance="i"} == 0');
  t.equal(applySelectors('pg_up{job="db"}', c), 'pg_up{job="db"}', 'idempotent');
  t.equal(
    applySelectors('sum by (job, pg_label) (rate(pgvigil_client_pool_acquire_timeouts_total[5m]))', c),
    'sum by (job, pg_label) (rate(pgvigil_client_pool_acquire_timeouts_total{job=~"app.*"}[5m]))',
    'label lists and ranges untouched, application series get the application selector',
  );
  t.equal(
    applySelectors('label_replace(pg_x, "le", "$1", "pg_y", "(.*)") > on () pgvigil:alert_threshold{threshold="a"}', c),
    'label_replace(pg_x{job="db"}, "le", "$1", "pg_y", "(.*)") > on () pgvigil:alert_threshold{threshold="a"}',
    'strings and recorded series untouched',
  );
  t.equal(applySelectors('absent(pg_up)', c), 'absent(pg_up{job="db"})');
  t.equal(applySelectors('vector(1) and time() > 0', c), 'vector(1) and time() > 0');
});

t.test('a rule file written without selectors is changed', async (t) => {
  const bare = 'groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: |\n          pg_up == 0\n';
  t.not(applySelectorsToFile(bare, config), bare);
  t.match(applySelectorsToFile(bare, config), `pg_up{${exporter}} == 0`);
  const inline = bare.replace('expr: |\n          pg_up == 0', 'expr: pg_up == 0');
  t.match(applySelectorsToFile(inline, config), `expr: pg_up{${exporter}} == 0`);
});

t.test('the deploy configs name a job the exporter selector matches', async (t) => {
  const job = /job=~"([^"]+)"/.exec(exporter)?.[1];
  t.ok(job !== undefined, 'exporterSelector is a job regex');
  const re = new RegExp(`^(?:${job})$`);
  for (const file of ['deploy/prometheus/prometheus.yml', 'deploy/compose/prometheus.yml']) {
    const text = readFileSync(join(repoRoot, file), 'utf8');
    const names = [...text.matchAll(/^\s*- job_name: (\S+)/gm)].map((m) => m[1]!);
    t.ok(
      names.some((n) => re.test(n)),
      `${file}: a scrape job (${names.join(', ')}) matches ${exporter}`,
    );
  }
  const monitor = readFileSync(join(repoRoot, 'deploy/kubernetes/servicemonitor.yaml'), 'utf8');
  const set = /targetLabel: job\s+replacement: (\S+)/.exec(monitor)?.[1];
  t.ok(set !== undefined && re.test(set), `servicemonitor.yaml sets job to one ${exporter} matches (${set})`);
});
