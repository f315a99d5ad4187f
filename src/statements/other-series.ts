import { addCounters, type Counters, zeroCounters } from './deltas.js';
import type { EntryState } from './entry-states.js';
import { LastSeen } from './last-seen.js';

// The queryid="other" series of each database: what the top N leaves out, summed. A database's
// "other" series starts with the values of what it folds at that moment; afterwards it only grows
// by deltas, so moving an entry in or out of the top N never makes it jump. It is exported while
// the database has had entries within the staleness period, then forgotten (a dropped database).

export class OtherSeries {
  private readonly byDatabase = new Map<string, Counters>();
  /** Databases whose "other" series exists: from then on it only grows by deltas. */
  private readonly seeded = new Set<string>();
  private readonly seen: LastSeen;

  constructor(staleMs: number) {
    this.seen = new LastSeen(staleMs);
  }

  /** Folds every live entry that is not a member; returns how many were folded. */
  fold(live: ReadonlyMap<string, EntryState>, members: ReadonlySet<string>): number {
    let folded = 0;
    for (const [key, state] of live) {
      if (members.has(key)) continue;
      folded++;
      const datname = state.sample.datname;
      let acc = this.byDatabase.get(datname);
      if (acc === undefined) {
        acc = zeroCounters();
        this.byDatabase.set(datname, acc);
      }
      addCounters(acc, this.seeded.has(datname) ? state.delta : state.acc);
    }
    for (const d of this.byDatabase.keys()) this.seeded.add(d);
    return folded;
  }

  /** The "other" counters of databases that had entries within the staleness period. */
  live(databases: ReadonlySet<string>, now: number): [string, Counters][] {
    for (const gone of this.seen.update(databases, now)) {
      this.byDatabase.delete(gone);
      this.seeded.delete(gone);
    }
    return [...this.byDatabase.entries()].filter(([d]) => this.seen.has(d));
  }
}
