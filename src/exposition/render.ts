import { ChunkWriter } from './chunk-writer.js';
import type { Family, Labels } from './families.js';
import { type ExpositionFormat, escapeHelp, escapeLabelValue, formatValue } from './format.js';

// Families to exposition bytes: the Prometheus text format (0.0.4) and OpenMetrics 1.0 differ only
// in a counter's TYPE/HELP name, so sample lines are the same in both. Families of one name from
// several snapshot parts (a per-database collector returns one per database) are merged on the
// way, and a label set seen twice is dropped and counted, never served: a scrape holding one
// series twice is rejected by Prometheus for that series, and PostgreSQL 14's `toplevel` column
// makes such duplicates easy to produce.
//
// The label string of a sample is its line's text and its identity at once: one string per
// sample, written into byte chunks (chunk-writer.ts). Keying on sorted label names instead cost
// five allocations per sample and was a third of all garbage the exporter made.

export interface RenderResult {
  readonly chunks: Buffer[];
  readonly length: number;
  /** Series written (a histogram counts once). */
  readonly series: number;
  /** Series dropped because their family already had their label set. */
  readonly duplicates: number;
}

/** Samples rendered between two returns to the event loop, in renderSliced. */
const SAMPLES_PER_SLICE = 5000;

/**
 * Renders and merges synchronously: for pgvigil's own metrics, tests, and a scrape that finds no
 * rendering of the current snapshot yet.
 */
export function render(parts: Iterable<readonly Family[]>, format: ExpositionFormat): RenderResult {
  const steps = renderSteps(parts, format, Infinity);
  for (;;) {
    const step = steps.next();
    if (step.done === true) return step.value;
  }
}

/**
 * render that gives the event loop back every SAMPLES_PER_SLICE samples, so rendering a snapshot
 * of 100,000 series never holds up a scrape that arrives meanwhile.
 */
export async function renderSliced(
  parts: Iterable<readonly Family[]>,
  format: ExpositionFormat,
  samplesPerSlice = SAMPLES_PER_SLICE,
): Promise<RenderResult> {
  const steps = renderSteps(parts, format, samplesPerSlice);
  for (;;) {
    const step = steps.next();
    if (step.done === true) return step.value;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** One family as text (tests, and callers that want a string). */
export function renderFamilyText(family: Family, format: ExpositionFormat): string {
  return Buffer.concat(render([[family]], format).chunks).toString('utf8');
}

function* renderSteps(
  parts: Iterable<readonly Family[]>,
  format: ExpositionFormat,
  samplesPerSlice: number,
): Generator<void, RenderResult> {
  const out = new ChunkWriter();
  let series = 0;
  let duplicates = 0;
  let sinceYield = 0;
  const pairsOf = new Map<Labels, string>();
  for (const group of groupByName(parts)) {
    const first = group[0]!;
    const typeName =
      format === 'openmetrics' && first.type === 'counter' ? first.name.slice(0, -'_total'.length) : first.name;
    out.write(`# HELP ${typeName} ${escapeHelp(first.help)}\n# TYPE ${typeName} ${first.type}\n`);
    const order = new LabelOrder(pairsOf);
    const seen = new Set<string>();
    for (const family of group) {
      const les =
        family.type === 'histogram' ? family.bounds.map((bound) => `le="${formatValue(bound)}"} `) : undefined;
      for (const sample of family.samples) {
        const pairs = order.pairs(sample.labels);
        if (seen.has(pairs)) {
          duplicates++;
          continue;
        }
        seen.add(pairs);
        series++;
        if (family.type === 'histogram') {
          const s = sample as (typeof family.samples)[number];
          writeBuckets(out, family.name, pairs, les!, s.buckets, s.count);
          writeLine(out, `${family.name}_sum`, pairs, s.sum);
          writeLine(out, `${family.name}_count`, pairs, s.count);
        } else {
          writeLine(out, family.name, pairs, (sample as { value: number }).value);
        }
        if (++sinceYield >= samplesPerSlice) {
          sinceYield = 0;
          yield;
        }
      }
    }
  }
  const length = out.length;
  return { chunks: out.finish(), length, series, duplicates };
}

/** Families of the same name, in order of first appearance; one name must keep one type. */
function groupByName(parts: Iterable<readonly Family[]>): Family[][] {
  const byName = new Map<string, Family[]>();
  for (const list of parts) {
    for (const family of list) {
      const group = byName.get(family.name);
      if (group === undefined) byName.set(family.name, [family]);
      else if (group[0]!.type !== family.type) {
        throw new Error(`metric ${family.name} defined as both ${group[0]!.type} and ${family.type}`);
      } else group.push(family);
    }
  }
  return [...byName.values()];
}

function writeLine(out: ChunkWriter, name: string, pairs: string, value: number): void {
  out.write(name);
  if (pairs !== '') {
    out.write('{');
    out.write(pairs);
    out.write('}');
  }
  out.write(' ');
  out.write(formatValue(value));
  out.write('\n');
}

function writeBuckets(
  out: ChunkWriter,
  name: string,
  pairs: string,
  les: readonly string[],
  buckets: readonly number[],
  count: number,
): void {
  const prefix = pairs === '' ? '' : `${pairs},`;
  for (let i = 0; i <= les.length; i++) {
    out.write(name);
    out.write('_bucket{');
    out.write(prefix);
    out.write(les[i] ?? 'le="+Inf"} ');
    out.write(formatValue(i < les.length ? (buckets[i] ?? 0) : count));
    out.write('\n');
  }
}

/**
 * The label pairs of a family's samples (`a="x",b="y"`), each label set always in one order, so
 * that equal sets give equal strings. The order is the first sample's: collectors build a
 * family's labels in one place, so checking costs a walk over the keys and no allocation. A
 * sample with other names, or the same names in another order, gets a canonical order: the
 * family's for the same set, sorted for any other.
 *
 * Collectors share one labels object among the families of a row (30 of them for a table), so
 * pairs in their own order are remembered per object for the whole rendering.
 */
class LabelOrder {
  private names: string[] | undefined;
  private nameSet: Set<string> | undefined;

  constructor(private readonly inOwnOrder: Map<Labels, string>) {}

  pairs(labels: Labels): string {
    if (this.names === undefined) this.names = Object.keys(labels);
    if (!this.inOrder(labels)) return formatPairs(labels, this.canonical(labels));
    let pairs = this.inOwnOrder.get(labels);
    if (pairs === undefined) {
      pairs = formatPairs(labels, this.names);
      this.inOwnOrder.set(labels, pairs);
    }
    return pairs;
  }

  private inOrder(labels: Labels): boolean {
    const names = this.names!;
    let i = 0;
    for (const key in labels) if (names[i++] !== key) return false;
    return i === names.length;
  }

  private canonical(labels: Labels): string[] {
    const keys = Object.keys(labels);
    this.nameSet ??= new Set(this.names);
    if (keys.length === this.nameSet.size && keys.every((k) => this.nameSet!.has(k))) return this.names!;
    return keys.sort();
  }
}

function formatPairs(labels: Labels, names: readonly string[]): string {
  let out = '';
  for (const name of names) out += `${out === '' ? '' : ','}${name}="${escapeLabelValue(labels[name] ?? '')}"`;
  return out;
}
