import type { Family } from './exposition/families.js';

// The last good series set of every (collector, database), written by the poller and read by the
// exposition layer: poll → snapshot → render → scrape. A poll replaces a database's part whole, so
// label sets that vanished from PostgreSQL vanish from /metrics; a part older than its collector's
// staleness limit is no longer served, so a collector that keeps failing stops reporting old values.

export interface SnapshotPart {
  readonly families: readonly Family[];
  /** Wall-clock milliseconds the part was collected. */
  readonly at: number;
}

/** A collector's parts that are still fresh, and a key that changes whenever that set changes. */
export interface FreshSnapshot {
  readonly key: string;
  readonly parts: readonly (readonly Family[])[];
}

/** Called when a collector's run has written its snapshot; the poller waits for every listener. */
export type PublishListener = (collector: string) => Promise<void>;

interface CollectorSnapshots {
  readonly staleMs: number;
  /** Per database ('' for cluster-scope collectors). */
  readonly parts: Map<string, SnapshotPart>;
}

export class SnapshotStore {
  private readonly byCollector = new Map<string, CollectorSnapshots>();
  private readonly listeners: PublishListener[] = [];
  /** Bumped on every change, so a reader can tell that what it rendered is behind. */
  revision = 0;

  /** Adds a collector; /metrics lists collectors in the order they were registered. */
  register(collector: string, staleMs: number): void {
    this.byCollector.set(collector, { staleMs, parts: new Map() });
  }

  collectors(): string[] {
    return [...this.byCollector.keys()];
  }

  put(collector: string, database: string, part: SnapshotPart): void {
    this.of(collector).parts.set(database, part);
    this.revision++;
  }

  delete(collector: string, database: string): void {
    if (this.of(collector).parts.delete(database)) this.revision++;
  }

  /** Drops the parts of databases no longer in `databases` (dropped, or no longer discovered). */
  retain(collector: string, databases: readonly string[]): void {
    const { parts } = this.of(collector);
    for (const key of parts.keys()) if (!databases.includes(key)) this.delete(collector, key);
  }

  fresh(collector: string, now: number): FreshSnapshot {
    const { parts, staleMs } = this.of(collector);
    const fresh = [...parts.entries()].filter(([, p]) => now - p.at <= staleMs);
    return { key: fresh.map(([k, p]) => `${k}@${p.at}`).join('|'), parts: fresh.map(([, p]) => p.families) };
  }

  /** When the next part that is fresh at `now` turns stale (and leaves /metrics); Infinity if none. */
  nextStaleAt(now: number): number {
    let at = Infinity;
    for (const { parts, staleMs } of this.byCollector.values()) {
      for (const part of parts.values()) {
        const staleAt = part.at + staleMs;
        if (staleAt >= now && staleAt < at) at = staleAt;
      }
    }
    return at;
  }

  /** Which collector owns which family names right now (the golden test and the metric reference use it). */
  familyOwners(): Map<string, string> {
    const owners = new Map<string, string>();
    for (const [collector, { parts }] of this.byCollector) {
      for (const part of parts.values()) for (const f of part.families) owners.set(f.name, collector);
    }
    return owners;
  }

  onPublish(listener: PublishListener): void {
    this.listeners.push(listener);
  }

  /** The collector's run has finished writing: resolves once every reader has taken the new snapshot. */
  async publish(collector: string): Promise<void> {
    for (const listener of this.listeners) await listener(collector);
  }

  private of(collector: string): CollectorSnapshots {
    const snapshots = this.byCollector.get(collector);
    if (snapshots === undefined) throw new Error(`collector ${collector} is not registered in the snapshot store`);
    return snapshots;
  }
}
