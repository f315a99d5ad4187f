import { Readable } from 'node:stream';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import type { LockTreesView } from './collectors/locks.js';
import type { Config } from './config.js';
import type { MetricsBody } from './exposition/exposition.js';
import { negotiateFormat, OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE } from './exposition/format.js';
import { registerAuth } from './http-auth.js';
import { registerRoleRoutes, type ServerRoleSource } from './role-routes.js';
import { type StatusSources, statusPage } from './status-page.js';

/** The statements collector's current top statements, served as JSON. */
export interface StatementsView {
  snapshot(): object;
}

export interface AppDeps {
  readonly config: Config;
  readonly log: Logger;
  readonly version: string;
  /** The /metrics body (the exposition layer). */
  readonly metrics: MetricsBody;
  /** Whether PostgreSQL answered within the staleness limit (/readyz). */
  readonly readiness: { isReady(): boolean };
  /** /api/statements; undefined when the statements collector is disabled (404). */
  readonly statements: StatementsView | undefined;
  /** /api/locks: the blocking trees of the locks collector's last poll; undefined when it is disabled (404). */
  readonly locks: LockTreesView | undefined;
  /** /primary and /replica. */
  readonly role: ServerRoleSource;
  /** The status page at `/`: what the collectors last read. */
  readonly status: StatusSources;
}

/**
 * Routes only: no listen(), so tests drive it with inject(). It sees the exporter through the
 * narrow views above, never the poller or a collector, so HTTP behaviour is testable without
 * PostgreSQL.
 */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config, log, version, metrics, readiness, statements, locks, role, status } = deps;
  const options = {
    loggerInstance: log as FastifyBaseLogger,
    // Prometheus scrapes every few seconds: one log line per request would drown everything else.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024,
    return503OnClosing: true,
  };
  // The HTTPS instance type differs only in its server type; routes and hooks are the same.
  const server = config.tls === undefined ? Fastify(options) : Fastify({ ...options, https: config.tls });
  const app = server as unknown as FastifyInstance;
  registerAuth(app, config.httpAuth);

  // Never a stack trace or internal message in a response.
  app.setErrorHandler((error, request, reply) => {
    const err = error as { statusCode?: number; message: string };
    const code = err.statusCode;
    const status = typeof code === 'number' && code >= 400 && code < 500 ? code : 500;
    if (status >= 500) request.log.error({ err: error }, 'request failed');
    const body = status >= 500 ? 'internal error\n' : `${err.message}\n`;
    void reply.code(status).type('text/plain; charset=utf-8').send(body);
  });
  app.setNotFoundHandler((_request, reply) => {
    void reply.code(404).type('text/plain; charset=utf-8').send('not found\n');
  });

  app.get('/metrics', async (request, reply) => {
    const format = negotiateFormat(request.headers.accept);
    const compressed = /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''));
    const chunks = await metrics.body(format, compressed);
    void reply.header('Content-Type', format === 'openmetrics' ? OPENMETRICS_CONTENT_TYPE : PROMETHEUS_CONTENT_TYPE);
    void reply.header('Cache-Control', 'no-store');
    if (compressed) void reply.header('Content-Encoding', 'gzip').header('Vary', 'Accept-Encoding');
    // The cached pieces go out as they are: joining them would copy the whole body on every scrape.
    void reply.header(
      'Content-Length',
      chunks.reduce((n, c) => n + c.length, 0),
    );
    let next = 0;
    // A plain pull stream: Readable.from() would go through an async iterator, a promise per chunk.
    return new Readable({
      read() {
        this.push(next < chunks.length ? chunks[next++] : null);
      },
    });
  });

  app.get('/healthz', async () => ({ status: 'ok' }));

  // Top statements as JSON for on-call tools; texts are redacted and cut by the statements engine.
  app.get('/api/statements', async (_request, reply) => {
    if (statements === undefined) return reply.code(404).send({ error: 'the statements collector is disabled' });
    void reply.header('Cache-Control', 'no-store');
    return statements.snapshot();
  });

  // Who blocks whom, from the locks collector's last poll: a request never queries PostgreSQL.
  app.get('/api/locks', async (_request, reply) => {
    if (locks === undefined) return reply.code(404).send({ error: 'the locks collector is disabled' });
    void reply.header('Cache-Control', 'no-store');
    return locks.lockTrees();
  });

  registerRoleRoutes(app, config, role);

  app.get('/readyz', async (_request, reply) => {
    if (readiness.isReady()) return { status: 'ready' };
    const reason = 'PostgreSQL has not answered within the staleness limit';
    return reply.code(503).send({ status: 'not ready', reason });
  });

  app.get('/', async (_request, reply) => {
    void reply
      .type('text/html; charset=utf-8')
      .header('Cache-Control', 'no-store')
      .header('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'")
      .header('X-Content-Type-Options', 'nosniff')
      .header('X-Frame-Options', 'DENY')
      .header('Referrer-Policy', 'no-referrer');
    return statusPage(version, status, Date.now());
  });

  return app;
}
