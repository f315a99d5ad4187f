import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

// Reads the monitoring mixin of this repository (alerts/, alerts/tests/, dashboards/) for the
// lint tests and the end-to-end test, and runs Prometheus' own tools on it.

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const alertsDir = join(repoRoot, 'alerts');
export const ruleTestsDir = join(alertsDir, 'tests');
export const dashboardsDir = join(repoRoot, 'dashboards');

export interface Rule {
  readonly alert?: string;
  readonly record?: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}

export interface RuleFile {
  readonly file: string;
  readonly groups: { name: string; rules: Rule[] }[];
}

const yamlFiles = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.yml'))
    .sort()
    .map((f) => join(dir, f));

export const ruleFilePaths = () => yamlFiles(alertsDir);
export const ruleTestPaths = () => yamlFiles(ruleTestsDir);

export function ruleFiles(): RuleFile[] {
  return ruleFilePaths().map((file) => ({ file, groups: parse(readFileSync(file, 'utf8')).groups }));
}

export function allRules(): (Rule & { file: string; group: string })[] {
  return ruleFiles().flatMap(({ file, groups }) =>
    groups.flatMap((g) => g.rules.map((r) => ({ ...r, file, group: g.name }))),
  );
}

/** The parts of Grafana's dashboard model the tests read; JSON.parse gives no more than this promise. */
export interface GrafanaTarget {
  readonly refId: string;
  readonly expr: string;
  readonly legendFormat?: string;
}

export interface GrafanaPanel {
  readonly id: number;
  readonly type: string;
  readonly title: string;
  readonly description?: string;
  readonly gridPos: { readonly x: number; readonly y: number; readonly w: number; readonly h: number };
  readonly fieldConfig?: { readonly defaults?: { readonly unit?: string } };
  readonly targets?: GrafanaTarget[];
  /** A collapsed row keeps its panels here. */
  readonly panels?: GrafanaPanel[];
}

export interface GrafanaVariable {
  readonly name: string;
  readonly type: string;
  readonly query?: unknown;
  /** `label_values(<selector>, label)` on query variables. */
  readonly definition?: string;
}

export interface GrafanaLink {
  readonly type: string;
  readonly tags: string[];
  readonly includeVars?: boolean;
  readonly keepTime?: boolean;
}

export interface GrafanaDashboard {
  readonly uid: string;
  readonly title: string;
  readonly id?: number | null;
  readonly schemaVersion: number;
  readonly tags: string[];
  readonly links: GrafanaLink[];
  readonly templating: { readonly list: GrafanaVariable[] };
  readonly panels?: GrafanaPanel[];
}

export interface Dashboard {
  readonly file: string;
  readonly json: GrafanaDashboard;
}

export function dashboards(): Dashboard[] {
  return readdirSync(dashboardsDir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({
      file: join(dashboardsDir, f),
      json: JSON.parse(readFileSync(join(dashboardsDir, f), 'utf8')) as GrafanaDashboard,
    }));
}

/** Every panel of a dashboard, rows' collapsed panels included. */
export function panelsOf(dashboard: GrafanaDashboard): GrafanaPanel[] {
  return (dashboard.panels ?? []).flatMap((p) => [p, ...(p.panels ?? [])]);
}

export interface PanelQuery {
  readonly dashboard: string;
  readonly panel: string;
  readonly refId: string;
  readonly expr: string;
  /** Documented reason the query may return nothing on a plain primary (standby, PgBouncer). */
  readonly needs: string | undefined;
  /** Grafana's series name template, e.g. `{{datname}} {{state}}`. */
  readonly legend: string | undefined;
}

/** Panels say what they need in their description: "Needs: a standby." / "Needs: PgBouncer." */
export function panelNeeds(panel: GrafanaPanel): string | undefined {
  return /Needs: ([^.]+)\./.exec(panel.description ?? '')?.[1];
}

export function dashboardQueries(): PanelQuery[] {
  return dashboards().flatMap(({ json }) =>
    panelsOf(json).flatMap((p) =>
      (p.targets ?? []).map((t) => ({
        dashboard: json.uid,
        panel: p.title,
        refId: t.refId,
        expr: t.expr,
        needs: panelNeeds(p),
        legend: t.legendFormat,
      })),
    ),
  );
}

/** The series selector of each dashboard variable (`label_values(<selector>, label)`). */
export function variableQueries(): { dashboard: string; name: string; expr: string }[] {
  return dashboards().flatMap(({ json }) =>
    json.templating.list
      .filter((v) => v.type === 'query')
      .map((v) => ({
        dashboard: json.uid,
        name: v.name,
        expr: /label_values\((.*),\s*\w+\)$/.exec(v.definition!)?.[1] ?? v.definition!,
      })),
  );
}

/** Every query a dashboard runs: each panel's targets, then each variable's selector as a pseudo-panel. */
export function everyDashboardQuery(): PanelQuery[] {
  return [
    ...dashboardQueries(),
    ...variableQueries().map((v) => ({
      dashboard: v.dashboard,
      panel: `variable ${v.name}`,
      refId: '',
      expr: v.expr,
      needs: undefined,
      legend: undefined,
    })),
  ];
}

/**
 * A dashboard query with Grafana's variables replaced by values Prometheus accepts, so it can be
 * parsed by promtool or run against a real Prometheus.
 */
export function concreteQuery(expr: string, values: Record<string, string> = {}): string {
  // A variable name starts with a letter or _: `$1` is PromQL's own (label_replace's capture
  // group), which Grafana leaves alone too.
  // A variable after `offset` holds a duration (the tables board's baseline week).
  return expr
    .replace(/\$__(rate_)?interval|\$__range/g, '1m')
    .replace(/\boffset \$\{?\w+\}?/g, 'offset 1w')
    .replace(
      /\$\{(\w+)(:\w+)?\}|\$([A-Za-z_]\w*)/g,
      (_m, a: string | undefined, _f, b: string | undefined) => values[(a ?? b)!] ?? '.*',
    );
}

const NOT_METRICS = new Set([
  'and',
  'or',
  'unless',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'offset',
  'inf',
  'nan',
  'start',
  'end',
]);

/** Metric (and recorded series) names an expression reads. Label names, functions and keywords are left out. */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ')
    .replace(/\$\{[^}]*\}|\$\w+/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const m of stripped.matchAll(/[0-9][0-9a-zA-Z_.]*|[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const token = m[0];
    if (/^[0-9]/.test(token) || NOT_METRICS.has(token.toLowerCase())) continue;
    const rest = stripped.slice(m.index + token.length);
    if (/^\s*\(/.test(rest)) continue; // a function or aggregation
    names.add(token);
  }
  return [...names];
}

/** Label names each selector of an expression matches on: `name{a="x", b=~"y"}` → name: [a, b]. */
export function selectorLabels(expr: string): { name: string; labels: string[] }[] {
  const out: { name: string; labels: string[] }[] = [];
  const noStrings = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""');
  for (const m of noStrings.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}/g)) {
    const labels = [...m[2]!.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!=|!~|=)/g)].map((l) => l[1]!);
    out.push({ name: m[1]!, labels });
  }
  return out;
}

/**
 * Label names an expression groups or matches by: `by (...)`, `without (...)`, `on (...)`,
 * `ignoring (...)` and the labels `group_left (...)` / `group_right (...)` copy over. A label
 * renamed in the exporter leaves these silently empty or wrong, as a selector would.
 */
export function groupingLabels(expr: string): string[] {
  const noStrings = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""');
  const labels = new Set<string>();
  for (const m of noStrings.matchAll(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g)) {
    for (const l of m[1]!.split(',')) if (l.trim() !== '') labels.add(l.trim());
  }
  return [...labels];
}

/** Labels an expression makes itself: the destination of label_replace() and label_join(). */
export function createdLabels(expr: string): string[] {
  return [...expr.matchAll(/\blabel_(?:replace|join)\s*\([\s\S]*?,\s*"([a-zA-Z_][a-zA-Z0-9_]*)"/g)].map((m) => m[1]!);
}

/** Labels a template prints: Grafana legends `{{datname}}`, alert annotations `{{ $labels.datname }}`. */
export function templateLabels(template: string): string[] {
  return [...template.matchAll(/\{\{\s*(?:\$labels\.)?([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g)]
    .map((m) => m[1]!)
    .filter((l) => !['end', 'else'].includes(l));
}

/** Family a sample name belongs to: histogram series carry _bucket/_sum/_count. */
export function familyOf(name: string, families: ReadonlyMap<string, string>): string | undefined {
  if (families.has(name)) return name;
  const base = name.replace(/_(bucket|sum|count)$/, '');
  return base !== name && (families.get(base) === 'histogram' || families.get(base) === 'summary') ? base : undefined;
}

export interface ToolResult {
  readonly status: number | null;
  readonly output: string;
}

/** Runs promtool, amtool ... and returns exit status with stdout and stderr together. */
export function runTool(bin: string, args: string[], cwd = repoRoot): ToolResult {
  const r = spawnSync(bin, args, { cwd, encoding: 'utf8', timeout: 60_000 });
  if (r.error !== undefined)
    return { status: null, output: `${bin}: ${r.error.message} (apt-get install prometheus prometheus-alertmanager)` };
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** Anchor GitHub gives a markdown heading. */
export function headingAnchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}
