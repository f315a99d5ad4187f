import type { Logger } from 'pino';
import type { Collector, CollectorDefinition, CollectContext } from './collectors/types.js';
import type { Config } from './config.js';
import { ConnectionTimeoutError, type Database } from './db.js';
import { classifyError, errorSummary } from './errors.js';
import {
  assertValidFamily,
  mergeFamilies,
  renderFamilies,
  renderFamiliesSliced,
  type ExpositionFormat,
  type Family,
} from './exposition.js';
import { deflateSegment, gzipJoin } from './gzip-segments.js';
import type { SelfMetrics } from './self-metrics.js';

// Polls every collector on its own fixed-rate schedule and keeps the last good series set of
// each (collector, database). /metrics only ever reads these snapshots, so a slow or locked
// database can never make a scrape slow, and scrapes never add load (FIELD-NOTES #6, #7).

interface Part {
  readonly families: readonly Family[];
  readonly at: number;
}

interface CollectorState {
  readonly def: CollectorDefinition;
  readonly collector: Collector;
  readonly intervalMs: number;
  readonly staleMs: number;
  /** Snapshot per database ('' for cluster-scope collectors), replaced whole on each success. */
  readonly parts: Map<string, Part>;
  running: boolean;
  timer?: NodeJS.Timeout;
  nextRunAt: number;
  notApplicableReason?: string | undefined;
  failureKey?: string | undefined;
  failureLoggedAt: number;
  cache: Map<ExpositionFormat, RenderedPart>;
  /** Set while a new snapshot is rendered in the background; scrapes meanwhile get the previous one. */
  rendering?: Promise<void> | undefined;
}

/** One collector's snapshot as exposition bytes, rendered once per swap, not once per scrape. */
interface RenderedPart {
  readonly key: string;
  readonly body: Buffer;
  readonly series: number;
  /** The same bytes as a deflate segment, made by the first compressed scrape after a swap. */
  segment?: Promise<Buffer>;
}

const REPEAT_FAILURE_LOG_MS = 5 * 60_000;

export class Poller {
  private readonly states: CollectorState[] = [];
  private databases: string[] = [];
  private databasesAt = 0;
  private lastSuccessfulContact = 0;
  private heartbeatTimer?: NodeJS.Timeout;
  private heartbeatRunning = false;
  private stopped = true;

  constructor(
    private readonly config: Config,
    private readonly db: Database,
    private readonly metrics: SelfMetrics,
    private readonly log: Logger,
    definitions: readonly CollectorDefinition[],
  ) {
    for (const def of definitions) {
      if (!config.enabledCollectors.has(def.name)) {
        metrics.collectorEnabled.set({ collector: def.name }, 0);
        continue;
      }
      const unconfigured = def.unconfigured?.(config);
      if (unconfigured !== undefined) {
        log.info({ collector: def.name, reason: unconfigured }, 'collector not configured');
        metrics.collectorEnabled.set({ collector: def.name }, 0);
        continue;
      }
      const intervalMs = (config.intervals.get(def.name) ?? def.defaultIntervalSeconds) * 1000;
      this.states.push({
        def,
        collector: def.create(config, log.child({ collector: def.name })),
        intervalMs,
        staleMs: Math.max(config.PGVIGIL_STALENESS_SECONDS * 1000, 2 * intervalMs),
        parts: new Map(),
        running: false,
        nextRunAt: 0,
        failureLoggedAt: 0,
        cache: new Map(),
      });
      metrics.collectorEnabled.set({ collector: def.name }, 1);
    }
    metrics.poolMax.set(db.maxSize);
    metrics.up.set(0);
    db.onContact((ok) => {
      metrics.up.set(ok ? 1 : 0);
      if (ok) {
        this.lastSuccessfulContact = Date.now();
        metrics.lastContact.set(this.lastSuccessfulContact / 1000);
      }
    });
  }

  /** The collector instance by name, for routes that serve a collector's richer state (e.g. /api/statements). */
  collector<T extends Collector = Collector>(name: string): T | undefined {
    return this.states.find((s) => s.def.name === name)?.collector as T | undefined;
  }

  /** Which collector owns which family names right now (the golden test and the metric reference use it). */
  familyOwners(): Map<string, string> {
    const owners = new Map<string, string>();
    for (const state of this.states) {
      for (const part of state.parts.values()) for (const f of part.families) owners.set(f.name, state.def.name);
    }
    return owners;
  }

  start(): void {
    this.stopped = false;
    const now = Date.now();
    for (const state of this.states) {
      state.nextRunAt = now;
      this.schedule(state, 0);
    }
    const hbMs = this.config.PGVIGIL_HEARTBEAT_INTERVAL_SECONDS * 1000;
    this.heartbeatTimer = setInterval(() => void this.heartbeat(hbMs), hbMs);
    void this.heartbeat(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.heartbeatTimer);
    for (const state of this.states) clearTimeout(state.timer);
    // Let runs in flight finish (their connections are closed by Database.close()).
    const deadline = Date.now() + 2000;
    while (this.states.some((s) => s.running) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await Promise.all(this.states.map((s) => s.collector.close?.()));
  }

  /** True while PostgreSQL answered within the staleness limit (the /readyz contract). */
  isReady(now = Date.now()): boolean {
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

  private schedule(state: CollectorState, delayMs: number): void {
    if (this.stopped) return;
    state.timer = setTimeout(() => {
      // Fixed rate: the next run is due one interval after this one was due, whatever this one takes.
      state.nextRunAt += state.intervalMs;
      const now = Date.now();
      if (state.nextRunAt < now) state.nextRunAt = now + state.intervalMs; // fell far behind (suspend, overload)
      this.schedule(state, state.nextRunAt - now);
      if (state.running) {
        this.metrics.collectorSkipped.inc({ collector: state.def.name });
        return;
      }
      void this.refreshDatabases(false).then(() => this.run(state));
    }, delayMs);
  }

  private async heartbeat(quietMs: number): Promise<void> {
    if (this.heartbeatRunning || this.stopped) return;
    if (Date.now() - this.lastSuccessfulContact < quietMs) return;
    this.heartbeatRunning = true;
    try {
      await this.db.withConnection(this.db.defaultDatabase, this.config.PGVIGIL_COLLECTOR_TIMEOUT_SECONDS * 1000, (l) =>
        l.client.query('SELECT 1'),
      );
    } catch (err) {
      this.log.debug({ err: errorSummary(err) }, 'heartbeat failed');
    } finally {
      this.heartbeatRunning = false;
      this.metrics.poolConnections.set(this.db.size);
    }
  }

  private async refreshDatabases(force: boolean): Promise<void> {
    const maxAge = this.config.PGVIGIL_DATABASE_DISCOVERY_INTERVAL_SECONDS * 1000;
    if (!force && this.databases.length > 0 && Date.now() - this.databasesAt < maxAge) return;
    if (!this.states.some((s) => s.def.scope === 'database')) return;
    try {
      const rows = await this.db.withConnection(
        this.db.defaultDatabase,
        this.config.PGVIGIL_COLLECTOR_TIMEOUT_SECONDS * 1000,
        async (l) =>
          (
            await l.client.query<{ datname: string }>(
              `SELECT datname FROM pg_database
               WHERE datallowconn AND NOT datistemplate AND has_database_privilege(datname, 'CONNECT')
               ORDER BY datname`,
            )
          ).rows,
      );
      const { includeDatabases: include, excludeDatabases: exclude } = this.config;
      this.databases = rows
        .map((r) => r.datname)
        .filter((d) => (include === undefined || include.test(d)) && (exclude === undefined || !exclude.test(d)));
      this.databasesAt = Date.now();
    } catch (err) {
      // Keep the previous list; the collectors' own runs report the failure.
      this.log.debug({ err: errorSummary(err) }, 'database discovery failed');
    }
  }

  private async run(state: CollectorState): Promise<void> {
    if (state.running) return;
    state.running = true;
    const name = state.def.name;
    const end = this.metrics.collectorDuration.startTimer({ collector: name });
    const targets =
      state.def.needsPostgres === false ? [''] : state.def.scope === 'cluster' ? [this.db.defaultDatabase] : this.databases;
    let failures = 0;
    let lastError: unknown;
    try {
      for (const datname of targets) {
        try {
          const families = await this.collectOne(state, datname);
          if (families !== undefined) {
            state.parts.set(state.def.scope === 'cluster' ? '' : datname, { families, at: Date.now() });
          }
        } catch (err) {
          failures++;
          lastError = err;
          this.metrics.collectorErrors.inc({ collector: name, reason: classifyError(err) });
        }
      }
      if (state.def.scope === 'database') {
        for (const key of state.parts.keys()) if (!this.databases.includes(key)) state.parts.delete(key);
      }
      // Awaited, so a poll that has resolved is also what the next scrape serves.
      await this.rerender(state);
      this.metrics.collectorSuccess.set({ collector: name }, failures === 0 && targets.length > 0 ? 1 : 0);
      if (failures === 0 && targets.length > 0) {
        this.metrics.collectorLastSuccess.set({ collector: name }, Date.now() / 1000);
        if (state.failureKey !== undefined) this.log.info({ collector: name }, 'collector recovered');
        state.failureKey = undefined;
      } else if (lastError !== undefined) {
        this.logFailure(state, lastError, failures, targets.length);
      }
    } finally {
      end();
      state.running = false;
      this.metrics.poolConnections.set(this.db.size);
    }
  }

  /** Returns the families for one database, or undefined when the collector does not apply here. */
  private async collectOne(state: CollectorState, datname: string): Promise<Family[] | undefined> {
    const timeoutMs = this.config.PGVIGIL_COLLECTOR_TIMEOUT_SECONDS * 1000;
    if (state.def.needsPostgres === false) return this.collectOffServer(state, timeoutMs);
    return this.db.withConnection(datname, timeoutMs, async (lease) => {
      const reason = state.def.notApplicable?.(lease.facts);
      if (reason !== state.notApplicableReason) {
        // Logged once per change, not every poll.
        if (reason !== undefined) this.log.info({ collector: state.def.name, datname, reason }, 'collector not applicable');
        state.notApplicableReason = reason;
        this.metrics.collectorEnabled.set({ collector: state.def.name }, reason === undefined ? 1 : 0);
      }
      if (reason !== undefined) {
        state.parts.delete(state.def.scope === 'cluster' ? '' : datname);
        return undefined;
      }
      const ctx: CollectContext = {
        query: async (sql, params) => (await lease.client.query(sql, params)).rows,
        facts: lease.facts,
        datname,
        log: this.log,
        now: Date.now(),
      };
      const families = await state.collector.collect(ctx);
      for (const f of families) assertValidFamily(f);
      return families;
    });
  }

  /** A collector of another source: no PostgreSQL connection, so it keeps working while PostgreSQL is down. */
  private async collectOffServer(state: CollectorState, timeoutMs: number): Promise<Family[]> {
    const name = state.def.name;
    const ctx: CollectContext = {
      query: () => Promise.reject(new Error(`collector ${name} declared needsPostgres: false and cannot query PostgreSQL`)),
      get facts(): never {
        throw new Error(`collector ${name} declared needsPostgres: false and has no server facts`);
      },
      datname: '',
      log: this.log,
      now: Date.now(),
    };
    let timer: NodeJS.Timeout | undefined;
    const work = state.collector.collect(ctx);
    work.catch(() => undefined); // settled late after a timeout: already reported
    try {
      const families = await Promise.race([
        work,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new ConnectionTimeoutError(`gave up after ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
      for (const f of families) assertValidFamily(f);
      return families;
    } finally {
      clearTimeout(timer);
    }
  }

  private logFailure(state: CollectorState, err: unknown, failures: number, targets: number): void {
    const reason = classifyError(err);
    const summary = errorSummary(err);
    const key = `${reason}:${summary.code ?? summary.message}`;
    const now = Date.now();
    const fields = { collector: state.def.name, reason, failures, databases: targets, err: summary };
    if (key !== state.failureKey || now - state.failureLoggedAt > REPEAT_FAILURE_LOG_MS) {
      this.log.warn(fields, 'collector failed');
      state.failureKey = key;
      state.failureLoggedAt = now;
    } else {
      this.log.debug(fields, 'collector failed again');
    }
  }

  /** The exposition text of every collector's fresh snapshot plus pgvigil's own metrics. */
  async render(format: ExpositionFormat): Promise<string> {
    return (await this.renderBody(format, false)).toString('utf8');
  }

  /**
   * The /metrics body as bytes, gzip-compressed when asked. Each collector's snapshot is compressed
   * once per swap and a scrape only compresses pgvigil's own metrics (see gzip-segments.ts).
   * Bytes, not strings: concatenating cached strings builds a rope that V8 flattens again on every
   * scrape, which cost more than all the rest of a scrape.
   */
  async renderBody(format: ExpositionFormat, compressed: boolean): Promise<Buffer> {
    const parts = this.renderedParts(format);
    let tail = renderFamilies(await this.metrics.families(), format);
    if (format === 'openmetrics') tail += '# EOF\n';
    const tailBytes = Buffer.from(tail, 'utf8');
    if (!compressed) return Buffer.concat([...parts.map((p) => p.body), tailBytes]);
    const segments = await Promise.all(parts.map((p) => (p.segment ??= deflateSegment(p.body))));
    return gzipJoin(
      parts.map((p, i) => ({ body: p.body, segment: segments[i]! })),
      tailBytes,
    );
  }

  private renderedParts(format: ExpositionFormat): RenderedPart[] {
    const now = Date.now();
    const out: RenderedPart[] = [];
    for (const state of this.states) {
      const { key, fresh } = this.freshParts(state, now);
      let cached = state.cache.get(format);
      // While the background render of a new snapshot runs, the previous one is still served.
      if (cached === undefined || (cached.key !== key && state.rendering === undefined)) {
        const merged = this.merge(fresh);
        cached = { key, body: Buffer.from(renderFamilies(merged.families, format), 'utf8'), series: merged.series };
        state.cache.set(format, cached);
      }
      this.metrics.collectorSeries.set({ collector: state.def.name }, cached.series);
      if (cached.body.length > 0) out.push(cached);
    }
    return out;
  }

  private freshParts(state: CollectorState, now: number) {
    const fresh = [...state.parts.entries()].filter(([, p]) => now - p.at <= state.staleMs);
    return { key: fresh.map(([k, p]) => `${k}@${p.at}`).join('|'), fresh };
  }

  private merge(fresh: [string, Part][]) {
    const merged = mergeFamilies(fresh.map(([, p]) => p.families));
    if (merged.duplicates > 0) this.metrics.duplicatesDropped.inc(merged.duplicates);
    return { families: merged.families, series: merged.families.reduce((n, f) => n + f.samples.length, 0) };
  }

  /**
   * Renders a collector's new snapshot right after the poll, in slices, for the formats scrapers
   * have asked for: rendering a large snapshot then never sits in a scrape's latency.
   */
  private rerender(state: CollectorState): Promise<void> {
    const formats = [...state.cache.keys()];
    if (formats.length === 0) return Promise.resolve(); // nobody scraped yet: the first scrape renders
    const job = (async () => {
      const { key, fresh } = this.freshParts(state, Date.now());
      const merged = this.merge(fresh);
      for (const format of formats) {
        const text = await renderFamiliesSliced(merged.families, format);
        state.cache.set(format, { key, body: Buffer.from(text, 'utf8'), series: merged.series });
      }
    })();
    const done: Promise<void> = job
      .catch((err: unknown) => {
        this.log.warn({ collector: state.def.name, err: errorSummary(err) }, 'rendering failed');
        state.cache.clear();
      })
      .finally(() => {
        if (state.rendering === done) state.rendering = undefined;
      });
    state.rendering = done;
    return done;
  }
}
