import type { Logger } from 'pino';
import type { Collector, CollectorDefinition, CollectContext } from './collectors/types.js';
import type { Config } from './config.js';
import { ConnectionTimeoutError, type Database } from './db.js';
import { classifyError, errorSummary } from './errors.js';
import { assertValidFamily, type Family } from './exposition/families.js';
import type { ExpositionFormat } from './exposition/format.js';
import { render, renderSliced, type RenderResult } from './exposition/render.js';
import { combined, deflateSegment, finalSegment, gzipJoin, type Segment } from './exposition/gzip-segments.js';
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
  /** Snapshot key whose duplicate series were counted already (each format merges on its own). */
  duplicatesCountedKey?: string;
  /** Set while a new snapshot is rendered in the background; scrapes meanwhile get the previous one. */
  rendering?: Promise<void> | undefined;
}

/**
 * One collector's snapshot as exposition bytes, rendered once per swap, not once per scrape.
 * Prometheus scrapes with gzip, which needs only the deflate segment: the plain bytes (5 MB at
 * 2000 tables) are kept only while someone scrapes this format uncompressed.
 */
interface RenderedPart {
  readonly key: string;
  readonly series: number;
  readonly length: number;
  body?: Buffer[] | undefined;
  segment?: Promise<Segment>;
}

/** How long plain bytes are kept after the last uncompressed scrape of a format. */
const PLAIN_KEEP_MS = 5 * 60_000;

/**
 * Scrapes within this long of each other share one rendering of pgvigil's own metrics, unless the
 * poller changed them meanwhile. Rendering them (prom-client reads /proc, heap statistics, ...)
 * was most of a scrape's work and garbage: under 10 concurrent scrapers it grew the heap by 60 MB.
 */
const SELF_METRICS_REUSE_MS = 1000;

interface SelfMetricsTail {
  readonly at: number;
  readonly generation: number;
  readonly bytes: Buffer;
  segment?: Segment;
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
  /** When each format was last scraped uncompressed (its plain bytes are kept while that is recent). */
  private readonly plainWantedAt = new Map<ExpositionFormat, number>();
  private readonly tails = new Map<ExpositionFormat, SelfMetricsTail>();
  /** The last body per format and encoding, served again while nothing changed (renderBody). */
  private readonly bodies = new Map<string, { generation: number; until: number; chunks: Buffer[] }>();
  private readonly crcs = new Map<ExpositionFormat, { segments: Segment[]; value: { crc: number; length: number } }>();
  /** Bumped whenever the poller changes its own metrics, so a reused rendering is never behind a poll. */
  private generation = 0;
  private readonly idleListeners: (() => void)[] = [];

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
      this.touched();
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
        this.touched();
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
      this.touched();
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
      this.touched();
      if (this.states.every((s) => !s.running)) for (const listener of this.idleListeners) listener();
    }
  }

  /** Calls `listener` whenever the last running collector has finished (its snapshot rendered too). */
  onIdle(listener: () => void): void {
    this.idleListeners.push(listener);
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
    return Buffer.concat(await this.renderBody(format, false)).toString('utf8');
  }

  /**
   * The /metrics body as chunks of bytes to send in order, gzip-compressed when asked. Each
   * collector's snapshot is compressed once per swap and a scrape compresses at most pgvigil's own
   * metrics (see gzip-segments.ts); the chunks are the cached buffers themselves, not copies.
   * Bytes, not strings: concatenating cached strings builds a rope that V8 flattens again on every
   * scrape, which cost more than all the rest of a scrape.
   */
  async renderBody(format: ExpositionFormat, compressed: boolean): Promise<Buffer[]> {
    const now = Date.now();
    if (!compressed) this.plainWantedAt.set(format, now);
    // Until something changes, every scrape gets the same chunks: a burst of scrapes then makes
    // next to no garbage (it made enough to grow the heap by tens of MB under wrk).
    const memoKey = `${format}${compressed ? '+gzip' : ''}`;
    const memo = this.bodies.get(memoKey);
    if (memo !== undefined && memo.generation === this.generation && now < memo.until) return memo.chunks;
    const generation = this.generation;
    const parts = this.renderedParts(format, !compressed);
    const tail = await this.selfMetricsTail(format, now);
    let chunks: Buffer[];
    if (!compressed) chunks = [...parts.flatMap((p) => p.body!), tail.bytes];
    else {
      const segments = await Promise.all(parts.map((p) => this.segmentOf(p, format)));
      tail.segment ??= finalSegment(tail.bytes);
      chunks = gzipJoin(segments, tail.segment, this.combinedCrc(format, segments));
    }
    this.bodies.set(memoKey, { generation, until: Math.min(tail.at + SELF_METRICS_REUSE_MS, this.nextStaleAt(now)), chunks });
    return chunks;
  }

  /** When the next fresh snapshot part turns stale (and leaves /metrics). */
  private nextStaleAt(now: number): number {
    let at = Infinity;
    for (const state of this.states) {
      for (const part of state.parts.values()) {
        const staleAt = part.at + state.staleMs;
        if (staleAt >= now && staleAt < at) at = staleAt;
      }
    }
    return at;
  }

  /** The segments' combined CRC, recomputed only when one of them changed since the last scrape. */
  private combinedCrc(format: ExpositionFormat, segments: Segment[]): { crc: number; length: number } {
    const last = this.crcs.get(format);
    if (last !== undefined && last.segments.length === segments.length && last.segments.every((s, i) => s === segments[i])) return last.value;
    const value = combined(segments);
    this.crcs.set(format, { segments, value });
    return value;
  }

  /** pgvigil's own metrics, the end of every body: rendered at most once per SELF_METRICS_REUSE_MS. */
  private async selfMetricsTail(format: ExpositionFormat, now: number): Promise<SelfMetricsTail> {
    const cached = this.tails.get(format);
    if (cached !== undefined && cached.generation === this.generation && now - cached.at < SELF_METRICS_REUSE_MS) return cached;
    const generation = this.generation;
    const { chunks } = render([await this.metrics.families()], format);
    if (format === 'openmetrics') chunks.push(Buffer.from('# EOF\n'));
    const tail: SelfMetricsTail = { at: now, generation, bytes: Buffer.concat(chunks) };
    this.tails.set(format, tail);
    return tail;
  }

  /** The poller's own metrics changed: the next scrape renders them anew. */
  private touched(): void {
    this.generation++;
  }

  /** The part's deflate segment, made once; the plain bytes go once it exists unless still wanted. */
  private segmentOf(part: RenderedPart, format: ExpositionFormat): Promise<Segment> {
    part.segment ??= deflateSegment(part.body!).then((segment) => {
      if (Date.now() - (this.plainWantedAt.get(format) ?? -Infinity) > PLAIN_KEEP_MS) part.body = undefined;
      return segment;
    });
    return part.segment;
  }

  private renderedParts(format: ExpositionFormat, plain: boolean): RenderedPart[] {
    const now = Date.now();
    const out: RenderedPart[] = [];
    for (const state of this.states) {
      const { key, fresh } = this.freshParts(state, now);
      let cached = state.cache.get(format);
      // While the background render of a new snapshot runs, the previous one is still served.
      const outdated = cached === undefined || (cached.key !== key && state.rendering === undefined);
      const plainDropped = plain && cached !== undefined && cached.body === undefined && cached.length > 0;
      if (outdated || plainDropped) {
        const rendered = this.counted(state, key, render(snapshotOf(fresh), format));
        // The same snapshot rendered again for its plain bytes keeps its segment.
        const segment = cached?.key === key ? cached.segment : undefined;
        cached = { ...renderedPart(key, rendered), ...(segment === undefined ? {} : { segment }) };
        state.cache.set(format, cached);
        this.metrics.collectorSeries.set({ collector: state.def.name }, rendered.series);
      }
      if (cached!.length > 0) out.push(cached!);
    }
    return out;
  }

  private freshParts(state: CollectorState, now: number) {
    const fresh = [...state.parts.entries()].filter(([, p]) => now - p.at <= state.staleMs);
    return { key: fresh.map(([k, p]) => `${k}@${p.at}`).join('|'), fresh };
  }

  /**
   * Counts the series a rendering dropped as duplicates. Each format renders on its own, and plain
   * bytes may be rendered again: they count once per snapshot key.
   */
  private counted(state: CollectorState, key: string, rendered: RenderResult): RenderResult {
    if (rendered.duplicates > 0 && state.duplicatesCountedKey !== key) this.metrics.duplicatesDropped.inc(rendered.duplicates);
    state.duplicatesCountedKey = key;
    return rendered;
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
      for (const format of formats) {
        const gzipped = state.cache.get(format)?.segment !== undefined;
        const rendered = this.counted(state, key, await renderSliced(snapshotOf(fresh), format));
        const part = renderedPart(key, rendered);
        // Compressed now, off the scrape path, when scrapers of this format use gzip.
        if (gzipped) await this.segmentOf(part, format);
        state.cache.set(format, part);
        this.touched();
        this.metrics.collectorSeries.set({ collector: state.def.name }, rendered.series);
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

function snapshotOf(fresh: [string, Part][]): (readonly Family[])[] {
  return fresh.map(([, p]) => p.families);
}

function renderedPart(key: string, rendered: RenderResult): RenderedPart {
  return { key, body: rendered.chunks, series: rendered.series, length: rendered.length };
}
