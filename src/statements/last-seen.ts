// When each label value (a database, usually) last had an entry in pg_stat_statements. The
// cumulative series built from the entries (latency histograms per database, the "other" series)
// must outlive a short absence, or rate() would see a reset each time a quiet database's entries
// were evicted and came back; but a database dropped for good must leave /metrics, or a
// database-per-tenant platform would export every tenant it ever had.

export class LastSeen {
  private readonly at = new Map<string, number>();

  constructor(private readonly keepMs: number) {}

  /** Marks every one of `present` seen at `now`; returns those unseen for longer than keepMs, forgotten. */
  update(present: Iterable<string>, now: number): string[] {
    for (const key of present) this.at.set(key, now);
    const gone: string[] = [];
    for (const [key, at] of this.at) {
      if (now - at > this.keepMs) {
        this.at.delete(key);
        gone.push(key);
      }
    }
    return gone;
  }

  has(key: string): boolean {
    return this.at.has(key);
  }
}
