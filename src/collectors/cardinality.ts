// Cardinality guard for per-object series (tables, indexes). A database with tens of thousands of
// relations must not turn into hundreds of thousands of series: we keep at most `limit` objects
// per database, chosen from several rankings at once — the largest first (what fills the disk),
// then the busiest (what the workload touches) — taking their top entries in turn so every kind
// survives. Only objects with some activity enter an activity ranking, and ties fall back to size,
// then to input order, so the kept set is stable from poll to poll.

export interface CapResult<T> {
  /** Kept objects, in their input order. */
  readonly kept: T[];
  readonly omitted: number;
}

/**
 * Keeps at most `limit` rows: the union of the top rows of each ranking (descending keys). The
 * first ranking (size) orders every row and breaks ties in the others; later rankings (activity)
 * only hold rows whose key is above 0.
 */
export function capObjects<T>(
  rows: readonly T[],
  limit: number,
  [bySize, ...byActivity]: readonly [(row: T) => number, ...((row: T) => number)[]],
): CapResult<T> {
  if (rows.length <= limit) return { kept: [...rows], omitted: 0 };
  const size = rows.map(bySize);
  const rank = (keys: number[], indices: number[]) =>
    indices.sort((a, b) => keys[b]! - keys[a]! || size[b]! - size[a]! || a - b);
  const all = rows.map((_, i) => i);
  const orders = [
    rank(size, [...all]),
    ...byActivity.map((key) => {
      const keys = rows.map(key);
      return rank(keys, all.filter((i) => keys[i]! > 0));
    }),
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
