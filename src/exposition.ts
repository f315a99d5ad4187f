// The metric model every collector returns, and its rendering to the Prometheus text
// format (0.0.4) and OpenMetrics 1.0. Collectors build immutable families once per poll;
// rendering happens once per swap, not once per scrape.

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

export type ExpositionFormat = 'prometheus' | 'openmetrics';

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

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

export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}

export function escapeHelp(help: string): string {
  return help.replace(/[\\\n]/g, (c) => (c === '\n' ? '\\n' : '\\\\'));
}

export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function formatLabels(labels: Labels, extra?: string): string {
  let out = '';
  for (const key in labels) out += `${out === '' ? '' : ','}${key}="${escapeLabelValue(labels[key] ?? '')}"`;
  if (extra !== undefined) out += out === '' ? extra : `,${extra}`;
  return out === '' ? '' : `{${out}}`;
}

/** Identity of a series inside a family, used to drop duplicates (see FIELD-NOTES #4). */
export function seriesKey(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}\u0000${labels[k]}`)
    .join('\u0001');
}

export function renderFamily(family: Family, format: ExpositionFormat): string {
  const typeName =
    format === 'openmetrics' && family.type === 'counter' ? family.name.slice(0, -'_total'.length) : family.name;
  let out = `# HELP ${typeName} ${escapeHelp(family.help)}\n# TYPE ${typeName} ${family.type}\n`;
  if (family.type === 'histogram') {
    // Label pairs are escaped once per series, not once per bucket line.
    const les = family.bounds.map((bound) => `le="${formatValue(bound)}"`);
    for (const s of family.samples) {
      const pairs = formatLabels(s.labels).slice(1, -1);
      const bucket = `${family.name}_bucket{${pairs}${pairs === '' ? '' : ','}`;
      les.forEach((le, i) => {
        out += `${bucket}${le}} ${formatValue(s.buckets[i] ?? 0)}\n`;
      });
      out += `${bucket}le="+Inf"} ${formatValue(s.count)}\n`;
      out += `${family.name}_sum${formatLabels(s.labels)} ${formatValue(s.sum)}\n`;
      out += `${family.name}_count${formatLabels(s.labels)} ${formatValue(s.count)}\n`;
    }
  } else {
    for (const s of family.samples) out += `${family.name}${formatLabels(s.labels)} ${formatValue(s.value)}\n`;
  }
  return out;
}

/**
 * Merges families of the same name (a per-database collector returns one per database),
 * dropping series whose label set was already seen. Returns the merged list and how many
 * duplicates were dropped, so the caller can count them instead of serving an invalid page.
 */
export function mergeFamilies(parts: Iterable<readonly Family[]>): { families: Family[]; duplicates: number } {
  const byName = new Map<string, { family: Family; samples: (ValueSample | HistogramSample)[]; seen: Set<string> }>();
  let duplicates = 0;
  for (const list of parts) {
    for (const family of list) {
      let entry = byName.get(family.name);
      if (entry === undefined) {
        entry = { family, samples: [], seen: new Set() };
        byName.set(family.name, entry);
      } else if (entry.family.type !== family.type) {
        throw new Error(`metric ${family.name} defined as both ${entry.family.type} and ${family.type}`);
      }
      for (const sample of family.samples) {
        const key = seriesKey(sample.labels);
        if (entry.seen.has(key)) {
          duplicates++;
          continue;
        }
        entry.seen.add(key);
        entry.samples.push(sample);
      }
    }
  }
  const families = [...byName.values()].map(({ family, samples }) => ({ ...family, samples }) as Family);
  return { families, duplicates };
}

export function renderFamilies(families: readonly Family[], format: ExpositionFormat): string {
  let out = '';
  for (const family of families) out += renderFamily(family, format);
  return out;
}

/**
 * renderFamilies that gives the event loop back every `samplesPerSlice` series, so rendering a
 * snapshot of 100,000 series never holds up a scrape that arrives meanwhile.
 */
export async function renderFamiliesSliced(families: readonly Family[], format: ExpositionFormat, samplesPerSlice = 5000): Promise<string> {
  const chunks: string[] = [];
  let inSlice = 0;
  for (const family of families) {
    chunks.push(renderFamily(family, format));
    inSlice += family.samples.length;
    if (inSlice >= samplesPerSlice) {
      inSlice = 0;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  return chunks.join('');
}

/** Picks the format a scraper asked for in its Accept header; Prometheus text is the default. */
export function negotiateFormat(accept: string | undefined): ExpositionFormat {
  if (accept === undefined) return 'prometheus';
  return /application\/openmetrics-text/i.test(accept) ? 'openmetrics' : 'prometheus';
}
