#!/usr/bin/env node
import { createLogger } from '../logger.js';
import { startDemo } from './run.js';

// npm run demo — Ctrl-C stops the workload, pgvigil and PostgreSQL, and removes the cluster.
const log = createLogger(process.env.PGVIGIL_LOG_LEVEL ?? 'info');
const port = process.env.PGVIGIL_PORT !== undefined ? Number(process.env.PGVIGIL_PORT) : 9630;
const demo = await startDemo({
  log,
  port,
  ...(process.env.PGVIGIL_DEMO_MAJOR ? { major: Number(process.env.PGVIGIL_DEMO_MAJOR) } : {}),
});

const pgbouncerLine = demo.pgbouncer
  ? `\n  PgBouncer:   psql ${demo.pgbouncer.url('platform')}  (the workload goes through it)`
  : '';
process.stdout.write(`
pgvigil demo is running (PostgreSQL ${demo.cluster.major} with the platform workload)

  metrics:     ${demo.url}/metrics
  statements:  ${demo.url}/api/statements
  app metrics: ${demo.appMetricsUrl}   (the demo application's own pgvigil-pool metrics: its pool, and
               every query's exact latency by class in pgvigil_client_query_duration_seconds)
  landing:     ${demo.url}/
  PostgreSQL:  psql ${demo.cluster.url('platform')}${pgbouncerLine}

Press Ctrl-C to stop; nothing is left behind.
`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping demo');
    void demo.stop().then(() => process.exit(0));
  });
}
