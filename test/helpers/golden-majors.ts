import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './mixin.js';

// The contract per PostgreSQL major: test/golden/pg<major>.json lists which collectors run and
// every family pgvigil emits against a primary of that major (name, type, label names). The
// version-matrix test checks a live server of each major against its file and writes the files
// when asked (npm run golden). test/golden/families.json is the union of every place a family
// shows (standby, PgBouncer, client pool) on the default major; these files add what differs by major.

export const GOLDEN_MAJORS = [13, 14, 15, 16, 17, 18] as const;

export interface MajorFamily {
  readonly name: string;
  readonly type: string;
  readonly labels: string[];
}

export interface MajorGolden {
  readonly major: number;
  /** Collector → "runs" (enabled and succeeding) or "off" (not applicable here, or not configured). */
  readonly collectors: Record<string, 'runs' | 'off'>;
  readonly families: MajorFamily[];
}

export const majorGoldenPath = (major: number) => join(repoRoot, 'test', 'golden', `pg${major}.json`);

export function readMajorGolden(major: number): MajorGolden | undefined {
  const path = majorGoldenPath(major);
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as MajorGolden) : undefined;
}

/**
 * Writes a major's file. Label names are merged with the file's previous ones and with those
 * families.json gives the same family: a run in which a condition did not occur (no unused index
 * yet, say) sees fewer labelled samples, never other ones, and families.json is made on a fixture
 * that sets off every condition.
 */
export function writeMajorGolden(golden: MajorGolden): void {
  const previous = readMajorGolden(golden.major);
  const union = JSON.parse(readFileSync(join(repoRoot, 'test', 'golden', 'families.json'), 'utf8')) as MajorFamily[];
  const families = golden.families
    .map((f) => {
      const same = (p: MajorFamily) => p.name === f.name && p.type === f.type;
      const known = [previous?.families, union].flatMap((list) => list?.find(same) ?? []);
      const labels = new Set([...known.flatMap((k) => k.labels), ...f.labels]);
      return { name: f.name, type: f.type, labels: [...labels].sort() };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
  const collectors = Object.fromEntries(Object.entries(golden.collectors).sort(([a], [b]) => a.localeCompare(b)));
  const text = JSON.stringify({ major: golden.major, collectors, families }, null, 2);
  writeFileSync(majorGoldenPath(golden.major), `${text}\n`);
}

/** Every family of every major's file: name → type and the union of its label names. */
export function familiesOfAllMajors(): { types: Map<string, string>; labels: Map<string, Set<string>> } {
  const types = new Map<string, string>();
  const labels = new Map<string, Set<string>>();
  for (const major of GOLDEN_MAJORS) {
    for (const f of readMajorGolden(major)?.families ?? []) {
      types.set(f.name, f.type);
      const set = labels.get(f.name) ?? new Set<string>();
      for (const l of f.labels) set.add(l);
      labels.set(f.name, set);
    }
  }
  return { types, labels };
}
