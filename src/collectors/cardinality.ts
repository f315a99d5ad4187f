// Cardinality guard for per-object series (tables, indexes). A database with tens of thousands of
// relations must not turn into hundreds of thousands of series: we keep at most `limit` objects
// per database, chosen from several rankings at once — the largest first (what fills the disk),
// then the busiest (what the workload touches) — taking their top entries in turn so every kind
// survives. Only objects with some activity enter an activity ranking, and ties fall back to size,
// then to input order. Objects kept by the previous poll get a head start, so two objects of
// about the same size do not swap places (and series) every poll.

/** An object kept last poll stays until a rival is 20 % larger or busier. */
export const STICKINESS = 1.2;

export type Ranking<T> = (row: T) => number;

export interface CapResult<T> {
  /** Kept objects, in their input order. */
  readonly kept: T[];
  readonly omitted: number;
}

/**
 * Keeps at most `limit` rows: the union of the top rows of each ranking (descending keys). The
 * first ranking (size) orders every row and breaks ties in the others; later rankings (activity)
 * only hold rows whose key is above 0. Rows for which keptBefore is true count STICKINESS times more.
 */
export function capObjects<T>(
  rows: readonly T[],
  limit: number,
  rankings: readonly [Ranking<T>, ...Ranking<T>[]],
  keptBefore: (row: T) => boolean = () => false,
): CapResult<T> {
  if (rows.length <= limit) return { kept: [...rows], omitted: 0 };
  const bonus = rows.map((row) => (keptBefore(row) ? STICKINESS : 1));
  const [size, ...activity] = rankings.map((key) => rows.map((row, i) => key(row) * bonus[i]!)) as [
    number[],
    ...number[][],
  ];
  const rank = (keys: number[], indices: number[]) =>
    indices.sort((a, b) => keys[b]! - keys[a]! || size[b]! - size[a]! || a - b);
  const all = rows.map((_, i) => i);
  const orders = [
    rank(size, [...all]),
    ...activity.map((keys) =>
      rank(
        keys,
        all.filter((i) => keys[i]! > 0),
      ),
    ),
  ];
  const keep = new Set<number>();
  for (let r = 0; keep.size < limit && r < rows.length; r++) {
    for (const order of orders) {
      const i = order[r];
      if (i !== undefined) keep.add(i);
      if (keep.size >= limit) break;
    }
  }
  return { kept: rows.filter((_, i) => keep.has(i)), omitted: rows.length - keep.size };
}

/** capObjects with memory: remembers per database what it kept, for the head start next poll. */
export class ObjectCap<T> {
  private readonly keptBefore = new Map<string, Set<string>>();

  constructor(
    private readonly keyOf: (row: T) => string,
    private readonly rankings: readonly [Ranking<T>, ...Ranking<T>[]],
  ) {}

  /** Keys of what the last poll of the database kept (for a ranking done in SQL, see tables.ts). */
  keptKeys(datname: string): string[] {
    return [...(this.keptBefore.get(datname) ?? [])];
  }

  apply(datname: string, rows: readonly T[], limit: number): CapResult<T> {
    const before = this.keptBefore.get(datname);
    const result = capObjects(rows, limit, this.rankings, (row) => before?.has(this.keyOf(row)) ?? false);
    this.keptBefore.set(datname, new Set(result.kept.map(this.keyOf)));
    return result;
  }
}
