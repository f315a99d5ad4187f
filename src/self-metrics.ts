import client from 'prom-client';
import type { Family, HistogramSample, Labels, ValueSample } from './exposition/families.js';

// pgvigil's own metrics live in an explicit prom-client registry (never the global one) and are
// rendered by the same code as the collectors' families, so both exposition formats stay uniform.

export const COLLECTOR_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class SelfMetrics {
  readonly registry = new client.Registry();
  /**
   * Bumped by whoever changes these metrics (the poller, the pool's contact reports), so that a
   * rendering of them reused between scrapes is never behind a poll.
   */
  revision = 0;

  readonly up = new client.Gauge({
    name: 'pg_up',
    help: 'Whether the last attempt to reach PostgreSQL succeeded (1) or failed (0).',
    registers: [this.registry],
  });
  readonly collectorDuration = new client.Histogram({
    name: 'pgvigil_collector_duration_seconds',
    help: 'Time one collector run took, all databases included.',
    labelNames: ['collector'],
    buckets: COLLECTOR_DURATION_BUCKETS,
    registers: [this.registry],
  });
  readonly collectorDbSeconds = new client.Counter({
    name: 'pgvigil_collector_db_seconds_total',
    help:
      "Time the collector's statements took, from sending each to its last row (all databases): what " +
      'monitoring costs the server, as pgvigil leaves its own statements out of the statement families.',
    labelNames: ['collector'],
    registers: [this.registry],
  });
  readonly collectorSuccess = new client.Gauge({
    name: 'pgvigil_collector_success',
    help: 'Whether the last run of the collector succeeded on every database (1) or not (0).',
    labelNames: ['collector'],
    registers: [this.registry],
  });
  readonly collectorLastSuccess = new client.Gauge({
    name: 'pgvigil_collector_last_success_timestamp_seconds',
    help: "Unix time of the collector's last fully successful run.",
    labelNames: ['collector'],
    registers: [this.registry],
  });
  readonly collectorErrors = new client.Counter({
    name: 'pgvigil_collector_errors_total',
    help: 'Collector failures by reason (timeout, permission, connection, missing_extension, other).',
    labelNames: ['collector', 'reason'],
    registers: [this.registry],
  });
  readonly collectorEnabled = new client.Gauge({
    name: 'pgvigil_collector_enabled',
    help: 'Whether the collector is enabled and applicable to this server (1) or not (0).',
    labelNames: ['collector'],
    registers: [this.registry],
  });
  readonly collectorSkipped = new client.Counter({
    name: 'pgvigil_collector_overlaps_total',
    help: 'Runs skipped because the previous run of the same collector had not finished.',
    labelNames: ['collector'],
    registers: [this.registry],
  });
  readonly collectorSeries = new client.Gauge({
    name: 'pgvigil_collector_series',
    help: 'Series the collector currently serves on /metrics.',
    labelNames: ['collector'],
    registers: [this.registry],
  });
  readonly duplicatesDropped = new client.Counter({
    name: 'pgvigil_duplicate_series_dropped_total',
    help: 'Series dropped because a collector produced the same label set twice in one family.',
    registers: [this.registry],
  });
  readonly poolConnections = new client.Gauge({
    name: 'pgvigil_pool_connections',
    help: 'Connections pgvigil holds to PostgreSQL right now (opening ones included).',
    registers: [this.registry],
  });
  readonly poolOpened = new client.Counter({
    name: 'pgvigil_pool_connections_opened_total',
    help:
      'Connections pgvigil opened to PostgreSQL; a steady rise is ' +
      'churn (every new backend starts with cold catalog caches).',
    registers: [this.registry],
  });
  readonly poolMax = new client.Gauge({
    name: 'pgvigil_pool_max_connections',
    help: 'The most connections pgvigil will ever hold (PGVIGIL_POOL_SIZE).',
    registers: [this.registry],
  });
  readonly heapTrims = new client.Counter({
    name: 'pgvigil_heap_trims_total',
    help:
      'Compacting garbage collections pgvigil ran when the poller ' +
      'went idle after polls that grew the heap (PGVIGIL_HEAP_TRIM_MB).',
    registers: [this.registry],
  });
  readonly lastContact = new client.Gauge({
    name: 'pgvigil_last_contact_timestamp_seconds',
    help: 'Unix time PostgreSQL last answered pgvigil.',
    registers: [this.registry],
  });

  constructor(version: string) {
    new client.Gauge({
      name: 'pgvigil_build_info',
      help: 'pgvigil version and Node.js runtime; value is always 1.',
      labelNames: ['version', 'nodejs_version'],
      registers: [this.registry],
    }).set({ version, nodejs_version: process.version }, 1);
    client.collectDefaultMetrics({ register: this.registry });
  }

  changed(): void {
    this.revision++;
  }

  /** Converts prom-client's registry into the shared Family model. */
  async families(): Promise<Family[]> {
    const metrics = (await this.registry.getMetricsAsJSON()) as unknown as PromClientMetric[];
    // prom-client's default nodejs_active_{handles,requests,resources}_total are gauges named like
    // counters; promtool rejects them, and process_open_fds already tells the same story.
    return metrics.filter((m) => m.type === 'counter' || !m.name.endsWith('_total')).map(toFamily);
  }
}

interface PromClientValue {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

interface PromClientMetric {
  name: string;
  help: string;
  type: string;
  values: PromClientValue[];
}

function stringLabels(labels: Record<string, string | number>, omit?: string): Labels {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) if (k !== omit) out[k] = String(v);
  return out;
}

function toFamily(m: PromClientMetric): Family {
  if (m.type !== 'histogram') {
    const samples: ValueSample[] = m.values.map((v) => ({ labels: stringLabels(v.labels), value: v.value }));
    return m.type === 'counter'
      ? { type: 'counter', name: m.name, help: m.help, samples }
      : { type: 'gauge', name: m.name, help: m.help, samples };
  }
  const bounds: number[] = [];
  const series = new Map<string, { labels: Labels; buckets: number[]; sum: number; count: number }>();
  for (const v of m.values) {
    const labels = stringLabels(v.labels, 'le');
    const key = JSON.stringify(labels);
    let s = series.get(key);
    if (s === undefined) {
      s = { labels, buckets: [], sum: 0, count: 0 };
      series.set(key, s);
    }
    if (v.metricName?.endsWith('_bucket')) {
      if (v.labels.le === '+Inf') continue;
      const le = Number(v.labels.le);
      if (!bounds.includes(le)) bounds.push(le);
      s.buckets.push(v.value);
    } else if (v.metricName?.endsWith('_sum')) s.sum = v.value;
    else if (v.metricName?.endsWith('_count')) s.count = v.value;
  }
  const samples: HistogramSample[] = [...series.values()];
  return { type: 'histogram', name: m.name, help: m.help, bounds, samples };
}
