import { OTHER_CLASS } from 'pgvigil-pool/classes';
import { addCounters, type Counters, type DiffResult, entryKey, zeroCounters } from './deltas.js';
import type { StatementSample } from './statement-sample.js';
import { decayScore } from './top-n.js';

// What the engine remembers per pg_stat_statements entry between polls: monotonic counters, the
// top-N score, the last interval's delta and the entry's query class.

export interface EntryState {
  sample: StatementSample;
  /** The sample of the previous poll (undefined for an entry first seen in this one). */
  previous: StatementSample | undefined;
  /** Monotonic counters: the entry's value when first seen plus every delta since. */
  readonly acc: Counters;
  score: number;
  /** The last interval's delta (zero on the baseline). */
  delta: Counters;
  className: string;
  classified: boolean;
}

/**
 * New entries start from their current value (the baseline, or a new entry that started from
 * zero since the last poll); known ones add their delta. Entries gone from the view are dropped.
 */
export function updateEntries(
  known: ReadonlyMap<string, EntryState>,
  current: readonly StatementSample[],
  diff: DiffResult,
): Map<string, EntryState> {
  const live = new Map<string, EntryState>();
  for (const sample of current) {
    const key = entryKey(sample);
    const delta = diff.deltas.get(key) ?? zeroCounters();
    let state = known.get(key);
    if (state === undefined) {
      state = {
        sample,
        previous: undefined,
        acc: { ...sample.counters },
        score: diff.baseline ? sample.counters.exec_seconds : decayScore(0, delta.exec_seconds),
        delta,
        className: OTHER_CLASS,
        classified: false,
      };
    } else {
      addCounters(state.acc, delta);
      state.score = decayScore(state.score, delta.exec_seconds);
      state.previous = state.sample;
      state.sample = sample;
      state.delta = delta;
    }
    live.set(key, state);
  }
  return live;
}

/**
 * Rows without privilege to see the queryid (NULL) share one key: sum them instead of
 * duplicating. Their latency moments combine like partitions of one sample.
 */
export function mergeDuplicates(entries: readonly StatementSample[]): StatementSample[] {
  const byKey = new Map<string, StatementSample>();
  for (const e of entries) {
    const key = entryKey(e);
    const seen = byKey.get(key);
    if (seen === undefined) {
      byKey.set(key, { ...e, counters: { ...e.counters } });
      continue;
    }
    const counters = { ...seen.counters };
    addCounters(counters, e.counters);
    byKey.set(key, { ...seen, ...combineMoments(seen, e), counters });
  }
  return [...byKey.values()];
}

type Moments = Pick<StatementSample, 'meanSeconds' | 'stddevSeconds' | 'minSeconds' | 'maxSeconds'>;

function combineMoments(a: StatementSample, b: StatementSample): Moments {
  const n = a.counters.calls + b.counters.calls;
  if (!(n > 0)) return a;
  const mean = (a.counters.calls * a.meanSeconds + b.counters.calls * b.meanSeconds) / n;
  const m2 =
    a.counters.calls * a.stddevSeconds ** 2 +
    b.counters.calls * b.stddevSeconds ** 2 +
    ((a.counters.calls * b.counters.calls) / n) * (a.meanSeconds - b.meanSeconds) ** 2;
  return {
    meanSeconds: mean,
    stddevSeconds: Math.sqrt(m2 / n),
    minSeconds: Math.min(a.minSeconds, b.minSeconds),
    maxSeconds: Math.max(a.maxSeconds, b.maxSeconds),
  };
}
