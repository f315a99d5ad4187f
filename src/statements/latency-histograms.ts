import { OTHER_CLASS, type QueryClass } from 'pgvigil-pool/classes';
import type { FamilySpec } from '../collectors/collector-spec.js';
import { counter, type Family, gauge, type HistogramFamily } from '../exposition/families.js';
import type { EntryState } from './entry-states.js';
import { bucketBounds, DeltaHistograms } from './histogram.js';
import { FALLBACK_REASONS, type FallbackReason, intervalMoments } from './interval-moments.js';
import { LastSeen } from './last-seen.js';
import { type LatencyFit, spreadCalls } from './latency-fit.js';

// Server-side latency histograms: per database and per query class, built from each interval's
// pg_stat_statements deltas. Each statement's interval calls are spread over the buckets by a
// distribution fitted to the interval's mean and variance within the entry's min and max
// (latency-fit.ts). Only top-level statements are observed, so a statement run inside a function
// is not counted twice. A database's histogram is kept while the database has had entries within
// the staleness period (a quiet one keeps its series), then forgotten (a dropped one leaves /metrics).

export const LATENCY = {
  byDatabase: {
    name: 'pg_statement_duration_seconds',
    type: 'histogram',
    unit: 'seconds',
    help:
      'Top-level statement latency per database, from pg_stat_statements deltas: each interval a ' +
      "statement's calls are spread by a distribution fitted to the interval's mean and variance " +
      "within the statement's min and max; _sum and _count are exact.",
  },
  byClass: {
    name: 'pg_statement_class_duration_seconds',
    type: 'histogram',
    unit: 'seconds',
    help:
      'Top-level statement latency per query class (PGVIGIL_QUERY_CLASSES_FILE), ' +
      'built like pg_statement_duration_seconds.',
  },
  source: {
    name: 'pg_statement_class_latency_source_info',
    type: 'gauge',
    help:
      'Where each class histogram comes from (value 1): pg_stat_statements_moments = fitted to each ' +
      "interval's count, mean and variance within the statement's lifetime min and max; " +
      "pg_stat_statements_interval_extremes = the same within the interval's own min and max " +
      '(PGVIGIL_STATEMENTS_MINMAX_RESET).',
  },
  fallbacks: {
    name: 'pgvigil_statements_latency_fallbacks_total',
    type: 'counter',
    help: "Statement intervals counted at their mean because the view's moments were inconsistent, by reason.",
  },
} as const satisfies Record<string, FamilySpec>;

/** The latency families, in the order families() returns them. */
export const LATENCY_FAMILIES: readonly FamilySpec[] = Object.values(LATENCY);

/** The fit the exporter uses; bench/latency-accuracy.ts measures it against the others. */
export const LATENCY_FIT: LatencyFit = 'beta';

/** Where the class histograms come from: the `source` label of pg_statement_class_latency_source_info. */
export type LatencySource = 'pg_stat_statements_moments' | 'pg_stat_statements_interval_extremes';

export class LatencyHistograms {
  private readonly byDatabase: DeltaHistograms;
  private readonly byClass: DeltaHistograms;
  private readonly fallbacks = new Map<FallbackReason, number>(FALLBACK_REASONS.map((r) => [r, 0]));
  private readonly expected: number[];
  private source: LatencySource = 'pg_stat_statements_moments';
  private readonly databasesSeen: LastSeen;

  constructor(
    private readonly settings: { classes: readonly QueryClass[]; slowThresholdSeconds: number; seriesStaleMs: number },
  ) {
    this.databasesSeen = new LastSeen(settings.seriesStaleMs);
    const objectives = settings.classes.map((c) => c.objectiveSeconds);
    const bounds = bucketBounds([...objectives, settings.slowThresholdSeconds]);
    this.byDatabase = new DeltaHistograms(bounds);
    this.byClass = new DeltaHistograms(bounds);
    this.expected = new Array<number>(bounds.length + 1);
    for (const c of this.classNames()) this.byClass.ensure({ class: c });
  }

  get bounds(): readonly number[] {
    return this.byClass.bounds;
  }

  private classNames(): string[] {
    return [...this.settings.classes.map((c) => c.name), OTHER_CLASS];
  }

  observe(entries: Iterable<EntryState>, intervalExtremes: boolean): void {
    this.source = intervalExtremes ? 'pg_stat_statements_interval_extremes' : 'pg_stat_statements_moments';
    for (const state of entries) {
      const { calls, exec_seconds: seconds } = state.delta;
      if (calls <= 0 || state.sample.toplevel === false) continue;
      const previous = state.previous === undefined ? undefined : moments(state.previous);
      const result = intervalMoments(previous, moments(state.sample), calls, seconds);
      if (!result.ok) this.fallbacks.set(result.reason, this.fallbacks.get(result.reason)! + 1);
      this.expected.fill(0);
      spreadCalls(this.byDatabase.bounds, result.moments, LATENCY_FIT, this.expected);
      this.byDatabase.observeSpread({ datname: state.sample.datname }, this.expected, calls, seconds);
      this.byClass.observeSpread({ class: state.className }, this.expected, calls, seconds);
    }
  }

  /** Forgets the histograms of databases without entries for longer than the staleness period. */
  keepDatabases(databases: ReadonlySet<string>, now: number): void {
    if (this.databasesSeen.update(databases, now).length === 0) return;
    this.byDatabase.forget((labels) => this.databasesSeen.has(labels.datname ?? ''));
  }

  families(): Family[] {
    const histogram = (spec: FamilySpec, h: DeltaHistograms): HistogramFamily => ({
      type: 'histogram',
      name: spec.name,
      help: spec.help,
      bounds: h.bounds,
      samples: h.samples(),
    });
    return [
      histogram(LATENCY.byDatabase, this.byDatabase),
      histogram(LATENCY.byClass, this.byClass),
      gauge(
        LATENCY.source.name,
        LATENCY.source.help,
        this.classNames().map((c) => ({ labels: { class: c, source: this.source }, value: 1 })),
      ),
      counter(
        LATENCY.fallbacks.name,
        LATENCY.fallbacks.help,
        [...this.fallbacks].map(([reason, value]) => ({ labels: { reason }, value })),
      ),
    ];
  }
}

function moments(s: EntryState['sample']) {
  return {
    calls: s.counters.calls,
    meanSeconds: s.meanSeconds,
    stddevSeconds: s.stddevSeconds,
    minSeconds: s.minSeconds,
    maxSeconds: s.maxSeconds,
  };
}
