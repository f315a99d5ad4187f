import type { Logger } from 'pino';
import type { Config, SettingsSpec } from '../config.js';
import type { Family } from '../exposition/families.js';
import type { ServerFacts } from '../server-facts.js';

/** Run a read-only query on the connection the poller checked out for this collector. */
export type QueryFn = <Row extends object = Record<string, unknown>>(sql: string, params?: unknown[]) => Promise<Row[]>;

export interface CollectContext {
  readonly query: QueryFn;
  readonly facts: ServerFacts;
  /** The database this connection is on; per-database collectors label their series with it. */
  readonly datname: string;
  readonly log: Logger;
  /** Wall-clock milliseconds at the start of this poll (one value for the whole poll). */
  readonly now: number;
}

export interface Collector {
  /**
   * Collect the whole series set for one database (or the cluster). Throw on failure: the poller
   * classifies and counts it.
   */
  collect(ctx: CollectContext): Promise<Family[]>;
  /** Families a collector owns even when it has no samples, so HELP/TYPE and the golden list stay stable. */
  readonly families?: readonly string[];
  /** Releases what the collector holds outside the poller's pool (e.g. its own connection to PgBouncer). */
  close?(): Promise<void>;
}

export interface CollectorDefinition {
  /** Short name: config key (`PGVIGIL_<NAME>_INTERVAL_SECONDS`) and the `collector` label of self-metrics. */
  readonly name: string;
  readonly description: string;
  /** `cluster`: runs once, on the connection database. `database`: runs on every discovered database. */
  readonly scope: 'cluster' | 'database';
  readonly defaultIntervalSeconds: number;
  /** The collector's own variables; the configuration schema is composed from these (pgvigil-config.ts). */
  readonly settings?: SettingsSpec<unknown>;
  /** Every family name the collector can emit (defineCollector fills it from the definition). */
  readonly familyNames?: readonly string[];
  /**
   * Decided once per connection from server facts: undefined when the collector applies,
   * otherwise the reason it does not (logged once, exposed as pgvigil_collector_enabled 0).
   */
  notApplicable?(facts: ServerFacts): string | undefined;
  /**
   * Decided once at start from the configuration: undefined when the collector can run, otherwise
   * why not (e.g. no PgBouncer URL given). Logged once, exposed as pgvigil_collector_enabled 0.
   */
  unconfigured?(config: Config): string | undefined;
  /**
   * false for collectors that read another source (PgBouncer, the filesystem) and must keep working
   * while PostgreSQL is down: they run once per poll without a PostgreSQL connection, ctx.query
   * rejects and ctx.facts throws. Declare scope 'cluster' with it. Default true.
   */
  readonly needsPostgres?: boolean;
  /** Builds the collector; state that must survive polls (deltas, caches) lives in the returned object. */
  create(config: Config, log: Logger): Collector;
}
