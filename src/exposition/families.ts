// The metric model every collector returns and the checks on it. Collectors build immutable
// families once per poll; render.ts turns them into bytes once per snapshot swap, not per scrape.

export type Labels = Readonly<Record<string, string>>;

export interface ValueSample {
  readonly labels: Labels;
  readonly value: number;
}

export interface HistogramSample {
  readonly labels: Labels;
  /** Cumulative counts, one per entry of the family's `bounds` (the +Inf bucket is `count`). */
  readonly buckets: readonly number[];
  readonly sum: number;
  readonly count: number;
}

interface FamilyBase {
  /** Full name. Counters carry their `_total` suffix here; OpenMetrics rendering strips it from the TYPE line. */
  readonly name: string;
  readonly help: string;
}

export interface GaugeFamily extends FamilyBase {
  readonly type: 'gauge';
  readonly samples: readonly ValueSample[];
}

export interface CounterFamily extends FamilyBase {
  readonly type: 'counter';
  readonly samples: readonly ValueSample[];
}

export interface HistogramFamily extends FamilyBase {
  readonly type: 'histogram';
  readonly bounds: readonly number[];
  readonly samples: readonly HistogramSample[];
}

export type Family = GaugeFamily | CounterFamily | HistogramFamily;

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export function gauge(name: string, help: string, samples: readonly ValueSample[]): GaugeFamily {
  return { type: 'gauge', name, help, samples };
}

export function counter(name: string, help: string, samples: readonly ValueSample[]): CounterFamily {
  if (!name.endsWith('_total')) throw new Error(`counter ${name} must end in _total`);
  return { type: 'counter', name, help, samples };
}

/** Checks names once, where a family is defined, so a typo fails a test instead of a scrape. */
export function assertValidFamily(family: Family): void {
  if (!METRIC_NAME.test(family.name)) throw new Error(`invalid metric name ${JSON.stringify(family.name)}`);
  if (family.type !== 'counter' && family.name.endsWith('_total')) {
    throw new Error(`${family.name}: _total is reserved for counters`);
  }
  // Families of tens of thousands of series repeat the same few label names: check each name once.
  const valid = new Set<string>();
  for (const sample of family.samples) {
    for (const label in sample.labels) {
      if (valid.has(label)) continue;
      if (!LABEL_NAME.test(label) || label.startsWith('__')) {
        throw new Error(`${family.name}: invalid label name ${JSON.stringify(label)}`);
      }
      if (family.type === 'histogram' && label === 'le') throw new Error(`${family.name}: label le is reserved`);
      valid.add(label);
    }
  }
}
