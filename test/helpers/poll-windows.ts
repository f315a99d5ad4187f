import { readFileSync } from 'node:fs';
import { collectorDefinitions } from '../../src/collectors/index.js';
import { GOLDEN_PATH, type GoldenFamily } from '../../src/dev/update-docs.js';

// Which collector polls a series, and how often by default: the family's collector from the
// golden file (proved equal to what pgvigil emits), its interval from the collector definitions.

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

const collectorOf = new Map(
  (JSON.parse(readFileSync(GOLDEN_PATH, 'utf8')) as GoldenFamily[]).map((f) => [f.name, f.collector]),
);
const intervals = new Map(collectorDefinitions.map((c) => [c.name, c.defaultIntervalSeconds]));

/** The polling collector and its default interval; undefined for series no collector polls. */
export function pollIntervalOf(series: string): { collector: string; seconds: number } | undefined {
  const family = [series, series.replace(/_(bucket|count|sum)$/, '')].find((n) => collectorOf.has(n));
  const collector = family === undefined ? undefined : collectorOf.get(family)!;
  const seconds = collector === undefined ? undefined : intervals.get(collector);
  return seconds === undefined ? undefined : { collector: collector!, seconds };
}

/** Each `name{...}[range]` of an expression (subqueries `(...)[range:step]` are not range selectors). */
export function rangeSelectors(expr: string): { name: string; range: string }[] {
  const noStrings = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  return [...noStrings.matchAll(/([a-zA-Z_:][\w:]*)\s*(?:\{[^}]*\})?\s*\[([^\]:]+)\]/g)].map((m) => ({
    name: m[1]!,
    range: m[2]!.trim(),
  }));
}

/** A PromQL duration such as `4m` or `1w` in seconds; undefined for a Grafana variable. */
export function windowSeconds(range: string): number | undefined {
  const m = /^(\d+)([smhdw])$/.exec(range);
  return m === null ? undefined : Number(m[1]) * UNITS[m[2]!]!;
}
