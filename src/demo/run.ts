import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { instrumentPool } from 'pgvigil-pool';
import type { Logger } from 'pino';
import client from 'prom-client';
import { LocalCluster } from '../dev/local-cluster.js';
import { LocalPgbouncer, pgbouncerAvailable } from '../dev/pgbouncer.js';
import { createPgvigil, type Pgvigil } from '../pgvigil.js';
import { loadConfig } from '../pgvigil-config.js';
import { seed } from './schema.js';
import { Workload } from './workload.js';

// `npm run demo`: a throwaway PostgreSQL with the platform's schema and workload, and pgvigil
// watching it as a least-privilege role. The workload's pool is instrumented with pgvigil-pool
// (pool metrics, and every query timed by the same query classes as pgvigil's) and served on its
// own /metrics (as the application would), and goes through PgBouncer when
// it is installed, so pool exhaustion can be seen from all three sides. Everything it starts is
// stopped by stop().

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = [resolve(here, '../..'), resolve(here, '../../..')].find((d) => existsSync(join(d, 'package.json')))!;

export interface DemoOptions {
  readonly major?: number;
  readonly users?: number;
  readonly port?: number;
  readonly host?: string;
  readonly ratePerSecond?: number;
  /** Route the workload through PgBouncer when installed (default true). */
  readonly pgbouncer?: boolean;
  /** Extra pgvigil variables (PGVIGIL_*), applied last. */
  readonly env?: Record<string, string>;
  readonly log: Logger;
}

export interface Demo {
  readonly cluster: LocalCluster;
  readonly pgvigil: Pgvigil;
  readonly workload: Workload;
  readonly url: string;
  /** The demo application's own metrics (its instrumented pool). */
  readonly appMetricsUrl: string;
  readonly pgbouncer: LocalPgbouncer | undefined;
  readonly databaseUrl: string;
  stop(): Promise<void>;
}

export const DEMO_DATABASE = 'platform';
export const DEMO_APPLICATION = 'heliotrope_imaginal';

export async function startDemo(options: DemoOptions): Promise<Demo> {
  const { log } = options;
  const cluster = await LocalCluster.create({ major: options.major ?? 17 });
  const stack: (() => Promise<unknown>)[] = [() => cluster.destroy()];
  const stop = async () => {
    for (const fn of stack.splice(0).reverse()) await fn().catch((err: Error) => log.warn({ err }, 'demo cleanup'));
  };
  try {
    const admin = new pg.Client({ connectionString: cluster.url() });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${DEMO_DATABASE}`);
    // pgvigil runs as its own role with nothing more than pg_monitor, as in production.
    await admin.query(`CREATE ROLE pgvigil LOGIN PASSWORD 'pgvigil-demo' IN ROLE pg_monitor`);
    await admin.end();

    const appDb = new pg.Client({ connectionString: cluster.url(DEMO_DATABASE) });
    await appDb.connect();
    await appDb.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    await seed(appDb, options.users ?? 20_000);
    await appDb.end();
    log.info({ database: DEMO_DATABASE, port: cluster.port }, 'demo database ready');

    let pgbouncer: LocalPgbouncer | undefined;
    if (options.pgbouncer !== false && pgbouncerAvailable()) {
      pgbouncer = await LocalPgbouncer.start({
        postgresPort: cluster.port,
        poolSize: 10,
        maxClientConn: 100,
        poolMode: 'transaction',
      });
      stack.push(() => pgbouncer!.destroy());
    }
    const appUrl = pgbouncer !== undefined ? pgbouncer.url(DEMO_DATABASE) : cluster.url(DEMO_DATABASE);
    const pool = new pg.Pool({
      connectionString: appUrl,
      max: 20,
      application_name: DEMO_APPLICATION,
      connectionTimeoutMillis: 2000,
    });
    pool.on('error', () => undefined); // a server restart during the demo is not fatal
    stack.push(() => pool.end());
    const registry = new client.Registry();
    const classes = join(repoRoot, 'deploy', 'examples', 'query-classes.yaml');
    const instrumentation = instrumentPool(pool, {
      registry,
      name: 'app',
      ...(existsSync(classes) ? { classesFile: classes } : {}),
      logger: log.child({ component: 'app' }),
    });
    stack.push(async () => instrumentation.stop());
    const appServer = await serveMetrics(
      registry,
      options.host ?? '127.0.0.1',
      options.port === 0 ? 0 : (options.port ?? 9630) + 1,
    );
    stack.push(() => new Promise((resolve) => appServer.close(resolve)));
    const address = appServer.address();
    const appPort = typeof address === 'object' && address !== null ? address.port : 0;
    const appMetricsUrl = `http://${options.host ?? '127.0.0.1'}:${appPort}/metrics`;
    const workload = new Workload(pool, options.users ?? 20_000, options.ratePerSecond ?? 40, 8, (err) =>
      log.debug({ err }, 'workload query failed'),
    );
    workload.start();
    stack.push(() => workload.stop());

    const databaseUrl = cluster.url(DEMO_DATABASE, 'pgvigil', 'pgvigil-demo');
    const config = loadConfig({
      DATABASE_URL: databaseUrl,
      PGVIGIL_HOST: options.host ?? '127.0.0.1',
      PGVIGIL_PORT: String(options.port ?? 9630),
      PGVIGIL_LOG_LEVEL: 'info',
      PGVIGIL_STATEMENTS_INTERVAL_SECONDS: '10',
      PGVIGIL_EXPECTED_POOL_SIZES: `${DEMO_APPLICATION}=20`,
      PGVIGIL_DATA_VOLUME_PATH: cluster.dataDir,
      ...(pgbouncer !== undefined ? { PGVIGIL_PGBOUNCER_URL: pgbouncer.adminUrl } : {}),
      ...(existsSync(classes) ? { PGVIGIL_QUERY_CLASSES_FILE: classes } : {}),
      ...options.env,
    });
    const pgvigil = await createPgvigil(config, log.child({ component: 'pgvigil' }));
    stack.push(() => pgvigil.close());
    const url = await pgvigil.start();
    return { cluster, pgvigil, workload, url, appMetricsUrl, pgbouncer, databaseUrl, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The demo application's /metrics: what an application using pgvigil/pool serves for Prometheus. */
function serveMetrics(registry: client.Registry, host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end('not found\n');
      return;
    }
    registry.metrics().then(
      (body) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(body),
      () => res.writeHead(500).end('internal error\n'),
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
