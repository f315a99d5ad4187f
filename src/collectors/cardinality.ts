// Cardinality guard for per-object series (tables, indexes). A database with tens of thousands of
// relations must not turn into hundreds of thousands of series: we keep at most `limit` objects
// per database, chosen from two rankings at once — the largest (what fills the disk) and the
// busiest (what the workload touches) — taking their top entries alternately so both kinds
// survive. Ties fall back to the input order, so the kept set is stable from poll to poll.

export interface CapResult<T> {
  /** Kept objects, in their input order. */
  readonly kept: T[];
  readonly omitted: number;
}

/** Keeps at most `limit` rows: the union of the top rows by each ranking key (descending). */
export function capObjects<T>(rows: readonly T[], limit: number, rankings: readonly ((row: T) => number)[]): CapResult<T> {
  if (rows.length <= limit) return { kept: [...rows], omitted: 0 };
  const orders = rankings.map((key) => {
    const keys = rows.map(key);
    return rows.map((_, i) => i).sort((a, b) => keys[b]! - keys[a]! || a - b);
  });
  const keep = new Set<number>();
  for (let rank = 0; keep.size < limit && rank < rows.length; rank++) {
    for (const order of orders) {
      keep.add(order[rank]!);
      if (keep.size >= limit) break;
    }
  }
  return { kept: rows.filter((_, i) => keep.has(i)), omitted: rows.length - keep.size };
}
