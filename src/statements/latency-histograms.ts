import type { Family, HistogramFamily } from '../exposition.js';
import { OTHER_CLASS, type QueryClass } from './classes.js';
import type { EntryState } from './entry-states.js';
import { bucketBounds, DeltaHistograms } from './histogram.js';

// Server-side latency histograms: per database and per query class, built from each interval's
// pg_stat_statements deltas. Only top-level statements are observed, so a statement run inside a
// function is not counted twice.

export class LatencyHistograms {
  private readonly byDatabase: DeltaHistograms;
  private readonly byClass: DeltaHistograms;

  constructor(private readonly settings: { classes: readonly QueryClass[]; slowThresholdSeconds: number }) {
    const objectives = settings.classes.map((c) => c.objectiveSeconds);
    const bounds = bucketBounds([...objectives, settings.slowThresholdSeconds]);
    this.byDatabase = new DeltaHistograms(bounds);
    this.byClass = new DeltaHistograms(bounds);
    for (const c of [...settings.classes.map((c) => c.name), OTHER_CLASS]) this.byClass.ensure({ class: c });
  }

  /** Each statement's interval calls at its interval mean. */
  observe(entries: Iterable<EntryState>): void {
    for (const state of entries) {
      const { calls, exec_seconds: seconds } = state.delta;
      if (calls <= 0 || state.sample.toplevel === false) continue;
      this.byDatabase.observe({ datname: state.sample.datname }, calls, seconds);
      this.byClass.observe({ class: state.className }, calls, seconds);
    }
  }

  families(): Family[] {
    const histogram = (name: string, help: string, h: DeltaHistograms): HistogramFamily => ({
      type: 'histogram',
      name,
      help,
      bounds: h.bounds,
      samples: h.samples(),
    });
    return [
      histogram(
        'pg_statement_duration_seconds',
        'Top-level statement latency per database, from pg_stat_statements deltas: ' +
          "each interval a statement's calls count at its interval mean.",
        this.byDatabase,
      ),
      histogram(
        'pg_statement_class_duration_seconds',
        'Top-level statement latency per query class (PGVIGIL_QUERY_CLASSES_FILE), ' +
          'built like pg_statement_duration_seconds.',
        this.byClass,
      ),
    ];
  }
}
