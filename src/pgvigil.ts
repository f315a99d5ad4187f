import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { buildApp } from './app.js';
import { collectorDefinitions } from './collectors/index.js';
import type { CollectorDefinition } from './collectors/types.js';
import { describeConnection, type Config } from './config.js';
import { Database } from './db.js';
import { HeapTrim } from './heap-trim.js';
import { Poller } from './poller.js';
import { SelfMetrics } from './self-metrics.js';
import { packageVersion } from './version.js';

export interface Pgvigil {
  readonly app: FastifyInstance;
  readonly poller: Poller;
  readonly db: Database;
  readonly metrics: SelfMetrics;
  /** Starts polling and listening; resolves with the base URL. */
  start(): Promise<string>;
  /** Stops polling, closes the HTTP server and every PostgreSQL connection. */
  close(): Promise<void>;
}

/** Wires config → pool → poller → app. main.ts, the demo and the tests all start pgvigil through here. */
export async function createPgvigil(
  config: Config,
  log: Logger,
  definitions: readonly CollectorDefinition[] = collectorDefinitions,
): Promise<Pgvigil> {
  const version = packageVersion();
  const db = new Database(config, log.child({ component: 'db' }));
  const metrics = new SelfMetrics(version);
  db.onOpened(() => metrics.poolOpened.inc());
  const poller = new Poller(config, db, metrics, log, definitions);
  const trim = new HeapTrim(config.PGVIGIL_HEAP_TRIM_MB * 1024 * 1024);
  poller.onIdle(() => {
    if (trim.idle()) metrics.heapTrims.inc();
  });
  const app = await buildApp({ config, log, poller, version });
  return {
    app,
    poller,
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
