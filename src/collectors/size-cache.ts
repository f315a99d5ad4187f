import { seconds } from '../config.js';

// Per-object sizes change slowly and cost most of the table and index queries: pg_table_size,
// pg_indexes_size and pg_relation_size open every relation and stat each of its files (bench/:
// 180 of 330 ms of the tables query at 2000 tables), and the bloat estimate reads all of pg_stats.
// So they are read at most every PGVIGIL_SIZES_INTERVAL_SECONDS per database, and the polls in
// between reuse them with fresh statistics. An object created since the last size read has no
// size series until the next one.

export class SizeCache<Sizes> {
  private readonly byDatabase = new Map<string, { at: number; sizes: Map<string, Sizes> }>();

  constructor(private readonly intervalMs: number) {}

  /** Whether this database's sizes should be read now. */
  due(datname: string, now: number): boolean {
    const entry = this.byDatabase.get(datname);
    return entry === undefined || now - entry.at >= this.intervalMs;
  }

  /** Replaces the database's sizes (objects gone since are forgotten) and drops long-unpolled databases. */
  remember(datname: string, now: number, sizes: Map<string, Sizes>): void {
    this.byDatabase.set(datname, { at: now, sizes });
    for (const [name, entry] of this.byDatabase) if (now - entry.at > 3 * this.intervalMs) this.byDatabase.delete(name);
  }

  lookup(datname: string, key: string): Sizes | undefined {
    return this.byDatabase.get(datname)?.sizes.get(key);
  }
}

/**
 * Fills rows read without sizes from the cache, or, when sizes were read, stores them. `pick`
 * takes the size fields out of a row; `empty` is what a row gets when its object is not cached.
 * The rows are the caller's own, fresh from the query: they are filled in place, not copied
 * (6000 index rows a poll at the bench fixture).
 */
export function withCachedSizes<Row extends object, Sizes extends object>(
  cache: SizeCache<Sizes>,
  datname: string,
  now: number,
  sizesRead: boolean,
  rows: Row[],
  key: (row: Row) => string,
  pick: (row: Row) => Sizes,
  empty: Sizes,
): Row[] {
  if (sizesRead) cache.remember(datname, now, new Map(rows.map((r) => [key(r), pick(r)])));
  else for (const r of rows) Object.assign(r, cache.lookup(datname, key(r)) ?? empty);
  return rows;
}

/** Shared by the tables and indexes collectors: one variable, declared once for both. */
export const SIZES_INTERVAL_VARIABLE = {
  PGVIGIL_SIZES_INTERVAL_SECONDS: seconds(
    300,
    0,
    86400,
    'Per database: read table and index sizes and the bloat estimate at most this often ' +
      '(the costly part of those queries; 0: every poll); statistics keep their own interval',
  ),
};
