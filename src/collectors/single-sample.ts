import type { ValueSample } from '../exposition.js';

/** The one unlabelled sample of a cluster-wide value; none when PostgreSQL returned NULL (unknown, not 0). */
export function one(value: number | null | undefined): ValueSample[] {
  return value === null || value === undefined ? [] : [{ labels: {}, value }];
}
