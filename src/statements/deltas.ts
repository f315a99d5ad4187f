// Per-interval deltas of pg_stat_statements entries. An entry is identified by
// (dbid, userid, queryid, toplevel): from extension 1.9 the same queryid appears once per
// toplevel value, and an exporter that keyed on queryid alone emitted duplicate series and
// failed the whole scrape. Counters in the view restart from zero when an entry is
// evicted and re-created, on pg_stat_statements_reset() of one entry, and on a full reset; in
// each case the delta is the entry's current value (it started from zero since the last poll),
// never a negative number and never the old total again.

export const COUNTER_FIELDS = [
  'calls',
  'exec_seconds',
  'plan_seconds',
  'rows',
  'shared_blks_hit',
  'shared_blks_read',
  'temp_blks_written',
  'blk_read_seconds',
  'blk_write_seconds',
  'wal_bytes',
] as const;

export type CounterField = (typeof COUNTER_FIELDS)[number];
export type Counters = Record<CounterField, number>;

export interface EntryIdentity {
  readonly dbid: number;
  readonly userid: number;
  readonly queryid: string;
  /** null before extension 1.9 (no toplevel column). */
  readonly toplevel: boolean | null;
}

export interface EntrySnapshot extends EntryIdentity {
  readonly counters: Counters;
  /** Per-entry stats_since (1.11+) as epoch seconds; null before. */
  readonly statsSince: number | null;
}

export interface DiffResult {
  /** Delta per entry key since the previous snapshot; empty on the baseline. */
  readonly deltas: Map<string, Counters>;
  readonly baseline: boolean;
  readonly fullReset: boolean;
  /** Entries whose counters restarted (negative delta or a new stats_since). */
  readonly entryResets: number;
  readonly newEntries: number;
  /** Entries present last time and gone now (deallocated or reset). */
  readonly vanished: number;
}

export function entryKey(e: EntryIdentity): string {
  return `${e.dbid}/${e.userid}/${e.queryid}/${e.toplevel === null ? '' : e.toplevel ? 't' : 'f'}`;
}

export function zeroCounters(): Counters {
  return Object.fromEntries(COUNTER_FIELDS.map((f) => [f, 0])) as Counters;
}

export function addCounters(into: Counters, d: Counters): void {
  for (const f of COUNTER_FIELDS) into[f] += d[f];
}

/**
 * Diffs the current entries against the previous snapshot. `statsReset` is
 * pg_stat_statements_info.stats_reset (1.9+, epoch seconds) or null.
 */
export function diffSnapshots(
  previous: { readonly entries: ReadonlyMap<string, EntrySnapshot>; readonly statsReset: number | null } | undefined,
  current: readonly EntrySnapshot[],
  statsReset: number | null,
): DiffResult {
  const deltas = new Map<string, Counters>();
  if (previous === undefined) {
    return { deltas, baseline: true, fullReset: false, entryResets: 0, newEntries: 0, vanished: 0 };
  }
  const fullReset = statsReset !== null && previous.statsReset !== null && statsReset !== previous.statsReset;
  let entryResets = 0;
  let newEntries = 0;
  const seen = new Set<string>();
  for (const entry of current) {
    const key = entryKey(entry);
    seen.add(key);
    const before = previous.entries.get(key);
    if (before === undefined || fullReset) {
      if (before === undefined) newEntries++;
      deltas.set(key, { ...entry.counters });
      continue;
    }
    const restarted =
      (entry.statsSince !== null && before.statsSince !== null && entry.statsSince !== before.statsSince) ||
      entry.counters.calls < before.counters.calls ||
      entry.counters.exec_seconds < before.counters.exec_seconds;
    if (restarted) {
      entryResets++;
      deltas.set(key, { ...entry.counters });
      continue;
    }
    const d = zeroCounters();
    for (const f of COUNTER_FIELDS) d[f] = Math.max(0, entry.counters[f] - before.counters[f]);
    deltas.set(key, d);
  }
  let vanished = 0;
  for (const key of previous.entries.keys()) if (!seen.has(key)) vanished++;
  return { deltas, baseline: false, fullReset, entryResets, newEntries, vanished };
}
