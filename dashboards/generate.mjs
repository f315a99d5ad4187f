#!/usr/bin/env node
// Writes the Grafana dashboards of dashboards/*.json. Edit this file, run
// `node dashboards/generate.mjs`, commit both; test/mixin/dashboards.test.ts fails when the JSON
// and this generator disagree. One place for layout, variables, datasource references and units
// keeps six boards consistent, which hand-edited JSON never stays.
//
// Panels that can only have data with something a plain primary lacks (a standby, PgBouncer, an
// alert firing, a week of history) say so at the end of their description ("Needs: a standby.");
// test/mixin/dashboards-data.test.ts accepts those, and only those, without data. docs/dashboards.md
// explains the selector, the rate windows, the colours and the conditional panels.

import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SCHEMA_VERSION = 41; // Grafana 12
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's own variable syntax, meant literally
const DS = { type: 'prometheus', uid: '${datasource}' };
const here = dirname(fileURLToPath(import.meta.url));
const repoFile = (path) => readFileSync(join(here, '..', path), 'utf8');

// The one selector that picks pgvigil's job among other exporters (postgres_exporter has pg_up
// too), shared with the alert rules. Every query of pgvigil's own series starts with it, so
// "All" in the job variable still never reaches another exporter's series.
const { exporterSelector: EXPORTER } = JSON.parse(repoFile('alerts/mixin-config.json'));
const S = `${EXPORTER}, job=~"$job", instance=~"$instance"`;
const D = `${S}, datname=~"$datname"`;
/** Written after every range selector; pollWindows() replaces it on families a collector polls. */
const RATE = '$__rate_interval';
const NEEDS_STANDBY = 'Needs: a standby.';
const NEEDS_PGBOUNCER = 'Needs: PgBouncer (PGVIGIL_PGBOUNCER_URL).';
const NEEDS_APP = 'Needs: an application instrumented with pgvigil/pool, scraped by Prometheus.';
const NEEDS_ALERT = 'Needs: an alert firing (empty when all is well).';
/** A panel description followed by what the panel needs to have any data (one of the NEEDS_ texts). */
const needing = (text, needs) => `${text} ${needs}`;

// ---------------------------------------------------------------- rate windows of polled families

// A family a collector polls changes once per poll, whatever the scrape interval. Grafana's
// $__rate_interval is four scrapes (60 s at a 15 s scrape): on a family polled every 60 s that
// window holds one change or none, so rate() reads 0, then 4/3 of the truth, and a hit ratio
// turns 0/0. A window of four polls always holds at least three changes. The windows come from
// the collectors' default intervals as generated into docs/configuration.md (from the config
// schema) and each family's collector as recorded in test/golden/families.json; both files are
// kept in step with the code by their own tests.
const POLLS_PER_WINDOW = 4;
/** The deployed scrape interval (deploy/prometheus/prometheus.yml): no window is shorter than four scrapes. */
const SCRAPE_SECONDS = 15;
/** Families not polled: pgvigil's own, read at scrape time; the application's pool, scraped from the application. */
const NOT_POLLED = new Set(['self', 'pgvigil/pool']);

const collectorOf = new Map(
  JSON.parse(repoFile('test/golden/families.json')).map((family) => [family.name, family.collector]),
);
const defaultIntervals = new Map(
  [...repoFile('docs/configuration.md').matchAll(/^\| `PGVIGIL_(\w+)_INTERVAL_SECONDS` \| `(\d+(?:\.\d+)?)` \|/gm)].map(
    (m) => [m[1].toLowerCase(), Number(m[2])],
  ),
);

/** The collector polling a series (a histogram's by its family); throws on a name pgvigil does not emit. */
function collectorOfSeries(name) {
  const family = [name, name.replace(/_(bucket|count|sum)$/, '')].find((n) => collectorOf.has(n));
  if (family === undefined) throw new Error(`${name}: not in test/golden/families.json`);
  return collectorOf.get(family);
}

const duration = (seconds) => (seconds % 60 === 0 ? `${seconds / 60}m` : `${seconds}s`);

/** The range a rate over `name` needs, and the collector and interval it assumes (none for unpolled families). */
function pollWindow(name) {
  const collector = collectorOfSeries(name);
  if (NOT_POLLED.has(collector)) return { window: RATE };
  const interval = defaultIntervals.get(collector);
  if (interval === undefined) throw new Error(`${collector}: no default interval in docs/configuration.md`);
  const seconds = Math.max(POLLS_PER_WINDOW * interval, POLLS_PER_WINDOW * SCRAPE_SECONDS);
  return { window: duration(seconds), collector, interval };
}

const RANGE_SELECTOR = /([a-zA-Z_:][\w:]*)(\{[^}]*\})?\[\$__rate_interval\]/g;

/** The expression with each `family{...}[$__rate_interval]` on a polled family given its poll window. */
const pollWindows = (expr) =>
  expr.replace(RANGE_SELECTOR, (_m, name, selector = '') => `${name}${selector}[${pollWindow(name).window}]`);

/** The sentence a panel's description gets for the poll windows its queries use. */
function windowNote(exprs) {
  const notes = new Map();
  for (const expr of exprs) {
    for (const m of expr.matchAll(RANGE_SELECTOR)) {
      const w = pollWindow(m[1]);
      if (w.collector !== undefined) {
        notes.set(
          w.collector,
          `${w.window} for the ${w.collector} collector ` +
            `(PGVIGIL_${w.collector.toUpperCase()}_INTERVAL_SECONDS, default ${w.interval} s)`,
        );
      }
    }
  }
  if (notes.size === 0) return '';
  return `Rate windows of at least four polls, assuming the default intervals: ${[...notes.values()].join('; ')}.`;
}

/** Grafana shows a ratio of two rates that are both 0 (NaN) as this, not as a gap or "NaN". */
const NO_TRAFFIC = [{ type: 'special', options: { match: 'nan', result: { text: 'no traffic', index: 0 } } }];

// ---------------------------------------------------------------- variables

const datasourceVar = {
  name: 'datasource',
  label: 'Data source',
  type: 'datasource',
  query: 'prometheus',
  current: {},
  hide: 0,
};

function queryVar(name, label, query, { multi = true, includeAll = true } = {}) {
  return {
    name,
    label,
    type: 'query',
    datasource: DS,
    query: { query, refId: `${name}-variable` },
    definition: query,
    refresh: 2,
    sort: 1,
    multi,
    includeAll,
    allValue: '.*',
    current: {},
    hide: 0,
  };
}

const jobVar = queryVar('job', 'Job', `label_values(pg_up{${EXPORTER}}, job)`);
const instanceVar = queryVar('instance', 'Instance', `label_values(pg_up{${EXPORTER}, job=~"$job"}, instance)`);
const datnameVar = queryVar('datname', 'Database', `label_values(pg_stat_database_xact_commit_total{${S}}, datname)`);
const classVar = queryVar(
  'class',
  'Query class',
  `label_values(pg_statement_class_duration_seconds_count{${S}}, class)`,
);
const clientJobVar = queryVar(
  'client_job',
  'Application job',
  'label_values(pgvigil_client_pool_max_connections, job)',
);

// ---------------------------------------------------------------- panels

/** A query; legend may use {{label}}. */
const q = (expr, legend = '', extra = {}) => ({ expr, legend, ...extra });

function targets(queries) {
  return queries.map((x, i) => ({
    datasource: DS,
    refId: String.fromCharCode(65 + i),
    expr: pollWindows(x.expr),
    legendFormat: x.legend,
    range: !x.instant,
    instant: Boolean(x.instant),
    ...(x.format ? { format: x.format } : {}),
  }));
}

/** Threshold steps: the colour below the first value, then [value, colour] pairs. */
const steps = (below, pairs) => ({
  mode: 'absolute',
  steps: [{ color: below, value: null }, ...pairs.map(([value, color]) => ({ value, color }))],
});

function base(type, title, unit, queries, o) {
  const description = [o.description ?? '', windowNote(queries.map((x) => x.expr))].filter((x) => x !== '').join(' ');
  return {
    type,
    title,
    description,
    datasource: DS,
    gridPos: { w: o.w ?? 12, h: o.h ?? 8 },
    fieldConfig: {
      defaults: {
        unit,
        ...(o.min !== undefined ? { min: o.min } : {}),
        ...(o.max !== undefined ? { max: o.max } : {}),
        thresholds: steps(o.base ?? 'green', o.thresholds ?? []),
        ...(o.target ? { color: { mode: 'thresholds' } } : {}),
        ...(o.mappings || o.ratio ? { mappings: [...(o.mappings ?? []), ...(o.ratio ? NO_TRAFFIC : [])] } : {}),
        ...(o.custom ? { custom: o.custom } : {}),
      },
      overrides: o.overrides ?? [],
    },
    targets: targets(queries),
    ...(o.transformations ? { transformations: o.transformations } : {}),
    ...(o.repeat ? { repeat: o.repeat, repeatDirection: 'h', maxPerRow: 3 } : {}),
  };
}

function timeseries(title, unit, queries, o = {}) {
  return {
    ...base('timeseries', title, unit, queries, {
      ...o,
      custom: {
        drawStyle: 'line',
        lineWidth: 1,
        fillOpacity: o.stack ? 30 : 10,
        showPoints: 'never',
        spanNulls: false,
        stacking: { mode: o.stack ? 'normal' : 'none', group: 'A' },
        // A platform target colours the line itself and shades the side beyond it.
        ...(o.target ? { gradientMode: 'scheme' } : {}),
        thresholdsStyle: { mode: o.target ? 'line+area' : o.thresholds ? 'line' : 'off' },
      },
    }),
    options: {
      legend: { displayMode: 'table', placement: 'bottom', calcs: ['lastNotNull', 'max'] },
      tooltip: { mode: 'multi', sort: 'desc' },
    },
  };
}

function stat(title, unit, queries, o = {}) {
  return {
    ...base('stat', title, unit, queries, { w: 4, h: 4, ...o }),
    options: {
      reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      colorMode: 'value',
      graphMode: 'area',
      textMode: 'auto',
    },
  };
}

/** Instant queries shown as a table, one row per series, labels as columns. */
function table(title, unit, queries, o = {}) {
  return {
    ...base(
      'table',
      title,
      unit,
      queries.map((x) => ({ ...x, instant: true, format: 'table' })),
      { w: 24, h: 8, ...o },
    ),
    options: { showHeader: true, cellHeight: 'sm', sortBy: [{ displayName: 'Value', desc: true }] },
    transformations: [{ id: 'organize', options: { excludeByName: { Time: true, job: true, __name__: true } } }],
  };
}

function heatmap(title, expr, o = {}) {
  return {
    ...base('heatmap', title, 's', [q(expr, '{{le}}', { format: 'heatmap' })], o),
    options: {
      calculate: false,
      yAxis: { unit: 's', axisPlacement: 'left' },
      cellGap: 1,
      color: { mode: 'scheme', scheme: 'Oranges', steps: 64 },
      tooltip: { show: true, yHistogram: true },
      legend: { show: true },
    },
  };
}

/** A row; `repeat` names a variable to repeat the row (and the panels up to the next row) for each value. */
const row = (title, repeat) => ({
  type: 'row',
  title,
  collapsed: false,
  gridPos: { w: 24, h: 1 },
  panels: [],
  ...(repeat ? { repeat } : {}),
});

/**
 * Colours a panel's other queries against a threshold that query `refId` returns, its legend
 * 'Threshold' (Grafana's "Config from query results"), so one repeated panel can hold each class
 * to its own objective or target.
 */
const thresholdFromQuery = (refId) => ({
  id: 'configFromData',
  options: { configRefId: refId, mappings: [{ fieldName: 'Threshold', handlerKey: 'threshold1' }] },
});
const thresholdFromQueryB = thresholdFromQuery('B');

// The platform's targets; a panel showing one colours by it, red beyond.
/** Connection pools (server slots, PgBouncer, the application's) stay below 80 % used. */
const POOL_TARGET = { target: true, thresholds: [[0.8, 'red']] };
/** Waiting for a pooled connection stays below 10 ms. */
const ACQUIRE_TARGET = { target: true, thresholds: [[0.01, 'red']] };
/** Index (and cache) hit ratio stays above 95 %. */
const HIT_TARGET = { target: true, base: 'red', thresholds: [[0.95, 'green']], ratio: true };
/** Sequential scans reduced by 80 % against the baseline week. */
const SCAN_REDUCTION_TARGET = { target: true, base: 'red', thresholds: [[0.8, 'green']], ratio: true };

// ---------------------------------------------------------------- dashboards

function dashboard({ uid, title, description, variables, panels }) {
  let x = 0;
  let y = 0;
  let rowHeight = 0;
  let id = 1;
  const placed = panels.map((p) => {
    const { w, h } = p.gridPos;
    if (p.type === 'row' || x + w > 24) {
      y += rowHeight;
      x = 0;
      rowHeight = 0;
    }
    const out = { id: id++, ...p, gridPos: { h, w, x, y } };
    x += w;
    rowHeight = Math.max(rowHeight, h);
    if (p.type === 'row') {
      y += h;
      x = 0;
      rowHeight = 0;
    }
    return out;
  });
  return {
    uid,
    title,
    description,
    tags: ['pgvigil', 'postgresql'],
    editable: true,
    graphTooltip: 1,
    timezone: 'browser',
    refresh: '30s',
    time: { from: 'now-3h', to: 'now' },
    schemaVersion: SCHEMA_VERSION,
    version: 1,
    fiscalYearStartMonth: 0,
    liveNow: false,
    annotations: {
      list: [
        {
          builtIn: 1,
          datasource: { type: 'grafana', uid: '-- Grafana --' },
          enable: true,
          hide: true,
          iconColor: 'rgba(0, 211, 255, 1)',
          name: 'Annotations & Alerts',
          type: 'dashboard',
        },
      ],
    },
    links: [
      {
        title: 'pgvigil dashboards',
        type: 'dashboards',
        tags: ['pgvigil'],
        asDropdown: true,
        includeVars: true,
        keepTime: true,
        icon: 'external link',
        targetBlank: false,
      },
    ],
    templating: { list: [datasourceVar, ...variables] },
    panels: placed,
  };
}

const ratio = (hit, read, by) => {
  const hits = `sum by (${by}) (rate(${hit}[${RATE}]))`;
  const reads = `sum by (${by}) (rate(${read}[${RATE}]))`;
  return `${hits} / (${hits} + ${reads})`;
};
/** The phi-quantile (written as Grafana shows it, e.g. '0.50') of bucket series summed by `by` and le. */
const quantile = (phi, by, buckets, range = RATE) =>
  `histogram_quantile(${phi}, sum by (${by}, le) (rate(${buckets}[${range}])))`;

/** Alerts firing now that deserve a look: warning and critical, whichever job they come from. */
const FIRING = 'ALERTS{alertstate="firing", severity=~"critical|warning"}';
const overview = dashboard({
  uid: 'pgvigil-overview',
  title: 'pgvigil / Overview',
  description: 'Is PostgreSQL up, busy, fast, and does it have room? Start here; the links go to the detail boards.',
  variables: [jobVar, instanceVar, datnameVar],
  panels: [
    stat('PostgreSQL up', 'none', [q(`min(pg_up{${S}})`)], {
      mappings: [{ type: 'value', options: { 0: { text: 'DOWN', color: 'red' }, 1: { text: 'UP', color: 'green' } } }],
      thresholds: [
        [0, 'red'],
        [1, 'green'],
      ],
      description:
        'pg_up: whether pgvigil reached PostgreSQL on its last attempt (the lowest over the selected instances).',
    }),
    stat('Connection slots used', 'percentunit', [q(`max(pg_connections_utilization_ratio{${S}})`)], {
      ...POOL_TARGET,
      description:
        'Client connections over max_connections minus reserved slots (the highest over the selected instances); ' +
        'red from 80 %, the pool target.',
    }),
    stat('Transactions / s', 'ops', [
      q(
        `sum(rate(pg_stat_database_xact_commit_total{${D}}[${RATE}])` +
          ` + rate(pg_stat_database_xact_rollback_total{${D}}[${RATE}]))`,
      ),
    ]),
    stat('Disk available', 'percentunit', [q(`min(pg_volume_available_bytes{${S}} / pg_volume_size_bytes{${S}})`)], {
      thresholds: [
        [0, 'red'],
        [0.05, 'orange'],
        [0.1, 'green'],
      ],
      description:
        'Space PostgreSQL can still write on the data volume (PGVIGIL_DATA_VOLUME_PATH), ' +
        'lowest over the selected instances.',
    }),
    stat(
      'Firing alerts',
      'none',
      ['critical', 'warning'].map((severity) =>
        q(`count(ALERTS{alertstate="firing", severity="${severity}"}) or vector(0)`, severity),
      ),
      {
        thresholds: [[1, 'red']],
        overrides: [
          {
            matcher: { id: 'byName', options: 'warning' },
            properties: [{ id: 'thresholds', value: steps('green', [[1, 'orange']]) }],
          },
        ],
        description:
          'Critical and warning alerts firing in this Prometheus, across jobs: the application pools too. ' +
          'Info alerts (an unused index) are left out: they are no reason to look.',
      },
    ),
    stat('Up since', 'dateTimeFromNow', [q(`max(pg_postmaster_start_time_seconds{${S}}) * 1000`)]),

    row('Load and latency'),
    timeseries(
      'Connections vs limit',
      'short',
      [
        q(`sum by (instance) (pg_stat_activity_connections{${S}})`, '{{instance}} connections'),
        q(`max by (instance) (pg_connections_max{${S}} - pg_connections_reserved{${S}})`, '{{instance}} usable slots'),
      ],
      { min: 0 },
    ),
    timeseries(
      'Transactions per second',
      'ops',
      [
        q(`sum by (datname) (rate(pg_stat_database_xact_commit_total{${D}}[${RATE}]))`, '{{datname}} commits'),
        q(`sum by (datname) (rate(pg_stat_database_xact_rollback_total{${D}}[${RATE}]))`, '{{datname}} rollbacks'),
      ],
      { min: 0 },
    ),
    timeseries(
      'p95 latency per query class, share of its objective',
      'percentunit',
      [
        q(
          `${quantile('0.95', 'class', `pg_statement_class_duration_seconds_bucket{${S}}`)}` +
            ` / on (class) max by (class) (pg_statement_class_objective_seconds{${S}})`,
          '{{class}}',
        ),
      ],
      {
        min: 0,
        target: true,
        thresholds: [[1, 'red']],
        ratio: true,
        description:
          "Each class's p95 latency over its objective: red above 100 %. " +
          'Query classes come from PGVIGIL_QUERY_CLASSES_FILE; "other" has no objective.',
      },
    ),
    timeseries(
      'Cache and index hit ratio',
      'percentunit',
      [
        q(
          ratio(`pg_stat_database_blks_hit_total{${D}}`, `pg_stat_database_blks_read_total{${D}}`, 'instance'),
          '{{instance}} all blocks',
        ),
        q(
          ratio(
            `pg_statio_user_indexes_database_idx_blks_hit_total{${D}}`,
            `pg_statio_user_indexes_database_idx_blks_read_total{${D}}`,
            'instance',
          ),
          '{{instance}} index blocks',
        ),
      ],
      { max: 1, ...HIT_TARGET, description: 'Red below 95 %, the hit-ratio target.' },
    ),
    timeseries(
      'Disk available',
      'percentunit',
      [q(`pg_volume_available_bytes{${S}} / pg_volume_size_bytes{${S}}`, '{{instance}} {{path}}')],
      {
        min: 0,
        max: 1,
        thresholds: [
          [0.05, 'red'],
          [0.1, 'orange'],
        ],
      },
    ),
    timeseries(
      'Replication lag',
      'bytes',
      [
        q(
          `max by (instance, application_name) (pg_stat_replication_lag_bytes{${S}, stage="replay"})`,
          '{{instance}} → {{application_name}}',
        ),
        q(`max by (instance) (pg_replication_replay_lag_bytes{${S}})`, '{{instance}} (standby) unreplayed'),
      ],
      {
        description: needing(
          'WAL not yet replayed by each standby, seen from the primary and from the standby.',
          NEEDS_STANDBY,
        ),
      },
    ),
    table('Firing alerts', 'none', [q(`sum by (alertname, severity, job, instance, datname) (${FIRING})`)], {
      description: needing('Critical and warning alerts firing now in this Prometheus, across jobs.', NEEDS_ALERT),
    }),
  ],
});

const STATEMENT_KEY = 'datname, usename, queryid';
// Joining the text info also filters by class: statements of other classes have no info to match.
const withText = (expr) =>
  `${expr} * on (${STATEMENT_KEY}) group_left (class, query)` +
  ` max by (${STATEMENT_KEY}, class, query) (pg_stat_statements_query_info{${D}, class=~"$class"})`;
const perStatement = (family, range = '$__range') =>
  `sum by (${STATEMENT_KEY}) (increase(${family}{${D}, queryid!="other"}[${range}]))`;
const statementSeconds = perStatement('pg_stat_statements_seconds_total');
const statementCalls = perStatement('pg_stat_statements_calls_total');
const classBuckets = `pg_statement_class_duration_seconds_bucket{${S}, class=~"$class"}`;

/**
 * Where time goes while statements run: the wait sampler's seconds as average active sessions
 * (rate of seconds per second), stacked by wait type, per database and per query class.
 */
function waitPanels() {
  const aas = (family, selector, by) => `sum by (${by}) (rate(${family}{${selector}}[${RATE}]))`;
  return [
    row('Average active sessions by wait type (sampled)'),
    timeseries(
      'Active sessions by wait type: $datname',
      'short',
      [q(aas('pg_waits_seconds_total', D, 'wait_event_type'), '{{wait_event_type}}')],
      {
        stack: true,
        min: 0,
        description:
          'pg_stat_activity sampled every second: how many sessions were active on average, and in which wait. ' +
          'CPU: active with no wait event. Lock: waiting for another session; IO: reading or writing.',
      },
    ),
    timeseries(
      'Active sessions by wait type: $class',
      'short',
      [q(aas('pg_waits_class_seconds_total', `${S}, class=~"$class"`, 'wait_event_type'), '{{wait_event_type}}')],
      {
        repeat: 'class',
        w: 8,
        stack: true,
        min: 0,
        description:
          'The same by the query class of the running statement (pg_stat_activity.query_id, PostgreSQL 14+). ' +
          'A class whose band is mostly Lock is slow because of other transactions, not its own plan.',
      },
    ),
  ];
}

const queries = dashboard({
  uid: 'pgvigil-queries',
  title: 'pgvigil / Query performance',
  description: 'Latency per query class against its objective, and the statements that spend the time.',
  variables: [jobVar, instanceVar, datnameVar, classVar],
  panels: [
    row('Query classes'),
    timeseries(
      'Latency of $class: p50, p95, p99 and objective',
      's',
      [
        q(quantile('0.50', 'class', classBuckets), '{{class}} p50'),
        q(quantile('0.95', 'class', classBuckets), '{{class}} p95'),
        q(quantile('0.99', 'class', classBuckets), '{{class}} p99'),
        q(`max by (class) (pg_statement_class_objective_seconds{${S}, class=~"$class"})`, 'Threshold'),
      ],
      {
        w: 24,
        h: 9,
        repeat: 'class',
        target: true,
        thresholds: [[0.05, 'red']],
        ratio: true,
        transformations: [thresholdFromQuery('D')],
        description:
          "Red above the class's objective (from the classes file). " +
          "Estimated from pg_stat_statements: each poll interval, a statement's calls are spread over the buckets " +
          "by a distribution fitted to that interval's mean and variance, bounded by the statement's min and max. " +
          'Quantiles are estimates; the mean (_sum / _count) is exact. See docs/latency-estimation.md.',
      },
    ),
    heatmap(
      'Latency heatmap: $class',
      `sum by (le) (increase(pg_statement_class_duration_seconds_bucket{${S}, class=~"$class"}[${RATE}]))`,
      {
        repeat: 'class',
        w: 8,
      },
    ),
    timeseries(
      'Calls per second by class',
      'ops',
      [
        q(
          `sum by (class) (rate(pg_statement_class_duration_seconds_count{${S}, class=~"$class"}[${RATE}]))`,
          '{{class}}',
        ),
      ],
      { min: 0 },
    ),
    timeseries(
      'Statement latency by database (p95)',
      's',
      [q(quantile('0.95', 'datname', `pg_statement_duration_seconds_bucket{${D}}`), '{{datname}}')],
      { ratio: true },
    ),
    row('Top statements of $class in the time range'),
    table('Top statements by total time', 's', [q(`topk(20, ${withText(statementSeconds)})`)], {
      description:
        'Execution time spent in the selected range, top statements only ' +
        '(the rest is summed in queryid="other"). Texts are redacted.',
    }),
    table('Top statements by calls', 'short', [q(`topk(20, ${withText(statementCalls)})`)]),
    table(
      'Top statements by mean time',
      's',
      [q(`topk(20, ${withText(`(${statementSeconds} / (${statementCalls} > 0))`)})`)],
      { ratio: true },
    ),
    row('Running now'),
    timeseries('Longest running statement', 's', [q(`pg_stat_activity_oldest_query_seconds{${D}}`, '{{datname}}')], {
      description: 'Histograms only see statements that finished; a statement stuck for minutes shows here.',
    }),
    timeseries('Rows and temp blocks per second (all statements)', 'short', [
      q(`sum by (datname) (rate(pg_stat_statements_rows_total{${D}}[${RATE}]))`, '{{datname}} rows'),
      q(
        `sum by (datname) (rate(pg_stat_statements_temp_blks_written_total{${D}}[${RATE}]))`,
        '{{datname}} temp blocks written',
      ),
    ]),
    ...waitPanels(),
  ],
});

const byClient = '{{application_name}} @ {{client_addr}}';

// ---------------------------------------------------------------- pool exhaustion, one row per application

// Which layer is full: PostgreSQL's slots, PgBouncer's pool or the application's own pool. Each
// column is one query summed by application_name, and Grafana merges the rows on it. PgBouncer
// counts its pools by database and user, not by application, so its columns show the pool serving
// each application's server connections: their datname and usename as pg_stat_activity reports them.
const APP_CLIENT = 'job=~"$client_job"';
const perApplication = (expr) => `sum by (application_name) (${expr})`;
const applicationPools = `group by (application_name, datname, usename) (pg_stat_activity_connections{${D}})`;
const pgbouncerPoolOfApplication = (family, agg) =>
  `max by (application_name) (${applicationPools} * on (datname, usename) group_left ()` +
  ` label_replace(label_replace(${agg} by (database, user) (${family}{${S}}),` +
  ' "datname", "$1", "database", "(.*)"), "usename", "$1", "user", "(.*)"))';
const POOL_COLUMNS = [
  { name: 'Server connections', unit: 'short', expr: perApplication(`pg_stat_activity_connections{${D}}`) },
  {
    name: 'Server-side pool used',
    unit: 'percentunit',
    expr: `max by (application_name) (pg_client_pool_utilization_ratio{${S}})`,
    ...POOL_TARGET,
  },
  {
    name: 'PgBouncer clients waiting',
    unit: 'short',
    expr: pgbouncerPoolOfApplication('pgbouncer_pools_client_waiting_connections', 'sum'),
    thresholds: [[1, 'red']],
  },
  {
    name: 'PgBouncer max wait',
    unit: 's',
    expr: pgbouncerPoolOfApplication('pgbouncer_pools_client_maxwait_seconds', 'max'),
    ...ACQUIRE_TARGET,
  },
  {
    name: 'App pool used',
    unit: 'percentunit',
    expr:
      `${perApplication(`pgvigil_client_pool_connections{${APP_CLIENT}, state="in_use"}`)}` +
      ` / ${perApplication(`pgvigil_client_pool_max_connections{${APP_CLIENT}}`)}`,
    ...POOL_TARGET,
  },
  {
    name: 'App requests waiting',
    unit: 'short',
    expr: perApplication(`pgvigil_client_pool_waiting_requests{${APP_CLIENT}}`),
    thresholds: [[1, 'red']],
  },
  {
    name: 'App acquire p95 (5 m)',
    unit: 's',
    expr: quantile('0.95', 'application_name', `pgvigil_client_pool_acquire_seconds_bucket{${APP_CLIENT}}`, '5m'),
    ...ACQUIRE_TARGET,
  },
  {
    name: 'App acquire timeouts (time range)',
    unit: 'short',
    expr: perApplication(`increase(pgvigil_client_pool_acquire_timeouts_total{${APP_CLIENT}}[$__range])`),
    thresholds: [[1, 'red']],
  },
];
const poolExhaustion = (() => {
  const panel = table(
    'Pool exhaustion: each layer per application',
    'short',
    POOL_COLUMNS.map((c) => q(c.expr)),
    {
      h: 7,
      ratio: true,
      description: needing(
        'One row per application_name: its connections to PostgreSQL, the server-side pool use ' +
          '(PGVIGIL_EXPECTED_POOL_SIZES), the PgBouncer pool of its database and user, and its own pool ' +
          '(pgvigil/pool). Red: a pool 80 % used, a wait of 10 ms, anyone waiting or timing out. ' +
          'Columns of a layer the application does not go through stay empty.',
        NEEDS_APP,
      ),
    },
  );
  const names = Object.fromEntries(POOL_COLUMNS.map((c, i) => [`Value #${String.fromCharCode(65 + i)}`, c.name]));
  return {
    ...panel,
    fieldConfig: {
      ...panel.fieldConfig,
      overrides: POOL_COLUMNS.map((c) => ({
        matcher: { id: 'byName', options: c.name },
        properties: [
          { id: 'unit', value: c.unit },
          ...(c.thresholds
            ? [
                { id: 'thresholds', value: steps(c.base ?? 'green', c.thresholds) },
                { id: 'custom.cellOptions', value: { type: 'color-text' } },
              ]
            : []),
        ],
      })),
    },
    options: { ...panel.options, sortBy: [{ displayName: 'Server connections', desc: true }] },
    transformations: [
      { id: 'merge', options: {} },
      { id: 'organize', options: { excludeByName: { Time: true }, renameByName: names } },
    ],
  };
})();
const connections = dashboard({
  uid: 'pgvigil-connections',
  title: 'pgvigil / Connections and pools',
  description:
    'Connections by state, application and client; ' +
    'pool exhaustion seen from PostgreSQL, PgBouncer and the application.',
  variables: [jobVar, instanceVar, datnameVar, clientJobVar],
  panels: [
    row('Pool exhaustion by application'),
    poolExhaustion,
    row('Server connections'),
    timeseries(
      'Connections by state',
      'short',
      [q(`sum by (state) (pg_stat_activity_connections{${D}})`, '{{state}}')],
      { stack: true, min: 0 },
    ),
    timeseries(
      'Connections by application',
      'short',
      [q(`sum by (application_name) (pg_stat_activity_connections{${D}})`, '{{application_name}}')],
      { stack: true, min: 0 },
    ),
    timeseries(
      'Connections by client (application @ address)',
      'short',
      [q(`sum by (application_name, client_addr) (pg_client_pool_connections{${S}})`, byClient)],
      { min: 0 },
    ),
    timeseries(
      'Utilization: server slots and client pools',
      'percentunit',
      [
        q(`max by (instance) (pg_connections_utilization_ratio{${S}})`, '{{instance}} server slots'),
        q(`pg_client_pool_utilization_ratio{${S}}`, byClient),
      ],
      {
        min: 0,
        ...POOL_TARGET,
        description:
          'Red from 80 %, the pool target. ' +
          'Client pools have a ratio only when PGVIGIL_EXPECTED_POOL_SIZES names their application.',
      },
    ),
    timeseries(
      'Blocked sessions',
      'short',
      [q(`sum by (datname) (pg_stat_activity_blocked_sessions{${D}})`, '{{datname}}')],
      { min: 0 },
    ),
    timeseries(
      'Longest lock wait',
      's',
      [q(`max by (datname) (pg_stat_activity_longest_lock_wait_seconds{${D}})`, '{{datname}}')],
      { min: 0 },
    ),
    timeseries(
      'Idle in transaction sessions',
      'short',
      [
        q(
          `sum by (datname) (pg_stat_activity_connections{${D}, state=~"idle in transaction.*"})` +
            ` or sum by (datname) (pg_stat_activity_blocked_sessions{${D}}) * 0`,
          '{{datname}}',
        ),
      ],
      { min: 0 },
    ),
    timeseries(
      'Oldest transaction and idle in transaction',
      's',
      [
        q(`max by (datname) (pg_stat_activity_oldest_transaction_seconds{${D}})`, '{{datname}} oldest transaction'),
        q(
          `max by (datname) (pg_stat_activity_oldest_idle_in_transaction_seconds{${D}})`,
          '{{datname}} idle in transaction',
        ),
      ],
      { min: 0 },
    ),
    timeseries(
      'Deadlocks',
      'short',
      [q(`sum by (datname) (increase(pg_stat_database_deadlocks_total{${D}}[${RATE}]))`, '{{datname}}')],
      { min: 0 },
    ),
    timeseries(
      'Lock waits by root blocker',
      'short',
      [
        q(
          `sum by (datname, application_name, state) (pg_locks_waiting_sessions{${D}})` +
            ` or sum by (datname) (pg_stat_activity_blocked_sessions{${D}}) * 0`,
          '{{datname}} behind {{application_name}} ({{state}})',
        ),
      ],
      { min: 0, description: "Sessions waiting behind each root blocker, by the blocker's application and state." },
    ),

    row('PgBouncer'),
    timeseries(
      'PgBouncer clients waiting',
      'short',
      [
        q(
          `sum by (database, user) (pgbouncer_pools_client_waiting_connections{${S}})`,
          '{{database}}/{{user}} waiting',
        ),
        q(`sum by (database, user) (pgbouncer_pools_client_active_connections{${S}})`, '{{database}}/{{user}} active'),
      ],
      {
        min: 0,
        description: needing(
          'Clients queued for a server connection (cl_waiting): above 0 the pool is exhausted.',
          NEEDS_PGBOUNCER,
        ),
      },
    ),
    timeseries(
      'PgBouncer max wait',
      's',
      [q(`max by (database, user) (pgbouncer_pools_client_maxwait_seconds{${S}})`, '{{database}}/{{user}}')],
      {
        min: 0,
        ...ACQUIRE_TARGET,
        description: needing(
          'How long the oldest waiting client has waited; red from 10 ms, the acquire target.',
          NEEDS_PGBOUNCER,
        ),
      },
    ),
    timeseries(
      'PgBouncer server connections',
      'short',
      [
        q(`sum by (database, user) (pgbouncer_pools_server_active_connections{${S}})`, '{{database}}/{{user}} active'),
        q(`sum by (database, user) (pgbouncer_pools_server_idle_connections{${S}})`, '{{database}}/{{user}} idle'),
        q(`max by (database) (pgbouncer_databases_pool_size{${S}})`, '{{database}} pool size'),
      ],
      { min: 0, description: NEEDS_PGBOUNCER },
    ),
    timeseries(
      'PgBouncer average wait, query and transaction time',
      's',
      [
        q(`max by (database) (pgbouncer_stats_avg_wait_seconds{${S}})`, '{{database}} wait'),
        q(`max by (database) (pgbouncer_stats_avg_query_duration_seconds{${S}})`, '{{database}} query'),
        q(`max by (database) (pgbouncer_stats_avg_transaction_duration_seconds{${S}})`, '{{database}} transaction'),
      ],
      { min: 0, description: NEEDS_PGBOUNCER },
    ),

    row('Application pools (pgvigil/pool)'),
    timeseries(
      'Application pool connections vs max',
      'short',
      [
        q(
          'sum by (job, instance, pool, state) (pgvigil_client_pool_connections{job=~"$client_job"})',
          '{{instance}} {{pool}} {{state}}',
        ),
        q(
          'max by (job, instance, pool) (pgvigil_client_pool_max_connections{job=~"$client_job"})',
          '{{instance}} {{pool}} max',
        ),
      ],
      { min: 0, description: NEEDS_APP },
    ),
    timeseries(
      'Application requests waiting for a connection',
      'short',
      [
        q(
          'sum by (job, instance, pool) (pgvigil_client_pool_waiting_requests{job=~"$client_job"})',
          '{{instance}} {{pool}}',
        ),
      ],
      { min: 0, description: NEEDS_APP },
    ),
    timeseries(
      'Application acquire wait (p95, p99)',
      's',
      [
        q(
          quantile('0.95', 'instance, pool', 'pgvigil_client_pool_acquire_seconds_bucket{job=~"$client_job"}'),
          '{{instance}} {{pool}} p95',
        ),
        q(
          quantile('0.99', 'instance, pool', 'pgvigil_client_pool_acquire_seconds_bucket{job=~"$client_job"}'),
          '{{instance}} {{pool}} p99',
        ),
      ],
      {
        min: 0,
        ...ACQUIRE_TARGET,
        ratio: true,
        description: needing('Red from 10 ms, the acquire target.', NEEDS_APP),
      },
    ),
    timeseries(
      'Application acquire timeouts and errors',
      'short',
      [
        q(
          `sum by (instance, pool) (increase(pgvigil_client_pool_acquire_timeouts_total{job=~"$client_job"}[${RATE}]))`,
          '{{instance}} {{pool}} timeouts',
        ),
        q(
          `sum by (instance, pool, kind) (increase(pgvigil_client_pool_errors_total{job=~"$client_job"}[${RATE}]))`,
          '{{instance}} {{pool}} {{kind}} errors',
        ),
      ],
      { min: 0, thresholds: [[1, 'red']], description: NEEDS_APP },
    ),
  ],
});

// ---------------------------------------------------------------- table scan reduction

// The platform's target: sequential scans cut by 80 % against a baseline week. The share of
// sequential scans among all scans (sequential + index) of the database's tables, over a week
// now and over the baseline week ($baseline ago), so a busier week does not look like a regression.
const baselineVar = {
  name: 'baseline',
  label: 'Baseline week ended',
  type: 'custom',
  query: '1w,2w,4w,8w,13w',
  options: ['1w', '2w', '4w', '8w', '13w'].map((value, i) => ({ text: `${value} ago`, value, selected: i === 0 })),
  current: { text: '1w ago', value: '1w' },
  multi: false,
  includeAll: false,
  hide: 0,
};
const TABLE_KEY = 'datname, schemaname, relname';
const scans = (family, range, offset = '') =>
  `sum by (datname) (increase(${family}{${D}}[${range}]${offset === '' ? '' : ` offset ${offset}`}))`;
const seqScanShare = (range, offset) => {
  const seq = scans('pg_stat_user_tables_seq_scan_total', range, offset);
  return `${seq} / (${seq} + ${scans('pg_stat_user_tables_idx_scan_total', range, offset)})`;
};
const NEEDS_BASELINE = 'Needs: Prometheus data from the baseline week.';
const topSeqScanTables = `topk(10, sum by (${TABLE_KEY}) (rate(pg_stat_user_tables_seq_scan_total{${D}}[${RATE}])))`;
const scanReduction = [
  row('Table scan reduction'),
  timeseries(
    'Sequential vs index scans per second (top 10 tables by sequential scans)',
    'ops',
    [
      q(topSeqScanTables, '{{datname}} {{schemaname}}.{{relname}} sequential'),
      q(
        `sum by (${TABLE_KEY}) (rate(pg_stat_user_tables_idx_scan_total{${D}}[${RATE}]))` +
          ` and on (${TABLE_KEY}) ${topSeqScanTables}`,
        '{{datname}} {{schemaname}}.{{relname}} index',
      ),
    ],
    { min: 0, w: 8, description: 'Tables read whole instead of through an index, beside their index scans.' },
  ),
  timeseries(
    'Share of sequential scans: last 24 h vs the baseline week',
    'percentunit',
    [q(seqScanShare('1d'), '{{datname}} last 24 h'), q(seqScanShare('1w', '$baseline'), '{{datname}} baseline week')],
    {
      min: 0,
      max: 1,
      w: 8,
      ratio: true,
      description: needing(
        'Sequential scans over all scans of the tables, over the last 24 hours and over the week that ended ' +
          '$baseline ago (the "Baseline week ended" variable).',
        NEEDS_BASELINE,
      ),
    },
  ),
  stat(
    'Sequential scan reduction vs the baseline week (target 80 %)',
    'percentunit',
    [q(`1 - (${seqScanShare('1w')}) / (${seqScanShare('1w', '$baseline')})`, '{{datname}}')],
    {
      w: 8,
      h: 8,
      ...SCAN_REDUCTION_TARGET,
      description: needing(
        'How much smaller the share of sequential scans is over the last week than over the baseline week: ' +
          'green from 80 %, the platform target; negative when it grew.',
        NEEDS_BASELINE,
      ),
    },
  ),
];

const tables = dashboard({
  uid: 'pgvigil-tables',
  title: 'pgvigil / Indexes and tables',
  description: 'Cache hits, index health, sequential scans and their reduction, dead tuples, sizes and growth.',
  variables: [jobVar, instanceVar, datnameVar, baselineVar],
  panels: [
    row('Hit ratios'),
    timeseries(
      'Table (heap) hit ratio',
      'percentunit',
      [
        q(
          ratio(
            `pg_statio_user_tables_heap_blocks_hit_total{${D}}`,
            `pg_statio_user_tables_heap_blocks_read_total{${D}}`,
            'datname',
          ),
          '{{datname}}',
        ),
      ],
      { max: 1, ...HIT_TARGET, description: 'Red below 95 %, the hit-ratio target.' },
    ),
    timeseries(
      'Index hit ratio',
      'percentunit',
      [
        q(
          ratio(
            `pg_statio_user_indexes_database_idx_blks_hit_total{${D}}`,
            `pg_statio_user_indexes_database_idx_blks_read_total{${D}}`,
            'datname',
          ),
          '{{datname}}',
        ),
      ],
      { max: 1, ...HIT_TARGET, description: 'Red below 95 %, the index hit-ratio target.' },
    ),
    row('Index health'),
    stat('Index findings', 'short', [q(`sum by (kind) (pg_index_findings{${D}})`, '{{kind}}')], {
      w: 12,
      description:
        'Invalid, unused and duplicate indexes, all of them: the tables below list at most ' +
        'PGVIGIL_MAX_INDEX_FINDINGS per database (invalid ones first, then the largest).',
    }),
    stat('Index findings, size', 'bytes', [q(`sum by (kind) (pg_index_findings_size_bytes{${D}})`, '{{kind}}')], {
      w: 12,
      description: 'What dropping or rebuilding every finding would give back (relpages, as of the last VACUUM).',
    }),
    table('Invalid indexes', 'bytes', [q(`pg_index_invalid_size_bytes{${D}}`)], {
      w: 12,
      description:
        'Left by a failed CREATE INDEX CONCURRENTLY or REINDEX CONCURRENTLY; value: size. ' +
        'Needs: an invalid index (empty when healthy).',
    }),
    table('Unused indexes', 'bytes', [q(`pg_index_unused_size_bytes{${D}}`)], {
      w: 12,
      description:
        'Never scanned since the statistics reset; constraint indexes excluded. Check standbys before dropping. ' +
        'Needs: an unused index (empty when healthy).',
    }),
    table('Duplicate indexes', 'bytes', [q(`pg_index_duplicate_size_bytes{${D}}`)], {
      w: 12,
      description: 'Indexes with the same definition as another; value: size. Needs: a duplicate index.',
    }),
    table('Sequential-scan heavy tables (rows per scan)', 'short', [q(`pg_table_seq_scan_heavy_rows_per_scan{${D}}`)], {
      w: 12,
      description:
        'Tables mostly read whole, by rows read per sequential scan. Needs: such a table (empty when healthy).',
    }),
    ...scanReduction,
    row('Scans and dead tuples'),
    timeseries('Sequential scans per second (top 10 tables)', 'ops', [
      q(
        `topk(10, sum by (datname, schemaname, relname) (rate(pg_stat_user_tables_seq_scan_total{${D}}[${RATE}])))`,
        '{{datname}} {{schemaname}}.{{relname}}',
      ),
    ]),
    timeseries('Index scans per second (top 10 tables)', 'ops', [
      q(
        `topk(10, sum by (datname, schemaname, relname) (rate(pg_stat_user_tables_idx_scan_total{${D}}[${RATE}])))`,
        '{{datname}} {{schemaname}}.{{relname}}',
      ),
    ]),
    timeseries('Dead tuples (top 10 tables)', 'short', [
      q(`topk(10, pg_stat_user_tables_n_dead_tup{${D}})`, '{{datname}} {{schemaname}}.{{relname}}'),
    ]),
    timeseries(
      'Dead tuple ratio (top 10 tables)',
      'percentunit',
      [q(`topk(10, pg_stat_user_tables_dead_tuple_ratio{${D}})`, '{{datname}} {{schemaname}}.{{relname}}')],
      { max: 1, thresholds: [[0.2, 'orange']] },
    ),
    row('Sizes and growth'),
    timeseries('Database sizes', 'bytes', [q(`pg_database_size_bytes{${D}}`, '{{datname}}')]),
    timeseries('Largest tables (with indexes and TOAST)', 'bytes', [
      q(`topk(10, pg_stat_user_tables_total_size_bytes{${D}})`, '{{datname}} {{schemaname}}.{{relname}}'),
    ]),
    timeseries('Table growth over the last hour (top 10)', 'bytes', [
      q(`topk(10, delta(pg_stat_user_tables_total_size_bytes{${D}}[1h]))`, '{{datname}} {{schemaname}}.{{relname}}'),
    ]),
    timeseries(
      'Transaction ID age (share of the 2^31 limit)',
      'percentunit',
      [q(`max by (datname) (pg_database_xid_age{${D}}) / 2147483648`, '{{datname}}')],
      {
        min: 0,
        thresholds: [
          [0.5, 'orange'],
          [0.75, 'red'],
        ],
      },
    ),
  ],
});

const storage = dashboard({
  uid: 'pgvigil-storage',
  title: 'pgvigil / Disk, WAL and replication',
  description: 'Data volume space and its trend, WAL production and retention, replication slots and lag.',
  variables: [jobVar, instanceVar, datnameVar],
  panels: [
    row('Data volume'),
    timeseries(
      'Data volume: size and available',
      'bytes',
      [
        q(`pg_volume_size_bytes{${S}}`, '{{instance}} {{path}} size'),
        q(`pg_volume_available_bytes{${S}}`, '{{instance}} {{path}} available'),
      ],
      { min: 0, description: 'statfs of PGVIGIL_DATA_VOLUME_PATH; read even while PostgreSQL is down.' },
    ),
    timeseries(
      'Data volume available and 24 h forecast',
      'percentunit',
      [
        q(`pg_volume_available_bytes{${S}} / pg_volume_size_bytes{${S}}`, '{{instance}} now'),
        q(
          `predict_linear(pg_volume_available_bytes{${S}}[6h], 86400) / pg_volume_size_bytes{${S}}`,
          '{{instance}} in 24 h at the 6 h trend',
        ),
      ],
      {
        max: 1,
        thresholds: [
          [0.05, 'red'],
          [0.1, 'orange'],
        ],
      },
    ),
    timeseries(
      'What fills it: database sizes',
      'bytes',
      [q(`pg_database_size_bytes{${D}}`, '{{instance}} {{datname}}')],
      { min: 0, stack: true },
    ),
    timeseries('What fills it: WAL in pg_wal', 'bytes', [q(`pg_wal_size_bytes{${S}}`, '{{instance}}')], { min: 0 }),
    row('WAL'),
    timeseries('WAL written', 'Bps', [q(`rate(pg_wal_written_bytes_total{${S}}[${RATE}])`, '{{instance}}')], {
      min: 0,
    }),
    timeseries(
      'Checkpoints per second',
      'ops',
      [q(`sum by (instance, kind) (rate(pg_checkpointer_checkpoints_total{${S}}[${RATE}]))`, '{{instance}} {{kind}}')],
      {
        min: 0,
        description: 'Requested checkpoints outnumbering timed ones: max_wal_size is too small for the write load.',
      },
    ),
    timeseries(
      'WAL archiving',
      'ops',
      [
        q(`rate(pg_stat_archiver_archived_total{${S}}[${RATE}])`, '{{instance}} archived'),
        q(`rate(pg_stat_archiver_failed_total{${S}}[${RATE}])`, '{{instance}} failed'),
      ],
      { min: 0 },
    ),
    row('Replication'),
    timeseries(
      'WAL retained by replication slots',
      'bytes',
      [q(`pg_replication_slot_retained_wal_bytes{${S}}`, '{{instance}} {{slot_name}}')],
      { min: 0, description: 'Needs: a replication slot.' },
    ),
    timeseries(
      'Replication slot active',
      'none',
      [q(`pg_replication_slot_active{${S}}`, '{{instance}} {{slot_name}}')],
      {
        min: 0,
        max: 1,
        description: 'Needs: a replication slot.',
      },
    ),
    timeseries(
      'Standby lag behind this primary (bytes)',
      'bytes',
      [q(`pg_stat_replication_lag_bytes{${S}}`, '{{instance}} → {{application_name}} {{stage}}')],
      { min: 0, description: `Per standby and stage (sent, write, flush, replay). ${NEEDS_STANDBY}` },
    ),
    timeseries(
      'Standby lag behind this primary (time)',
      's',
      [q(`pg_stat_replication_lag_seconds{${S}}`, '{{instance}} → {{application_name}} {{stage}}')],
      { min: 0, description: `write_lag, flush_lag, replay_lag; 0 when caught up and no WAL flows. ${NEEDS_STANDBY}` },
    ),
    timeseries('Standby: unreplayed WAL', 'bytes', [q(`pg_replication_replay_lag_bytes{${S}}`, '{{instance}}')], {
      min: 0,
      description: `Seen from the standby itself. ${NEEDS_STANDBY}`,
    }),
    timeseries('Standby: replay delay', 's', [q(`pg_replication_lag_seconds{${S}}`, '{{instance}}')], {
      min: 0,
      description: needing(
        '0 when everything received is replayed, so an idle primary does not look like lag.',
        NEEDS_STANDBY,
      ),
    }),
  ],
});

const self = dashboard({
  uid: 'pgvigil-self',
  title: 'pgvigil / pgvigil itself',
  description: 'Is the exporter healthy: collector durations, failures, staleness, series and its own resources.',
  variables: [jobVar, instanceVar, datnameVar],
  panels: [
    row('Collectors'),
    timeseries(
      'Collector duration (p95)',
      's',
      [q(quantile('0.95', 'collector', `pgvigil_collector_duration_seconds_bucket{${S}}`), '{{collector}}')],
      { min: 0 },
    ),
    timeseries(
      'Collector success',
      'none',
      [q(`min by (collector) (pgvigil_collector_success{${S}})`, '{{collector}}')],
      { min: 0, max: 1 },
    ),
    timeseries(
      'Collector errors by reason',
      'short',
      [
        q(
          `sum by (collector, reason) (increase(pgvigil_collector_errors_total{${S}}[${RATE}])) or on () vector(0)`,
          '{{collector}} {{reason}}',
        ),
      ],
      { min: 0, thresholds: [[1, 'red']] },
    ),
    timeseries(
      'Staleness: time since last success',
      's',
      [q(`time() - max by (collector) (pgvigil_collector_last_success_timestamp_seconds{${S}})`, '{{collector}}')],
      { min: 0 },
    ),
    timeseries(
      'Series served per collector',
      'short',
      [q(`sum by (collector) (pgvigil_collector_series{${S}})`, '{{collector}}')],
      { min: 0, stack: true },
    ),
    timeseries(
      'Skipped runs (previous run still going)',
      'short',
      [
        q(
          `sum by (collector) (increase(pgvigil_collector_overlaps_total{${S}}[${RATE}])) or on () vector(0)`,
          '{{collector}}',
        ),
      ],
      { min: 0 },
    ),
    timeseries(
      'Tables and indexes left out by the series caps',
      'short',
      [
        q(`sum by (datname) (pgvigil_tables_omitted{${D}})`, '{{datname}} tables (PGVIGIL_MAX_TABLES)'),
        q(`sum by (datname) (pgvigil_indexes_omitted{${D}})`, '{{datname}} indexes (PGVIGIL_MAX_INDEXES)'),
      ],
      { min: 0, description: 'Above 0, the smallest and quietest tables or indexes have no series of their own.' },
    ),
    row('Exporter'),
    timeseries(
      'Connections pgvigil holds',
      'short',
      [
        q(`sum by (instance) (pgvigil_pool_connections{${S}})`, '{{instance}} open'),
        q(`max by (instance) (pgvigil_pool_max_connections{${S}})`, '{{instance}} max'),
      ],
      { min: 0 },
    ),
    timeseries(
      'Seconds since PostgreSQL last answered',
      's',
      [q(`time() - max by (instance) (pgvigil_last_contact_timestamp_seconds{${S}})`, '{{instance}}')],
      { min: 0 },
    ),
    timeseries('Resident memory', 'bytes', [q(`process_resident_memory_bytes{${S}}`, '{{instance}}')], { min: 0 }),
    timeseries(
      'CPU (1 = one core)',
      'percentunit',
      [q(`rate(process_cpu_seconds_total{${S}}[${RATE}])`, '{{instance}}')],
      { min: 0 },
    ),
    table('Versions', 'none', [q(`pgvigil_build_info{${S}}`), q(`pg_server_info{${S}}`)], {
      description: 'pgvigil and Node.js versions, and the PostgreSQL server version.',
    }),
  ],
});

// ---------------------------------------------------------------- SLOs

// The classes file gives each class an objective (seconds) and a target (share of calls within
// it); alerts/slo.yml records the share within the objective per window. A call is within the
// objective when it lands in the bucket at le = objective, picked by pg_statement_class_objective_info.
const C = `${S}, class=~"$class"`;
const sloClassVar = queryVar('class', 'Query class', `label_values(pg_statement_class_target_ratio{${S}}, class)`);
const objectiveBucket = 'label_replace(pg_statement_class_objective_info, "le", "$1", "objective_le", "(.*)")';
const withinObjective = (histogram, selector, range, by) => {
  const matching = by === 'class' ? 'job, instance, class' : 'class';
  return (
    `sum by (${by}) (increase(${histogram}_bucket{${selector}}[${range}])` +
    ` and on (${matching}, le) ${objectiveBucket})` +
    ` / sum by (${by}) (increase(${histogram}_count{${selector}}[${range}]))`
  );
};
const serverWithin = (range) => withinObjective('pg_statement_class_duration_seconds', C, range, 'class');
const target = `max by (class) (pg_statement_class_target_ratio{${C}})`;
const objective = `max by (class) (pg_statement_class_objective_seconds{${C}})`;
const RATIO = 'instance_class:pg_statement_class_calls_within_objective:ratio_rate';
/** Server-side burn rate over one recorded window (5m, 1h, 6h, 3d): the share of bad calls over the budget. */
const burnRate = (window) =>
  `max by (class) ((1 - ${RATIO}${window}{${C}})` +
  ` / on (job, instance, class) (1 - pg_statement_class_target_ratio{${C}}))`;
const APP_RATIO = 'application_class:pgvigil_client_query_calls_within_objective:ratio_rate';
const APP = 'class=~"$class"';

// Calls of each top statement in scrape intervals whose mean was over the class objective: the
// statement's share of the slow calls, at the resolution pg_stat_statements gives (a mean per poll).
const statementMean =
  `(${perStatement('pg_stat_statements_seconds_total', RATE)}` +
  ` / ${perStatement('pg_stat_statements_calls_total', RATE)})`;
const statementClass = `max by (${STATEMENT_KEY}, class) (pg_stat_statements_query_info{${D}, class=~"$class"})`;
const slowIntervals =
  `(${statementMean} * on (${STATEMENT_KEY}) group_left (class) ${statementClass})` +
  ` > on (class) group_left () max by (class) (pg_statement_class_objective_seconds{${S}})`;
const callsOverObjective =
  `sum by (${STATEMENT_KEY}) (sum_over_time((${perStatement('pg_stat_statements_calls_total', RATE)}` +
  ` and on (${STATEMENT_KEY}) ${slowIntervals})[$__range:${RATE}]))`;

const slo = dashboard({
  uid: 'pgvigil-slo',
  title: 'pgvigil / Query SLOs',
  description:
    'Is each query class within its objective, how much error budget is left, and which statements spend it.',
  variables: [jobVar, instanceVar, datnameVar, sloClassVar],
  panels: [
    row('$class', 'class'),
    stat('Calls within objective', 'percentunit', [q(serverWithin('$__range'), '{{class}}'), q(target, 'Threshold')], {
      w: 6,
      thresholds: [[0.99, 'green']],
      base: 'red',
      ratio: true,
      transformations: [thresholdFromQueryB],
      description:
        "Share of the class's calls in the time range that finished within its objective, " +
        "red below the class's target (both from the classes file). Server side, from pg_stat_statements.",
    }),
    stat(
      'p95 vs objective',
      's',
      [
        q(quantile('0.95', 'class', `pg_statement_class_duration_seconds_bucket{${C}}`, '$__range'), '{{class}} p95'),
        q(objective, 'Threshold'),
      ],
      {
        w: 6,
        thresholds: [[0.05, 'red']],
        ratio: true,
        transformations: [thresholdFromQueryB],
        description: "95th percentile latency of the class over the time range; red above the class's objective.",
      },
    ),
    stat(
      'Error budget remaining (30 d)',
      'percentunit',
      [q(`1 - (1 - ${serverWithin('30d')}) / on (class) (1 - ${target})`, '{{class}}')],
      {
        w: 6,
        thresholds: [
          [0, 'orange'],
          [0.25, 'green'],
        ],
        base: 'red',
        ratio: true,
        description:
          'Share of the 30-day error budget (1 - target) not yet spent: 100 % with no slow call, ' +
          '0 % when the slow calls reached 1 - target of all calls, negative beyond.',
      },
    ),
    stat('Burn rate (1 h)', 'x', [q(burnRate('1h'), '{{class}}')], {
      w: 6,
      ratio: true,
      thresholds: [
        [1, 'yellow'],
        [6, 'orange'],
        [14.4, 'red'],
      ],
      description:
        'Share of calls over the objective in the last hour, divided by the error budget: ' +
        '1 spends the budget in exactly 30 days; ' +
        'above 14.4 (with the last 5 minutes too) PostgresQueryClassErrorBudgetBurn pages.',
    }),

    row('Where the budget goes'),
    table(
      'Statements of $class by calls over the objective',
      'short',
      [q(`topk(20, ${withText(callsOverObjective)} > 0)`)],
      {
        ratio: true,
        description:
          "Calls of each top statement made in scrape intervals where its mean time was over its class's objective, " +
          'in the time range (an estimate at the resolution pg_stat_statements gives). Texts are redacted.',
      },
    ),
    timeseries(
      'Calls of $class within objective: application vs server (5 m)',
      'percentunit',
      [
        q(`${APP_RATIO}5m{${APP}}`, '{{application_name}} {{class}} (application)'),
        q(`max by (class) (${RATIO}5m{${C}})`, '{{class}} (server)'),
        q(target, 'Threshold'),
      ],
      {
        max: 1,
        repeat: 'class',
        target: true,
        base: 'red',
        thresholds: [[0.99, 'green']],
        ratio: true,
        transformations: [thresholdFromQuery('C')],
        description: needing(
          "Red below the class's target. " +
            "The application's exact timing (pgvigil/pool) beside the server's estimate from pg_stat_statements.",
          NEEDS_APP,
        ),
      },
    ),
    timeseries(
      'p95 latency of $class: application vs server',
      's',
      [
        q(
          quantile('0.95', 'application_name, class', `pgvigil_client_query_duration_seconds_bucket{${APP}}`),
          '{{application_name}} {{class}} (application)',
        ),
        q(quantile('0.95', 'class', `pg_statement_class_duration_seconds_bucket{${C}}`), '{{class}} (server)'),
        q(objective, 'Threshold'),
      ],
      {
        repeat: 'class',
        target: true,
        thresholds: [[0.05, 'red']],
        ratio: true,
        transformations: [thresholdFromQuery('C')],
        description: needing(
          "Red above the class's objective. " +
            "The application's time includes the network and the driver; the server's is execution only.",
          NEEDS_APP,
        ),
      },
    ),
    timeseries(
      'Burn rate by window',
      'x',
      [
        q(burnRate('5m'), '{{class}} 5 m'),
        q(burnRate('1h'), '{{class}} 1 h'),
        q(burnRate('6h'), '{{class}} 6 h'),
        q(burnRate('3d'), '{{class}} 3 d'),
      ],
      {
        w: 24,
        min: 0,
        thresholds: [
          [6, 'orange'],
          [14.4, 'red'],
        ],
        description:
          'The burn rates the alerts compare: 14.4 and 6 page (with their short windows), 3 and 1 open a ticket.',
      },
    ),
  ],
});

// An output directory may be given (the lint test regenerates into a temp dir and compares).
const out = process.argv[2] ?? here;
const boards = { overview, queries, slo, connections, tables, storage, self };
for (const [name, board] of Object.entries(boards)) {
  writeFileSync(join(out, `${name}.json`), `${JSON.stringify(board, null, 2)}\n`);
}
