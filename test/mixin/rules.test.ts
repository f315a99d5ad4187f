import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import {
  allRules,
  dashboards,
  headingAnchor,
  repoRoot,
  ruleFilePaths,
  ruleTestPaths,
  runTool,
} from '../helpers/mixin.js';

// The alert pack as Prometheus and Alertmanager see it: their own checkers, the unit tests in
// alerts/tests/, and the conventions every alert must follow (labels, annotations, runbook
// anchors that exist, dashboards that exist, a firing and a silent case per alert).

const RUNBOOK_BASE = 'https://github.com/pgvigil/pgvigil/blob/main/docs/runbooks.md#';
// dashboard_url starts with the Grafana base URL recorded in alerts/links.yml.
const GRAFANA_URL = '{{ range query "pgvigil:grafana_url" }}{{ .Labels.url }}{{ end }}';
const SEVERITIES = new Set(['critical', 'warning', 'info']);

// --lint=all is every lint this promtool knows (2.42: duplicate rules); --lint-fatal fails on them.
t.test('promtool check rules accepts every rule file, lint included', async (t) => {
  const r = runTool('promtool', ['check', 'rules', '--lint=all', '--lint-fatal', ...ruleFilePaths()]);
  t.equal(r.status, 0, r.output);
});

// One promtool run per file, each within runTool's time limit (the SLO cases alone take seconds).
t.test('promtool test rules passes every case in alerts/tests', async (t) => {
  for (const file of ruleTestPaths()) {
    const r = runTool('promtool', ['test', 'rules', file]);
    t.equal(r.status, 0, `${basename(file)}\n${r.output}`);
  }
});

t.test('amtool check-config accepts deploy/alertmanager.yml', async (t) => {
  const r = runTool('amtool', ['check-config', join(repoRoot, 'deploy/alertmanager.yml')]);
  t.equal(r.status, 0, r.output);
});

t.test('deploy/prometheus/prometheus.yml loads the alert pack', async (t) => {
  const file = join(repoRoot, 'deploy/prometheus/prometheus.yml');
  const r = runTool('promtool', ['check', 'config', file]);
  t.equal(r.status, 0, r.output);
  t.match(
    r.output,
    new RegExp(`SUCCESS: ${ruleFilePaths().length} rule files found`),
    'every file of alerts/ is loaded through rule_files',
  );
});

const alerts = allRules().filter((r) => r.alert !== undefined);

t.test('every alert follows the conventions', async (t) => {
  const runbook = readFileSync(join(repoRoot, 'docs/runbooks.md'), 'utf8');
  const anchors = new Set([...runbook.matchAll(/^#{2,3} (.+)$/gm)].map((m) => headingAnchor(m[1]!)));
  const uids = new Set(dashboards().map((d) => d.json.uid));
  t.ok(alerts.length > 0);
  for (const a of alerts) {
    const where = `${a.alert} (${basename(a.file)})`;
    t.match(a.alert, /^Postgres[A-Z][A-Za-z]+$/, `${where}: Postgres<Symptom> name`);
    t.ok(SEVERITIES.has(a.labels?.severity ?? ''), `${where}: severity critical|warning|info`);
    for (const key of ['summary', 'description', 'runbook_url', 'dashboard_url']) {
      t.ok((a.annotations?.[key] ?? '') !== '', `${where}: has ${key}`);
    }
    const url = a.annotations?.runbook_url ?? '';
    t.ok(url.startsWith(RUNBOOK_BASE), `${where}: runbook_url points at docs/runbooks.md`);
    t.ok(
      anchors.has(url.slice(RUNBOOK_BASE.length)),
      `${where}: docs/runbooks.md has the anchor #${url.slice(RUNBOOK_BASE.length)}`,
    );
    const dashboardUrl = a.annotations?.dashboard_url ?? '';
    t.ok(dashboardUrl.startsWith(`${GRAFANA_URL}/d/`), `${where}: dashboard_url starts with the Grafana base URL`);
    const uid = /^\/d\/([^/?]+)/.exec(dashboardUrl.slice(GRAFANA_URL.length))?.[1];
    t.ok(uid !== undefined && uids.has(uid), `${where}: dashboard_url names an existing dashboard uid (${uid})`);
  }
  const keys = alerts.map((a) => `${a.alert} ${JSON.stringify(a.labels)}`);
  t.same(
    keys.filter((n, i) => keys.indexOf(n) !== i),
    [],
    'no alert defined twice with the same labels',
  );
});

t.test('every alert has a firing and a silent promtool case', async (t) => {
  const firing = new Set<string>();
  const silent = new Set<string>();
  for (const file of ruleTestPaths()) {
    const doc = parse(readFileSync(file, 'utf8'));
    for (const test of doc.tests ?? []) {
      for (const c of test.alert_rule_test ?? []) {
        if ((c.exp_alerts ?? []).length > 0) {
          firing.add(c.alertname);
          for (const e of c.exp_alerts) {
            t.ok(
              e.exp_annotations?.summary && e.exp_annotations?.runbook_url,
              `${c.alertname}: firing case asserts annotations`,
            );
            t.ok(e.exp_labels?.severity, `${c.alertname}: firing case asserts severity`);
          }
        } else silent.add(c.alertname);
      }
    }
  }
  for (const name of new Set(alerts.map((a) => a.alert!))) {
    t.ok(firing.has(name), `${name} fires in a promtool test`);
    t.ok(silent.has(name), `${name} stays silent in a promtool test`);
  }
});

t.test('every threshold an alert uses is defined once in alerts/thresholds.yml', async (t) => {
  const defined = allRules()
    .filter((r) => r.record === 'pgvigil:alert_threshold')
    .map((r) => r.labels?.threshold ?? '');
  t.same(
    defined.filter((n, i) => defined.indexOf(n) !== i),
    [],
    'no threshold defined twice',
  );
  const used = new Set(alerts.flatMap((a) => [...a.expr.matchAll(/threshold="([^"]+)"/g)].map((m) => m[1]!)));
  for (const name of used) t.ok(defined.includes(name), `threshold ${name} is defined`);
  for (const name of defined) t.ok(used.has(name), `threshold ${name} is used by an alert`);
  const runbook = readFileSync(join(repoRoot, 'docs/runbooks.md'), 'utf8');
  for (const name of defined) t.ok(runbook.includes(name), `threshold ${name} is documented in docs/runbooks.md`);
});
