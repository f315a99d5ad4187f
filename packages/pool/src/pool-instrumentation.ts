import client from 'prom-client';

// `pgvigil/pool`: the application's side of pool exhaustion. PostgreSQL sees connections and
// PgBouncer sees waiting clients; only the application sees how long it waited for a connection
// and how often it gave up. instrumentPool() wraps a node-postgres Pool's connect() — pool.query()
// goes through it, so both are timed once — and reads the pool's counters at scrape time.
//
//   import { instrumentPool } from 'pgvigil/pool';
//   instrumentPool(pool, { registry, name: 'main' });
//
// Several pools may share one registry (one series per `pool` label); the metrics are created on
// the first call for a registry and reused after.

/** The part of a node-postgres (pg-pool 3.x) Pool this module uses; any compatible pool fits. */
export interface InstrumentablePool {
  connect(...args: unknown[]): unknown;
  readonly totalCount: number;
  readonly idleCount: number;
  readonly waitingCount: number;
  readonly options: { readonly max?: number };
  on(event: 'error', listener: (err: Error) => void): unknown;
  removeListener(event: 'error', listener: (err: Error) => void): unknown;
  listenerCount(event: 'error'): number;
}

export interface InstrumentPoolOptions {
  /** Where the metrics are registered (never the global registry unless you pass it). */
  readonly registry: client.Registry;
  /** Value of the `pool` label (default "default"); unique per registry. */
  readonly name?: string;
  /** Constant labels added to every series of this pool, e.g. { application_name: 'checkout' }. The same keys for every pool of a registry. */
  readonly labels?: Readonly<Record<string, string>>;
}

export interface PoolInstrumentation {
  /** Restores the pool's connect() and stops reporting the pool. */
  stop(): void;
}

/** Acquire latency buckets (seconds): fine below 10 ms, where a healthy pool lives, up to 10 s timeouts. */
export const ACQUIRE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

// pg-pool's two ways to give up: no client freed within connectionTimeoutMillis, or a new
// connection not established within it.
const TIMEOUT_MESSAGES = /timeout exceeded when trying to connect|Connection terminated due to connection timeout/;

interface Tracked {
  readonly pool: InstrumentablePool;
  readonly labels: Record<string, string>;
}

interface PoolMetrics {
  readonly labelNames: readonly string[];
  readonly pools: Set<Tracked>;
  readonly acquire: client.Histogram<string>;
  readonly timeouts: client.Counter<string>;
  readonly errors: client.Counter<string>;
}

const byRegistry = new WeakMap<client.Registry, PoolMetrics>();

function metricsFor(registry: client.Registry, labelNames: readonly string[]): PoolMetrics {
  const existing = byRegistry.get(registry);
  if (existing !== undefined) {
    if (existing.labelNames.join() !== labelNames.join()) {
      throw new Error(`instrumentPool: every pool of a registry needs the same label names (${existing.labelNames.join(', ')})`);
    }
    return existing;
  }
  const pools = new Set<Tracked>();
  const registers = [registry];
  const names = [...labelNames];
  const poolGauge = (name: string, help: string, labels: string[], read: (t: Tracked) => Array<[Record<string, string>, number]>) =>
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
    pools,
    acquire: new client.Histogram({
      name: 'pgvigil_client_pool_acquire_seconds',
      help: 'Time to get a connection from the pool (connect() and query()), every attempt including timeouts and failures.',
      labelNames: names,
      buckets: ACQUIRE_BUCKETS,
      registers,
    }),
    timeouts: new client.Counter({
      name: 'pgvigil_client_pool_acquire_timeouts_total',
      help: 'Attempts to get a connection that gave up after connectionTimeoutMillis.',
      labelNames: names,
      registers,
    }),
    errors: new client.Counter({
      name: 'pgvigil_client_pool_errors_total',
      help: 'Pool errors by kind: connect (a new connection failed, timeouts excluded) or idle_client (an idle connection died).',
      labelNames: [...names, 'kind'],
      registers,
    }),
  };
  byRegistry.set(registry, created);
  return created;
}

type ConnectCallback = (err: Error | undefined, ...rest: unknown[]) => void;

export function instrumentPool(pool: InstrumentablePool, options: InstrumentPoolOptions): PoolInstrumentation {
  const labels = { ...options.labels, pool: options.name ?? 'default' };
  const labelNames = Object.keys(labels).sort();
  const m = metricsFor(options.registry, labelNames);
  for (const t of m.pools) {
    if (t.pool === pool) throw new Error('instrumentPool: this pool is already instrumented in this registry');
    if (t.labels.pool === labels.pool) throw new Error(`instrumentPool: a pool named "${labels.pool}" is already instrumented`);
  }
  const tracked: Tracked = { pool, labels };
  m.pools.add(tracked);

  const settle = (started: bigint, err: unknown) => {
    m.acquire.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
    if (err === undefined || err === null) return;
    if (err instanceof Error && TIMEOUT_MESSAGES.test(err.message)) m.timeouts.inc(labels);
    else m.errors.inc({ ...labels, kind: 'connect' });
  };
  const original = pool.connect;
  const connect = function (this: unknown, ...args: unknown[]): unknown {
    const started = process.hrtime.bigint();
    const cb = args[0];
    if (typeof cb === 'function') {
      return original.call(pool, (err: Error | undefined, ...rest: unknown[]) => {
        settle(started, err);
        (cb as ConnectCallback)(err, ...rest);
      });
    }
    return (original.call(pool) as Promise<unknown>).then(
      (c) => {
        settle(started, undefined);
        return c;
      },
      (err: unknown) => {
        settle(started, err);
        throw err;
      },
    );
  };
  (pool as { connect: unknown }).connect = connect;

  // Series exist from the start at 0, so increase() and `> 0` alerts see the first timeout.
  m.acquire.zero(labels);
  m.timeouts.inc(labels, 0);
  for (const kind of ['connect', 'idle_client']) m.errors.inc({ ...labels, kind }, 0);

  const onError = (err: Error) => {
    m.errors.inc({ ...labels, kind: 'idle_client' });
    // Counting must not change the application's behaviour: with no handler of its own, an idle
    // client error still surfaces as node-postgres leaves it (an unhandled 'error' event).
    if (pool.listenerCount('error') === 1) throw err;
  };
  pool.on('error', onError);
  return {
    stop() {
      if (pool.connect === connect) (pool as { connect: unknown }).connect = original;
      pool.removeListener('error', onError);
      m.pools.delete(tracked);
      m.acquire.remove(labels);
      m.timeouts.remove(labels);
      for (const kind of ['connect', 'idle_client']) m.errors.remove({ ...labels, kind });
    },
  };
}
