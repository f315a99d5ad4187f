import { CONNECTIONS_UTILIZATION_FAMILY } from './collectors/activity.js';
import { CLIENT_POOL_UTILIZATION_FAMILY } from './collectors/client-pools.js';
import { INVALID_INDEX_FAMILY, UNUSED_INDEX_FAMILY } from './collectors/index-health.js';
import type { LockTreeNode, LockTreesSnapshot } from './collectors/lock-trees.js';
import type { RecentWaits } from './collectors/waits.js';
import type { Family, HistogramFamily, ValueSample } from './exposition/families.js';
import { OBJECTIVE } from './statements/class-objective-families.js';
import type { ApiSnapshot } from './statements/engine.js';
import { LATENCY } from './statements/latency-histograms.js';

// The page at `/`: the state in one look for someone without Grafana at hand (a laptop, a
// kubectl port-forward, the demo). Server-rendered from what the collectors last read (never a
// query of its own), no script, refreshed by the browser every 15 s. Every name comes from the
// database (class, application, relation, index and query text are anyone's to choose), so every
// one goes through escapeHtml; lists are cut so the page stays a few KB whatever the server holds.

export interface StatusSources {
  /** The fresh families of one collector's last polls (none when it is disabled or stale). */
  families(collector: string): readonly Family[];
  statements(): ApiSnapshot | undefined;
  lockTrees(): LockTreesSnapshot | undefined;
  recentWaits(): RecentWaits | undefined;
}

const ROWS = 8;
const LOCK_NODES = 20;
const QUERY_CHARS = 90;

const STYLE =
  'body{font:14px system-ui,sans-serif;margin:1em 2em}table{border-collapse:collapse}td,th{padding:.1em .6em;' +
  'text-align:left}tr:nth-child(even){background:#f4f4f4}code{font-size:12px}.ok{color:#070}.bad{color:#b00}' +
  '.none{color:#888}h2{font-size:1.1em;margin:1.2em 0 .3em}ul{margin:0}';

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const cut = (text: string, n: number) => (text.length <= n ? text : `${text.slice(0, n - 1)}…`);
const ms = (seconds: number) => `${(seconds * 1000).toFixed(seconds < 0.01 ? 2 : 0)} ms`;
const pct = (ratio: number) => `${(ratio * 100).toFixed(1)} %`;
const bytes = (n: number) => (n >= 1048576 ? `${(n / 1048576).toFixed(1)} MiB` : `${Math.round(n / 1024)} KiB`);

function samplesOf(families: readonly Family[], name: string): ValueSample[] {
  return families.flatMap((f) => (f.name === name && f.type !== 'histogram' ? f.samples : []));
}

function table(head: readonly string[], rows: readonly string[][], empty: string): string {
  if (rows.length === 0) return `<p class="none">${escapeHtml(empty)}</p>`;
  const th = head.map((h) => `<th>${h}</th>`).join('');
  const body = rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('');
  return `<table><tr>${th}</tr>${body}</table>`;
}

/** Share within the objective and p95 of a cumulative histogram (linear inside a bucket). */
function classRow(f: HistogramFamily, s: HistogramFamily['samples'][number], objective: number, target: number) {
  const name = escapeHtml(s.labels.class ?? '');
  if (s.count === 0) return [name, ms(objective), '<span class="none">no calls</span>', ''];
  let within = 0;
  f.bounds.forEach((b, i) => {
    if (b <= objective * (1 + 1e-9)) within = s.buckets[i]!;
  });
  const share = within / s.count;
  const rank = 0.95 * s.count;
  const i = s.buckets.findIndex((c) => c >= rank);
  const lower = i <= 0 ? 0 : f.bounds[i - 1]!;
  const below = i <= 0 ? 0 : s.buckets[i - 1]!;
  const p95 =
    i < 0 ? f.bounds.at(-1)! : lower + ((f.bounds[i]! - lower) * (rank - below)) / Math.max(1, s.buckets[i]! - below);
  const css = share >= target ? 'ok' : 'bad';
  return [name, ms(objective), `<span class="${css}">${pct(share)}</span> (target ${pct(target)})`, ms(p95)];
}

function classes(statements: readonly Family[]): string {
  const objective = new Map(samplesOf(statements, OBJECTIVE.seconds.name).map((s) => [s.labels.class, s.value]));
  const target = new Map(samplesOf(statements, OBJECTIVE.target.name).map((s) => [s.labels.class, s.value]));
  const hist = statements.find((f): f is HistogramFamily => f.name === LATENCY.byClass.name);
  const rows = (hist?.samples ?? [])
    .filter((s) => objective.has(s.labels.class))
    .map((s) => classRow(hist!, s, objective.get(s.labels.class)!, target.get(s.labels.class) ?? 0.99));
  const head = ['class', 'objective', 'within objective', 'p95'];
  return `<h2>Query classes (since pgvigil started)</h2>${table(head, rows, 'no query classes configured')}`;
}

function topStatements(api: ApiSnapshot | undefined): string {
  const rows = (api?.statements ?? [])
    .slice(0, ROWS)
    .map((s) => [
      escapeHtml(s.class),
      escapeHtml(s.datname),
      ms(s.mean_seconds),
      pct(s.share_of_total_time),
      `<code>${escapeHtml(cut(s.query ?? '', QUERY_CHARS))}</code>`,
    ]);
  const head = ['class', 'database', 'mean', 'time share', 'statement (redacted)'];
  return `<h2>Top statements</h2>${table(head, rows, 'no statements (statements collector off or first poll)')}`;
}

function lockNode(n: LockTreeNode, budget: { left: number }): string {
  if (budget.left-- <= 0) return '';
  const wait = n.waiting_for;
  const what =
    wait === null
      ? `${escapeHtml(n.state)} for ${n.state_seconds.toFixed(0)} s`
      : `waits ${wait.seconds?.toFixed(0) ?? '?'} s for ${escapeHtml(wait.mode)} on ` +
        escapeHtml(wait.relation ?? wait.lock_type);
  const who = `pid ${n.pid} ${escapeHtml(n.application_name)} (${escapeHtml(n.user)}@${escapeHtml(n.datname)})`;
  const children = n.blocking.map((c) => lockNode(c, budget)).join('');
  const query = `<code>${escapeHtml(cut(n.query, QUERY_CHARS))}</code>`;
  return `<li>${who}: ${what} ${query}${children === '' ? '' : `<ul>${children}</ul>`}</li>`;
}

function lockTrees(snapshot: LockTreesSnapshot | undefined): string {
  const trees = snapshot?.trees ?? [];
  const budget = { left: LOCK_NODES };
  const body =
    trees.length === 0
      ? '<p class="none">nobody blocks anybody</p>'
      : `<ul>${trees.map((t) => lockNode(t, budget)).join('')}</ul>`;
  return `<h2>Blocking trees (<a href="/api/locks">JSON</a>)</h2>${body}`;
}

function waits(recent: RecentWaits | undefined): string {
  const rows = Object.entries(recent?.by_wait_event_type ?? {})
    .sort((a, b) => b[1] - a[1])
    .map(([type, aas]) => [escapeHtml(type), aas.toFixed(2)]);
  const window = recent === undefined ? '' : ` (last ${recent.window_seconds} s)`;
  const body = table(['wait', 'sessions'], rows, 'no active sessions');
  return `<h2>Average active sessions by wait type${window}</h2>${body}`;
}

function pools(clientPools: readonly Family[], activity: readonly Family[]): string {
  const rows = samplesOf(clientPools, CLIENT_POOL_UTILIZATION_FAMILY)
    .sort((a, b) => b.value - a.value)
    .slice(0, ROWS)
    .map((s) => [escapeHtml(`${s.labels.application_name ?? ''} ${s.labels.client_addr ?? ''}`), pct(s.value)]);
  const server = samplesOf(activity, CONNECTIONS_UTILIZATION_FAMILY)[0];
  if (server !== undefined) rows.unshift(['<b>server: max_connections</b>', pct(server.value)]);
  return `<h2>Pool saturation</h2>${table(['pool', 'in use'], rows, 'no pools known')}`;
}

function indexes(health: readonly Family[]): string {
  const kind = (name: string, label: string) => samplesOf(health, name).map((s) => ({ label, s }));
  const rows = [...kind(INVALID_INDEX_FAMILY, 'invalid'), ...kind(UNUSED_INDEX_FAMILY, 'unused')]
    .sort((a, b) => Number(a.label === 'unused') - Number(b.label === 'unused') || b.s.value - a.s.value)
    .slice(0, ROWS)
    .map(({ label, s }) => [
      label,
      escapeHtml(`${s.labels.datname}: ${s.labels.schemaname}.${s.labels.indexrelname} on ${s.labels.relname}`),
      bytes(s.value),
    ]);
  return `<h2>Invalid and unused indexes</h2>${table(['', 'index', 'size'], rows, 'none found')}`;
}

/** The whole page; `version` is pgvigil's own. */
export function statusPage(version: string, sources: StatusSources, now: number): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="15">
<title>pgvigil</title><style>${STYLE}</style></head><body>
<h1>pgvigil ${escapeHtml(version)}</h1><p class="none">as of ${new Date(now).toISOString()}, refreshed every 15 s</p>
${classes(sources.families('statements'))}
${topStatements(sources.statements())}
${lockTrees(sources.lockTrees())}
${waits(sources.recentWaits())}
${pools(sources.families('client_pools'), sources.families('activity'))}
${indexes(sources.families('index_health'))}
<p><a href="/metrics">/metrics</a> · <a href="/api/statements">/api/statements</a> ·
<a href="/api/locks">/api/locks</a> · <a href="/healthz">/healthz</a> · <a href="/readyz">/readyz</a></p>
</body></html>
`;
}
