import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { stringify } from 'yaml';
import {
  concreteQuery,
  dashboardQueries,
  dashboards,
  dashboardsDir,
  panelsOf,
  runTool,
  variableQueries,
} from '../helpers/mixin.js';

// The dashboards as Grafana and Prometheus see them: a valid Grafana model (schema version,
// stable uids, a ${datasource} variable every query uses, a unit on every panel, a grid without
// overlaps, links between the boards), every PromQL expression parsed by Prometheus' own parser,
// and the JSON in step with dashboards/generate.mjs.

const SCHEMA_VERSION = 41;
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's datasource variable, written as Grafana reads it
const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };
const BUILTIN_ANNOTATIONS = { type: 'grafana', uid: '-- Grafana --' };
const PANEL_TYPES = new Set(['row', 'timeseries', 'stat', 'table', 'heatmap', 'bargauge', 'gauge']);
const EXPECTED_UIDS = [
  'pgvigil-connections',
  'pgvigil-overview',
  'pgvigil-queries',
  'pgvigil-self',
  'pgvigil-slo',
  'pgvigil-storage',
  'pgvigil-tables',
];

const boards = dashboards();

t.test('the committed JSON is what dashboards/generate.mjs writes', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pgvigil-dashboards-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const r = runTool('node', [join(dashboardsDir, 'generate.mjs'), dir]);
  t.equal(r.status, 0, r.output);
  const generated = readdirSync(dir).sort();
  t.same(
    generated,
    readdirSync(dashboardsDir)
      .filter((f) => f.endsWith('.json'))
      .sort(),
    'same files',
  );
  for (const f of generated) {
    t.equal(
      readFileSync(join(dashboardsDir, f), 'utf8'),
      readFileSync(join(dir, f), 'utf8'),
      `${f} is up to date (node dashboards/generate.mjs)`,
    );
  }
});

/** Every object under `node` that has a `datasource` key. */
function datasourceRefs(node: unknown, path = '$'): { path: string; ref: unknown }[] {
  if (node === null || typeof node !== 'object') return [];
  const found: { path: string; ref: unknown }[] = [];
  for (const [k, v] of Object.entries(node)) {
    if (k === 'datasource') found.push({ path: `${path}.${k}`, ref: v });
    found.push(...datasourceRefs(v, `${path}.${k}`));
  }
  return found;
}

t.test('every dashboard is a valid Grafana model', async (t) => {
  t.same(boards.map((b) => b.json.uid).sort(), EXPECTED_UIDS, 'the seven boards with stable uids');
  for (const { json } of boards) {
    const name = json.uid;
    t.equal(json.schemaVersion, SCHEMA_VERSION, `${name}: schemaVersion`);
    t.type(json.title, 'string');
    t.equal(json.id ?? null, null, `${name}: no instance-specific id`);
    t.ok(json.tags.includes('pgvigil'), `${name}: tagged pgvigil`);
    t.ok(
      json.links.some((l) => l.type === 'dashboards' && l.tags.includes('pgvigil') && l.includeVars && l.keepTime),
      `${name}: links to the other pgvigil boards, keeping variables and time`,
    );

    const vars = new Map(json.templating.list.map((v) => [v.name, v]));
    t.equal(vars.get('datasource')?.type, 'datasource', `${name}: $datasource variable`);
    t.equal(vars.get('datasource')?.query, 'prometheus');
    for (const v of ['job', 'instance', 'datname']) t.ok(vars.has(v), `${name}: $${v} variable`);

    // No dangling datasource: everything points at the variable (annotations may use Grafana's own).
    for (const { path, ref } of datasourceRefs(json)) {
      if (path.startsWith('$.templating.list.0')) continue; // the datasource variable itself
      const ok =
        JSON.stringify(ref) === JSON.stringify(DATASOURCE) ||
        (path.startsWith('$.annotations') && JSON.stringify(ref) === JSON.stringify(BUILTIN_ANNOTATIONS));
      t.ok(ok, `${name}: ${path} refers to \${datasource}`);
    }

    // Every $variable used is defined (Grafana's own $__ variables aside).
    const text = JSON.stringify(json.panels) + JSON.stringify(json.templating.list.map((v) => v.query));
    for (const m of text.matchAll(/\$\{?([a-zA-Z_]\w*)/g)) {
      if (m[1]!.startsWith('__')) continue;
      t.ok(vars.has(m[1]!), `${name}: $${m[1]} is a defined variable`);
    }

    const panels = panelsOf(json);
    const ids = panels.map((p) => p.id);
    t.same(
      ids.filter((id, i) => ids.indexOf(id) !== i),
      [],
      `${name}: panel ids are unique`,
    );
    const cells = new Set<string>();
    for (const p of panels) {
      const where = `${name} "${p.title}"`;
      t.ok(PANEL_TYPES.has(p.type), `${where}: known panel type ${p.type}`);
      const g = p.gridPos;
      t.ok(g && g.x >= 0 && g.w > 0 && g.x + g.w <= 24 && g.h > 0 && g.y >= 0, `${where}: gridPos inside 24 columns`);
      for (let x = g.x; x < g.x + g.w; x++) {
        for (let y = g.y; y < g.y + g.h; y++) {
          const cell = `${x},${y}`;
          if (cells.has(cell)) t.fail(`${where}: overlaps another panel at ${cell}`);
          cells.add(cell);
        }
      }
      if (p.type === 'row') continue;
      t.ok((p.fieldConfig?.defaults?.unit ?? '') !== '', `${where}: has a unit`);
      const targets = p.targets ?? [];
      t.ok(targets.length > 0, `${where}: has a query`);
      const refIds = targets.map((x) => x.refId);
      t.same(
        refIds.filter((r: string, i: number) => refIds.indexOf(r) !== i),
        [],
        `${where}: refIds unique`,
      );
      for (const target of targets)
        t.ok(typeof target.expr === 'string' && target.expr !== '', `${where} ${target.refId}: has expr`);
    }
  }
});

t.test('every dashboard expression parses (promtool check rules)', async (t) => {
  // promtool has no parse-only command; a recording rule per expression makes it parse them all.
  const exprs = [
    ...dashboardQueries().map((q) => ({
      where: `${q.dashboard} "${q.panel}" ${q.refId}`,
      expr: concreteQuery(q.expr),
    })),
    ...variableQueries().map((v) => ({ where: `${v.dashboard} variable ${v.name}`, expr: concreteQuery(v.expr) })),
  ];
  t.ok(exprs.length > 80, `${exprs.length} expressions`);
  const dir = mkdtempSync(join(tmpdir(), 'pgvigil-dashboard-exprs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'exprs.yml');
  // One group per expression, so a parse error names the panel.
  const write = (items: typeof exprs) =>
    writeFileSync(
      file,
      stringify({
        groups: items.map((e, i) => ({
          name: `${i} ${e.where}`,
          rules: [{ record: `dashboard:expr_${i}`, expr: e.expr }],
        })),
      }),
    );
  write(exprs);
  const r = runTool('promtool', ['check', 'rules', '--lint=none', file]);
  t.equal(r.status, 0, r.output);

  // The check can fail: a broken expression is rejected.
  write([{ where: 'broken', expr: 'sum by (x (rate(y[5m]))' }]);
  t.not(runTool('promtool', ['check', 'rules', '--lint=none', file]).status, 0, 'a broken expression fails');
});
