import client from 'prom-client';
import { bucketBounds } from './buckets.js';
import { loadQueryClasses, OTHER_CLASS, type QueryClass } from './classes.js';
import { FastHistogram } from './fast-histogram.js';
import { type Callback, PendingCalls } from './pending-calls.js';
import { type ClassSeries, type QueryableClient, QueryTiming } from './query-timing.js';
import { type QueryLogger, SlowQueryLog } from './slow-query-log.js';

// The application's side of PostgreSQL: what only the application sees. PostgreSQL sees
// connections and statements and PgBouncer sees waiting clients; only the application sees how
// long it waited for a connection, how often it gave up, and how long each of its queries took
// end to end. instrumentPool() wraps a node-postgres Pool's connect() (pool.query() goes through
// it, so both are timed once), times every query of every client it hands out by query class,
// and reads the pool's counters at scrape time.
//
//   import { instrumentPool } from 'pgvigil-pool';
//   instrumentPool(pool, { registry, name: 'main', classesFile: 'query-classes.yaml', logger });
//
// Several pools may share one registry (one series per `pool` label); the metrics are created on
// the first call for a registry and reused after.

/** The part of a node-postgres (pg-pool 3.x) Pool this module uses; any compatible pool fits. */
export interface InstrumentablePool {
  connect(...args: unknown[]): unknown;
  readonly totalCount: number;
  readonly idleCount: number;
  readonly waitingCount: number;
  readonly options: { readonly max?: number; readonly application_name?: string };
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'remove', listener: (client: QueryableClient) => void): unknown;
  removeListener(event: 'error', listener: (err: Error) => void): unknown;
  removeListener(event: 'remove', listener: (client: QueryableClient) => void): unknown;
  listenerCount(event: 'error'): number;
}

export interface InstrumentPoolOptions {
  /** Where the metrics are registered (never the global registry unless you pass it). */
  readonly registry: client.Registry;
  /** Value of the `pool` label (default "default"); unique per registry. */
  readonly name?: string;
  /**
   * Value of the `application_name` label when the pool's own options.application_name is unset
   * (default ''). The same name the server sees lets dashboards join app, PgBouncer and server.
   */
  readonly applicationName?: string;
  /**
   * Constant labels added to every series of this pool, e.g. { service: 'checkout' }. The same keys
   * for every pool of a registry.
   */
  readonly labels?: Readonly<Record<string, string>>;
  /** Query classes file (YAML or JSON, the exporter's format); read once, here. */
  readonly classesFile?: string;
  /** Query classes already parsed (parseQueryClasses / loadQueryClasses); instead of classesFile. */
  readonly classes?: readonly QueryClass[];
  /** Time every query by class (default true); false keeps only the pool metrics. */
  readonly timeQueries?: boolean;
  /**
   * Queries of class "other" slower than this are logged (default 0.1 s, as the exporter); a class's
   * own objective otherwise. Also a bucket bound.
   */
  readonly slowQueryThresholdSeconds?: number;
  /** At most one slow-query line per redacted text per this many seconds (default 60). */
  readonly slowQueryLogIntervalSeconds?: number;
  /** Where slow queries are logged (pino or anything with warn(object, message)); none: no slow-query log. */
  readonly logger?: QueryLogger;
  /** Distinct query texts whose class is remembered (default 1000). */
  readonly classCacheSize?: number;
}

export interface PoolInstrumentation {
  /** Restores the pool's connect() and its clients' query(), and stops reporting the pool. */
  stop(): void;
}

/** Acquire latency buckets (seconds): fine below 10 ms, where a healthy pool lives, up to 10 s timeouts. */
export const ACQUIRE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The exporter's default PGVIGIL_SLOW_QUERY_THRESHOLD_SECONDS, so both sides have the same buckets by default. */
export const DEFAULT_SLOW_QUERY_THRESHOLD_SECONDS = 0.1;

const DEFAULT_SLOW_LOG_INTERVAL_SECONDS = 60;
const DEFAULT_CLASS_CACHE_SIZE = 1000;
const ERROR_KINDS = ['error', 'timeout'] as const;

// pg-pool's two ways to give up: no client freed within connectionTimeoutMillis, or a new
// connection not established within it.
const TIMEOUT_MESSAGES = /timeout exceeded when trying to connect|Connection terminated due to connection timeout/;

interface Tracked {
  readonly pool: InstrumentablePool;
  readonly labels: Record<string, string>;
}

interface PoolMetrics {
  readonly labelNames: readonly string[];
  readonly bounds: readonly number[];
  readonly pools: Set<Tracked>;
  readonly acquire: FastHistogram;
  readonly timeouts: client.Counter<string>;
  readonly errors: client.Counter<string>;
  readonly queryDuration: FastHistogram;
  readonly queryErrors: client.Counter<string>;
}

const byRegistry = new WeakMap<client.Registry, PoolMetrics>();

function metricsFor(registry: client.Registry, labelNames: readonly string[], bounds: readonly number[]): PoolMetrics {
  const existing = byRegistry.get(registry);
  if (existing !== undefined) {
    if (existing.labelNames.join() !== labelNames.join()) {
      throw new Error(
        `instrumentPool: every pool of a registry needs the same label names (${existing.labelNames.join(', ')})`,
      );
    }
    if (existing.bounds.join() !== bounds.join()) {
      throw new Error(
        `instrumentPool: every pool of a registry needs the same query buckets (${existing.bounds.join(', ')}): ` +
          'give them the same classes and slowQueryThresholdSeconds',
      );
    }
    return existing;
  }
  const pools = new Set<Tracked>();
  const registers = [registry];
  const names = [...labelNames];
  const poolGauge = (
    name: string,
    help: string,
    labels: string[],
    read: (t: Tracked) => Array<[Record<string, string>, number]>,
  ) =>
    new client.Gauge({
      name,
      help,
      labelNames: labels,
      registers,
      // Read at scrape time from the pool itself: always current, nothing to keep in sync.
      collect() {
        this.reset();
        for (const t of pools) for (const [extra, value] of read(t)) this.set({ ...t.labels, ...extra }, value);
      },
    });
  poolGauge(
    'pgvigil_client_pool_connections',
    'Connections the node-postgres pool holds, by state: idle (free) or in_use (checked out or being opened).',
    [...names, 'state'],
    ({ pool }) => [
      [{ state: 'idle' }, pool.idleCount],
      [{ state: 'in_use' }, Math.max(0, pool.totalCount - pool.idleCount)],
    ],
  );
  poolGauge(
    'pgvigil_client_pool_waiting_requests',
    'Requests (connect() or query()) queued until the pool has a free connection; above 0 the pool is exhausted.',
    names,
    ({ pool }) => [[{}, pool.waitingCount]],
  );
  poolGauge(
    'pgvigil_client_pool_max_connections',
    'Configured maximum size of the node-postgres pool (options.max, default 10).',
    names,
    ({ pool }) => [[{}, pool.options.max ?? 10]],
  );
  const created: PoolMetrics = {
    labelNames,
    bounds,
    pools,
    // Observed on every checkout, so every query of pool.query(): a FastHistogram, like the
    // query durations, resolved once per pool.
    acquire: new FastHistogram(
      'pgvigil_client_pool_acquire_seconds',
      'Time to get a connection from the pool (connect() and query()), every attempt including timeouts and failures.',
      names,
      ACQUIRE_BUCKETS,
      registry,
    ),
    timeouts: new client.Counter({
      name: 'pgvigil_client_pool_acquire_timeouts_total',
      help: 'Attempts to get a connection that gave up after connectionTimeoutMillis.',
      labelNames: names,
      registers,
    }),
    errors: new client.Counter({
      name: 'pgvigil_client_pool_errors_total',
      help:
        'Pool errors by kind: connect (a new connection failed, ' +
        'timeouts excluded) or idle_client (an idle connection died).',
      labelNames: [...names, 'kind'],
      registers,
    }),
    queryDuration: new FastHistogram(
      'pgvigil_client_query_duration_seconds',
      'Duration of completed queries as the application saw them ' +
        '(call to result, connection wait excluded), by query class; ' +
        'failed queries are in pgvigil_client_query_errors_total.',
      [...names, 'class'],
      bounds,
      registry,
    ),
    queryErrors: new client.Counter({
      name: 'pgvigil_client_query_errors_total',
      help: 'Queries that failed, by query class and kind: timeout (statement, lock or client read timeout) or error.',
      labelNames: [...names, 'class', 'kind'],
      registers,
    }),
  };
  byRegistry.set(registry, created);
  return created;
}

/** Classes from the options: parsed ones, or the file read now (problems fail here, naming the option). */
function classesOf(options: InstrumentPoolOptions): readonly QueryClass[] {
  if (options.classes !== undefined && options.classesFile !== undefined) {
    throw new Error('instrumentPool: give classes or classesFile, not both');
  }
  if (options.classesFile === undefined) return options.classes ?? [];
  const { classes, problems } = loadQueryClasses(options.classesFile, 'classesFile');
  if (problems.length > 0) throw new Error(`instrumentPool: ${problems.join('; ')}`);
  return classes;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!(value > 0) || !Number.isFinite(value))
    throw new Error(`instrumentPool: ${name} must be a number > 0 (got ${value})`);
  return value;
}

export function instrumentPool(pool: InstrumentablePool, options: InstrumentPoolOptions): PoolInstrumentation {
  for (const reserved of ['class', 'kind', 'state', 'le']) {
    if (options.labels?.[reserved] !== undefined)
      throw new Error(`instrumentPool: labels: "${reserved}" is a label of its own`);
  }
  const applicationName =
    pool.options.application_name ?? options.applicationName ?? options.labels?.application_name ?? '';
  const labels = { ...options.labels, application_name: applicationName, pool: options.name ?? 'default' };
  const labelNames = Object.keys(labels).sort();
  const classes = classesOf(options);
  const slowSeconds = positive(
    'slowQueryThresholdSeconds',
    options.slowQueryThresholdSeconds,
    DEFAULT_SLOW_QUERY_THRESHOLD_SECONDS,
  );
  const logIntervalSeconds = positive(
    'slowQueryLogIntervalSeconds',
    options.slowQueryLogIntervalSeconds,
    DEFAULT_SLOW_LOG_INTERVAL_SECONDS,
  );
  const cacheSize = positive('classCacheSize', options.classCacheSize, DEFAULT_CLASS_CACHE_SIZE);
  // The exporter's bounds for the same classes and threshold: the two histograms line up bucket by bucket.
  const bounds = bucketBounds([...classes.map((c) => c.objectiveSeconds), slowSeconds]);
  const m = metricsFor(options.registry, labelNames, bounds);
  for (const t of m.pools) {
    if (t.pool === pool) throw new Error('instrumentPool: this pool is already instrumented in this registry');
    if (t.labels.pool === labels.pool)
      throw new Error(`instrumentPool: a pool named "${labels.pool}" is already instrumented`);
  }
  const tracked: Tracked = { pool, labels };
  m.pools.add(tracked);

  const classLabels = [
    ...classes.map((c) => ({ name: c.name, slow: c.objectiveSeconds })),
    { name: OTHER_CLASS, slow: slowSeconds },
  ].map(({ name, slow }) => ({ name, slow, labels: { ...labels, class: name } }));
  let timing: QueryTiming | undefined;
  if (options.timeQueries !== false) {
    const byClass = new Map<string, ClassSeries>();
    for (const c of classLabels) {
      byClass.set(c.name, {
        name: c.name,
        slowSeconds: c.slow,
        duration: m.queryDuration.recorder(c.labels),
        errors: m.queryErrors.labels({ ...c.labels, kind: 'error' }),
        timeouts: m.queryErrors.labels({ ...c.labels, kind: 'timeout' }),
      });
    }
    const slowLog =
      options.logger === undefined ? undefined : new SlowQueryLog(options.logger, logIntervalSeconds * 1000, labels);
    timing = new QueryTiming(classes, byClass, cacheSize, slowLog);
  }

  // Series exist from the start at 0, so increase() and `> 0` alerts see the first timeout.
  const acquire = m.acquire.recorder(labels);
  // A checkout's callback is a reused PendingCall's (pending-calls.ts): pool.query() checks out a
  // connection for every query, and a closure per checkout would be an allocation per query.
  const checkouts = new PendingCalls<Tracked>((_tracked, _text, started, err, c) => {
    acquire.observe((performance.now() - started) / 1000);
    if (err === undefined || err === null) {
      if (c !== undefined) timing?.wrap(c as QueryableClient);
      return;
    }
    if (err instanceof Error && TIMEOUT_MESSAGES.test(err.message)) m.timeouts.inc(labels);
    else m.errors.inc({ ...labels, kind: 'connect' });
  });
  const original = pool.connect;
  const connect = function (this: unknown, cb?: unknown): unknown {
    const call = checkouts.take();
    if (typeof cb === 'function') {
      return original.call(pool, call.forCallback(tracked, undefined, performance.now(), cb as Callback));
    }
    const promise = call.forPromise(tracked, undefined, performance.now());
    try {
      original.call(pool, call.done);
    } catch (err) {
      call.abandon(err);
    }
    return promise;
  };
  (pool as { connect: unknown }).connect = connect;

  m.timeouts.inc(labels, 0);
  for (const kind of ['connect', 'idle_client']) m.errors.inc({ ...labels, kind }, 0);
  if (timing !== undefined) {
    for (const c of classLabels) {
      for (const kind of ERROR_KINDS) m.queryErrors.inc({ ...c.labels, kind }, 0);
    }
  }

  const onError = (err: Error) => {
    m.errors.inc({ ...labels, kind: 'idle_client' });
    // Counting must not change the application's behaviour: with no handler of its own, an idle
    // client error still surfaces as node-postgres leaves it (an unhandled 'error' event).
    if (pool.listenerCount('error') === 1) throw err;
  };
  const onRemove = (c: QueryableClient) => timing?.unwrap(c);
  pool.on('error', onError);
  pool.on('remove', onRemove);
  return {
    stop() {
      if (pool.connect === connect) (pool as { connect: unknown }).connect = original;
      pool.removeListener('error', onError);
      pool.removeListener('remove', onRemove);
      timing?.unwrapAll();
      m.pools.delete(tracked);
      m.acquire.remove(labels);
      m.timeouts.remove(labels);
      for (const kind of ['connect', 'idle_client']) m.errors.remove({ ...labels, kind });
      for (const c of timing === undefined ? [] : classLabels) {
        m.queryDuration.remove(c.labels);
        for (const kind of ERROR_KINDS) m.queryErrors.remove({ ...c.labels, kind });
      }
    },
  };
}
