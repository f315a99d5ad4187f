import type { Logger } from 'pino';
import type { Clock } from './clock.js';
import type { Database } from './db.js';

// The databases per-database collectors run on: every database that accepts connections, is not
// a template and that pgvigil may connect to, filtered by PGVIGIL_INCLUDE_DATABASES and
// PGVIGIL_EXCLUDE_DATABASES. Per-database views (pg_stat_user_tables, ...) only show the database
// a connection is on, so covering a cluster takes one connection per database.

const DATABASES_SQL = `SELECT datname FROM pg_database
 WHERE datallowconn AND NOT datistemplate AND has_database_privilege(datname, 'CONNECT')
 ORDER BY datname`;

export interface DiscoverySettings {
  readonly maxAgeMs: number;
  readonly timeoutMs: number;
  readonly include: RegExp | undefined;
  readonly exclude: RegExp | undefined;
}

/** What discovery needs of the connection pool: one query on the connection database. */
export type DiscoveryDatabase = Pick<Database, 'defaultDatabase' | 'withConnection'>;

export class DatabaseDiscovery {
  private databases: string[] = [];
  private listedAt = 0;
  /** Refreshes started, and the newest one whose list was taken: an older list arriving later is stale. */
  private started = 0;
  private applied = 0;
  private readonly removedListeners: ((datname: string) => void)[] = [];

  constructor(
    private readonly db: DiscoveryDatabase,
    private readonly settings: DiscoverySettings,
    private readonly log: Logger,
    private readonly clock: Clock,
  ) {}

  /** The last list; empty before the first successful discovery. */
  list(): readonly string[] {
    return this.databases;
  }

  /** Told once about each database that left the list (dropped, or no longer allowed or wanted). */
  onRemoved(listener: (datname: string) => void): void {
    this.removedListeners.push(listener);
  }

  /** Lists the databases again when the list is older than maxAgeMs (or `force`). */
  async refresh(force: boolean): Promise<void> {
    if (!force && this.databases.length > 0 && this.clock.now() - this.listedAt < this.settings.maxAgeMs) return;
    const seq = ++this.started;
    try {
      const rows = await this.db.withConnection(
        this.db.defaultDatabase,
        this.settings.timeoutMs,
        async (lease) => (await lease.client.query<{ datname: string }>(DATABASES_SQL)).rows,
      );
      // Refreshes overlap (each collector may ask for one): a list read before a newer one arrived is
      // older news, and taking it would bring back a database that was dropped in between.
      if (seq < this.applied) return;
      this.applied = seq;
      const { include, exclude } = this.settings;
      const listed = rows
        .map((r) => r.datname)
        .filter((d) => (include === undefined || include.test(d)) && (exclude === undefined || !exclude.test(d)));
      const removed = this.databases.filter((d) => !listed.includes(d));
      this.databases = listed;
      this.listedAt = this.clock.now();
      for (const datname of removed) {
        this.log.info({ datname }, 'database no longer listed (dropped?); its series leave /metrics');
        for (const listener of this.removedListeners) listener(datname);
      }
    } catch (err) {
      // Keep the previous list; the collectors' own runs report the failure.
      this.log.debug({ err }, 'database discovery failed');
    }
  }
}
