import type { Logger } from 'pino';
import { type Clock, systemClock } from './clock.js';
import type { CollectContext, Collector, CollectorDefinition } from './collectors/types.js';
import { type Config, stalenessMs } from './config.js';
import { DatabaseDiscovery } from './database-discovery.js';
import type { ContactListener, Lease } from './db.js';
import {
  CollectorRunError,
  ConnectionTimeoutError,
  classifyError,
  failureIdentity,
  isDatabaseMissing,
  mayMeanDatabaseGone,
  withDeadline,
} from './errors.js';
import { assertValidFamily, type Family } from './exposition/families.js';
import type { SelfMetrics } from './self-metrics.js';
import type { SnapshotStore } from './snapshot-store.js';

// The scheduler: runs every collector on its own fixed-rate schedule, at most one run per
// collector at a time, each within the collector timeout, and writes what a run returns into the
// snapshot store. /metrics only ever reads those snapshots, so a slow or locked database can
// never make a scrape slow, and scrapes never add load: an exporter that queries at scrape time
// times out exactly when the database is in trouble, and two Prometheus servers double its load.
// A run that finds the previous one still going is skipped and counted: queries queued behind an
// ALTER TABLE's lock must not pile up one connection per interval.

/** What the poller needs of the connection pool (db.ts). */
export interface PollerDatabase {
  readonly defaultDatabase: string;
  readonly size: number;
  readonly maxSize: number;
  withConnection<T>(datname: string, timeoutMs: number, fn: (lease: Lease) => Promise<T>): Promise<T>;
  onContact(listener: ContactListener): void;
}

export interface PollerDeps {
  readonly config: Config;
  readonly db: PollerDatabase;
  readonly metrics: SelfMetrics;
  readonly log: Logger;
  readonly definitions: readonly CollectorDefinition[];
  readonly snapshots: SnapshotStore;
  readonly clock?: Clock;
}

interface CollectorState {
  readonly def: CollectorDefinition;
  readonly collector: Collector;
  readonly intervalMs: number;
  running?: Promise<void> | undefined;
  timer?: unknown;
  nextRunAt: number;
  notApplicableReason?: string | undefined;
  failureKey?: string | undefined;
  failureLoggedAt: number;
}

/** A failure that repeats is logged again at warn level at most this often (debug in between). */
const REPEAT_FAILURE_LOG_MS = 5 * 60_000;

/** How long stop() lets runs in flight finish. */
const STOP_GRACE_MS = 2000;

export class Poller {
  private readonly states: CollectorState[] = [];
  private readonly config: Config;
  private readonly db: PollerDatabase;
  private readonly metrics: SelfMetrics;
  private readonly log: Logger;
  private readonly snapshots: SnapshotStore;
  private readonly clock: Clock;
  private readonly discovery: DatabaseDiscovery;
  private readonly timeoutMs: number;
  private lastSuccessfulContact = 0;
  private heartbeatTimer?: unknown;
  private heartbeatRunning = false;
  private stopped = true;
  private readonly idleListeners: (() => void)[] = [];

  constructor({ config, db, metrics, log, definitions, snapshots, clock = systemClock }: PollerDeps) {
    this.config = config;
    this.db = db;
    this.metrics = metrics;
    this.log = log;
    this.snapshots = snapshots;
    this.clock = clock;
    this.timeoutMs = config.PGVIGIL_COLLECTOR_TIMEOUT_SECONDS * 1000;
    this.discovery = new DatabaseDiscovery(
      db,
      {
        maxAgeMs: config.PGVIGIL_DATABASE_DISCOVERY_INTERVAL_SECONDS * 1000,
        timeoutMs: this.timeoutMs,
        include: config.includeDatabases,
        exclude: config.excludeDatabases,
      },
      log,
      clock,
    );
    for (const def of definitions) this.enable(def);
    this.discovery.onRemoved((datname) => {
      this.dropDatabase(datname).catch((err: unknown) => log.warn({ err, datname }, 'dropping a database failed'));
    });
    metrics.poolMax.set(db.maxSize);
    metrics.up.set(0);
    db.onContact((ok) => {
      metrics.changed();
      metrics.up.set(ok ? 1 : 0);
      if (ok) {
        this.lastSuccessfulContact = this.clock.now();
        metrics.lastContact.set(this.lastSuccessfulContact / 1000);
      }
    });
  }

  private enable(def: CollectorDefinition): void {
    const { config, metrics, log } = this;
    if (!config.enabledCollectors.has(def.name)) {
      metrics.collectorEnabled.set({ collector: def.name }, 0);
      return;
    }
    const unconfigured = def.unconfigured?.(config);
    if (unconfigured !== undefined) {
      log.info({ collector: def.name, reason: unconfigured }, 'collector not configured');
      metrics.collectorEnabled.set({ collector: def.name }, 0);
      return;
    }
    const intervalSeconds = config.intervals.get(def.name) ?? def.defaultIntervalSeconds;
    const intervalMs = intervalSeconds * 1000;
    this.snapshots.register(def.name, stalenessMs(config, intervalSeconds));
    const collector = def.create(config, log.child({ collector: def.name }));
    this.states.push({ def, collector, intervalMs, nextRunAt: 0, failureLoggedAt: 0 });
    metrics.collectorEnabled.set({ collector: def.name }, 1);
  }

  /** The enabled collectors' instances by name, for wiring routes that serve a collector's richer state. */
  collectors(): ReadonlyMap<string, Collector> {
    return new Map(this.states.map((s) => [s.def.name, s.collector]));
  }

  start(): void {
    this.stopped = false;
    const now = this.clock.now();
    for (const state of this.states) {
      state.nextRunAt = now;
      this.schedule(state, 0);
    }
    const heartbeatMs = this.config.PGVIGIL_HEARTBEAT_INTERVAL_SECONDS * 1000;
    this.heartbeatTimer = this.clock.setInterval(() => void this.heartbeat(heartbeatMs), heartbeatMs);
    void this.heartbeat(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.clock.clearInterval(this.heartbeatTimer);
    for (const state of this.states) this.clock.clearTimeout(state.timer);
    // Let runs in flight finish (their connections are closed by Database.close()).
    const inFlight = Promise.all(this.states.map((s) => s.running));
    const gaveUp = () => new Error('runs still in flight');
    await withDeadline(inFlight, STOP_GRACE_MS, gaveUp, this.clock).catch(() => undefined);
    await Promise.all(this.states.map((s) => s.collector.close?.()));
  }

  /** True while PostgreSQL answered within the staleness limit (the /readyz contract). */
  isReady(now = this.clock.now()): boolean {
    return now - this.lastSuccessfulContact <= this.config.PGVIGIL_STALENESS_SECONDS * 1000;
  }

  /** Runs every collector once, in order, and waits for all; used by tests and the first scrape in the demo. */
  async pollAll(): Promise<void> {
    await this.refreshDatabases(true);
    for (const state of this.states) await this.run(state);
  }

  /** Runs one collector now (tests use it to avoid waiting for the schedule). */
  async pollCollector(name: string): Promise<void> {
    const state = this.states.find((s) => s.def.name === name);
    if (state === undefined) throw new Error(`unknown or disabled collector ${name}`);
    await this.refreshDatabases(false);
    await this.run(state);
  }

  /** Calls `listener` whenever the last running collector has finished (its snapshot rendered too). */
  onIdle(listener: () => void): void {
    this.idleListeners.push(listener);
  }

  private schedule(state: CollectorState, delayMs: number): void {
    if (this.stopped) return;
    state.timer = this.clock.setTimeout(() => {
      // Fixed rate: the next run is due one interval after this one was due, whatever this one takes.
      state.nextRunAt += state.intervalMs;
      const now = this.clock.now();
      if (state.nextRunAt < now) state.nextRunAt = now + state.intervalMs; // fell far behind (suspend, overload)
      this.schedule(state, state.nextRunAt - now);
      if (state.running !== undefined) {
        this.metrics.collectorSkipped.inc({ collector: state.def.name });
        this.metrics.changed();
        return;
      }
      void this.refreshDatabases(false).then(() => this.run(state));
    }, delayMs);
  }

  private async heartbeat(quietMs: number): Promise<void> {
    if (this.heartbeatRunning || this.stopped) return;
    if (this.clock.now() - this.lastSuccessfulContact < quietMs) return;
    this.heartbeatRunning = true;
    try {
      await this.db.withConnection(this.db.defaultDatabase, this.timeoutMs, (lease) => lease.client.query('SELECT 1'));
    } catch (err) {
      this.log.debug({ err }, 'heartbeat failed');
    } finally {
      this.heartbeatRunning = false;
      this.metrics.poolConnections.set(this.db.size);
      this.metrics.changed();
    }
  }

  private async refreshDatabases(force: boolean): Promise<void> {
    if (this.states.some((s) => s.def.scope === 'database')) await this.discovery.refresh(force);
  }

  /** One run of a collector; a run already going is joined, not repeated (single flight). */
  private run(state: CollectorState): Promise<void> {
    state.running ??= this.runOnce(state).finally(() => {
      state.running = undefined;
      if (this.states.every((s) => s.running === undefined)) for (const listener of this.idleListeners) listener();
    });
    return state.running;
  }

  private async runOnce(state: CollectorState): Promise<void> {
    const name = state.def.name;
    const end = this.metrics.collectorDuration.startTimer({ collector: name });
    const targets =
      state.def.needsPostgres === false
        ? ['']
        : state.def.scope === 'cluster'
          ? [this.db.defaultDatabase]
          : this.discovery.list();
    let failures = 0;
    let lastError: unknown;
    try {
      for (const datname of targets) {
        try {
          const families = await this.collectOne(state, datname);
          const at = this.clock.now();
          if (families !== undefined) this.snapshots.put(name, snapshotKey(state, datname), { families, at });
        } catch (caught) {
          if (await this.droppedMeanwhile(state, datname, caught)) continue;
          const err = new CollectorRunError(name, datname, caught);
          failures++;
          lastError = err;
          this.metrics.collectorErrors.inc({ collector: name, reason: classifyError(err) });
        }
      }
      // The list as it is now: a database found gone during this run is out of it already.
      if (state.def.scope === 'database') this.snapshots.retain(name, this.discovery.list());
      // Awaited, so a poll that has resolved is also what the next scrape serves.
      await this.snapshots.publish(name);
      const succeeded = failures === 0 && targets.length > 0;
      this.metrics.collectorSuccess.set({ collector: name }, succeeded ? 1 : 0);
      if (succeeded) {
        this.metrics.collectorLastSuccess.set({ collector: name }, this.clock.now() / 1000);
        if (state.failureKey !== undefined) this.log.info({ collector: name }, 'collector recovered');
        state.failureKey = undefined;
      } else if (lastError !== undefined) {
        this.logFailure(state, lastError, failures, targets.length);
      }
    } finally {
      end();
      this.metrics.poolConnections.set(this.db.size);
      this.metrics.changed();
    }
  }

  /**
   * Whether a run's failure on a discovered database is only that the database was dropped since it
   * was listed (the tenant databases of a database-per-tenant platform come and go): then it is not
   * the collector's failure. Lists the databases at once rather than at the next discovery interval,
   * so the other collectors skip it too; the list decides, so a server that cannot be reached (the
   * list cannot be read) still counts as a failure.
   */
  private async droppedMeanwhile(state: CollectorState, datname: string, err: unknown): Promise<boolean> {
    if (state.def.scope !== 'database' || datname === this.db.defaultDatabase || !mayMeanDatabaseGone(err)) {
      return false;
    }
    if (!isDatabaseMissing(err)) {
      // The session was cut. DROP DATABASE ... WITH (FORCE) terminates the sessions first and removes
      // the database when it commits; a new connection waits for that commit (the drop holds the
      // database's lock), so one attempt tells whether the database is going away.
      await this.db.withConnection(datname, this.timeoutMs, async () => undefined).catch(() => undefined);
    }
    await this.discovery.refresh(true);
    if (this.discovery.list().includes(datname)) return false;
    this.log.debug({ collector: state.def.name, datname, err }, 'database dropped during the run');
    return true;
  }

  /** A database left the list: every per-database collector's series of it leave /metrics now. */
  private async dropDatabase(datname: string): Promise<void> {
    for (const state of this.states) {
      if (state.def.scope !== 'database') continue;
      this.snapshots.delete(state.def.name, datname);
      await this.snapshots.publish(state.def.name);
    }
  }

  /** Returns the families for one database, or undefined when the collector does not apply here. */
  private async collectOne(state: CollectorState, datname: string): Promise<Family[] | undefined> {
    if (state.def.needsPostgres === false) return this.collectOffServer(state);
    return this.db.withConnection(datname, this.timeoutMs, async (lease) => {
      const reason = state.def.notApplicable?.(lease.facts);
      if (reason !== state.notApplicableReason) {
        // Logged once per change, not every poll.
        const fields = { collector: state.def.name, datname, reason };
        if (reason !== undefined) this.log.info(fields, 'collector not applicable');
        state.notApplicableReason = reason;
        this.metrics.collectorEnabled.set({ collector: state.def.name }, reason === undefined ? 1 : 0);
      }
      if (reason !== undefined) {
        this.snapshots.delete(state.def.name, snapshotKey(state, datname));
        return undefined;
      }
      const ctx: CollectContext = {
        query: async (sql, params) => {
          const started = performance.now();
          try {
            return (await lease.client.query(sql, params)).rows;
          } finally {
            this.metrics.collectorDbSeconds.inc({ collector: state.def.name }, (performance.now() - started) / 1000);
          }
        },
        facts: lease.facts,
        datname,
        log: this.log,
        now: this.clock.now(),
      };
      return validated(await state.collector.collect(ctx));
    });
  }

  /** A collector of another source: no PostgreSQL connection, so it keeps working while PostgreSQL is down. */
  private async collectOffServer(state: CollectorState): Promise<Family[]> {
    const name = state.def.name;
    const ctx: CollectContext = {
      query: () => Promise.reject(new Error(`collector ${name} declared needsPostgres: false and cannot query`)),
      get facts(): never {
        throw new Error(`collector ${name} declared needsPostgres: false and has no server facts`);
      },
      datname: '',
      log: this.log,
      now: this.clock.now(),
    };
    const timeoutMs = this.timeoutMs;
    const families = await withDeadline(
      state.collector.collect(ctx),
      timeoutMs,
      () => new ConnectionTimeoutError(`collector ${name} gave up after ${timeoutMs} ms`),
      this.clock,
    );
    return validated(families);
  }

  private logFailure(state: CollectorState, err: unknown, failures: number, targets: number): void {
    const key = failureIdentity(err);
    const now = this.clock.now();
    const fields = { collector: state.def.name, reason: classifyError(err), failures, databases: targets, err };
    if (key !== state.failureKey || now - state.failureLoggedAt > REPEAT_FAILURE_LOG_MS) {
      this.log.warn(fields, 'collector failed');
      state.failureKey = key;
      state.failureLoggedAt = now;
    } else {
      this.log.debug(fields, 'collector failed again');
    }
  }
}

/** Where a collector's families for `datname` live in the store: cluster-scope collectors have one part. */
function snapshotKey(state: CollectorState, datname: string): string {
  return state.def.scope === 'cluster' ? '' : datname;
}

function validated(families: Family[]): Family[] {
  for (const f of families) assertValidFamily(f);
  return families;
}
