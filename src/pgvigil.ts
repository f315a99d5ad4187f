import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { buildApp, type StatementsView } from './app.js';
import { collectorDefinitions } from './collectors/index.js';
import type { LockTreesView } from './collectors/locks.js';
import type { StatementsCollector } from './collectors/pg-stat-statements.js';
import type { Collector, CollectorDefinition } from './collectors/types.js';
import type { WaitsCollector } from './collectors/waits.js';
import { type Config, describeConnection } from './config.js';
import { Database } from './db.js';
import { CollectorRenderings } from './exposition/collector-renderings.js';
import { Exposition } from './exposition/exposition.js';
import { HeapTrim } from './heap-trim.js';
import { Poller } from './poller.js';
import { type ServerRoleSource, UNKNOWN_ROLE } from './role-routes.js';
import { SelfMetrics } from './self-metrics.js';
import { SnapshotStore } from './snapshot-store.js';
import type { ApiSnapshot } from './statements/engine.js';
import type { StatusSources } from './status-page.js';
import { packageVersion } from './version.js';

export interface Pgvigil {
  readonly app: FastifyInstance;
  /** The scheduler: runs the collectors and writes their snapshots. */
  readonly poller: Poller;
  readonly snapshots: SnapshotStore;
  readonly exposition: Exposition;
  readonly db: Database;
  readonly metrics: SelfMetrics;
  /** Starts polling and listening; resolves with the base URL. */
  start(): Promise<string>;
  /** Stops polling, closes the HTTP server and every PostgreSQL connection. */
  close(): Promise<void>;
}

/**
 * Wires config → pool → poller → snapshots → exposition → app. main.ts, the demo and the tests
 * all start pgvigil through here.
 */
export async function createPgvigil(
  config: Config,
  log: Logger,
  definitions: readonly CollectorDefinition[] = collectorDefinitions,
): Promise<Pgvigil> {
  const version = packageVersion();
  const db = new Database(config, log.child({ component: 'db' }));
  const metrics = new SelfMetrics(version);
  db.onOpened(() => metrics.poolOpened.inc());
  const snapshots = new SnapshotStore();
  const poller = new Poller({ config, db, metrics, log, definitions, snapshots });
  const renderings = new CollectorRenderings(snapshots, metrics, log);
  const exposition = new Exposition(snapshots, renderings, metrics);
  const trim = new HeapTrim(config.PGVIGIL_HEAP_TRIM_MB * 1024 * 1024);
  poller.onIdle(() => {
    if (trim.idle()) metrics.heapTrims.inc();
  });
  const collectors = poller.collectors();
  wireWaitClasses(collectors);
  const app = await buildApp({
    config,
    log,
    version,
    metrics: exposition,
    readiness: poller,
    statements: statementsView(collectors.get('statements')),
    locks: lockTreesView(collectors.get('locks')),
    role: roleSource(collectors.get('recovery')),
    status: statusSources(snapshots, collectors),
  });
  return {
    app,
    poller,
    snapshots,
    exposition,
    db,
    metrics,
    async start() {
      log.info({ postgres: describeConnection(config.connection), version }, 'pgvigil starting');
      poller.start();
      const address = await app.listen({ host: config.PGVIGIL_HOST, port: config.PGVIGIL_PORT });
      log.info({ address }, 'listening');
      return address;
    },
    async close() {
      await poller.stop();
      await app.close();
      await db.close();
    },
  };
}

/** The statements collector as /api/statements sees it; undefined when it is disabled. */
function statementsView(collector: Collector | undefined): StatementsView | undefined {
  const view = collector as Partial<StatementsView> | undefined;
  if (view === undefined) return undefined;
  if (typeof view.snapshot !== 'function') throw new Error('the statements collector has no snapshot()');
  return view as StatementsView;
}

/** What the status page reads: fresh snapshots and the collectors' own views, never PostgreSQL. */
function statusSources(snapshots: SnapshotStore, collectors: ReadonlyMap<string, Collector>): StatusSources {
  const statements = statementsView(collectors.get('statements'));
  const locks = lockTreesView(collectors.get('locks'));
  const sampler = collectors.get('waits') as Partial<WaitsCollector> | undefined;
  return {
    families: (collector) =>
      snapshots.collectors().includes(collector) ? snapshots.fresh(collector, Date.now()).parts.flat() : [],
    statements: () => statements?.snapshot() as ApiSnapshot | undefined,
    lockTrees: () => locks?.lockTrees(),
    recentWaits: () => sampler?.recentWaits?.(),
  };
}

/** The locks collector as /api/locks sees it; undefined when it is disabled. */
function lockTreesView(collector: Collector | undefined): LockTreesView | undefined {
  const view = collector as Partial<LockTreesView> | undefined;
  if (view === undefined) return undefined;
  if (typeof view.lockTrees !== 'function') throw new Error('the locks collector has no lockTrees()');
  return view as LockTreesView;
}

/** The wait sampler attributes sessions to query classes through the statements collector, when both run. */
function wireWaitClasses(collectors: ReadonlyMap<string, Collector>): void {
  const sampler = collectors.get('waits') as Partial<WaitsCollector> | undefined;
  const statements = collectors.get('statements') as Partial<StatementsCollector> | undefined;
  if (sampler?.useClassLookup === undefined || statements?.classOf === undefined) return;
  sampler.useClassLookup((datname, usename, queryid) => statements.classOf!(datname, usename, queryid));
}

/** The recovery collector as /primary and /replica see it; always unknown when it is disabled. */
function roleSource(collector: Collector | undefined): ServerRoleSource {
  const source = collector as Partial<ServerRoleSource> | undefined;
  if (source === undefined) return UNKNOWN_ROLE;
  if (typeof source.lastKnownRole !== 'function') throw new Error('the recovery collector has no lastKnownRole()');
  return source as ServerRoleSource;
}
