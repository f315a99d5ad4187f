import type { FastifyInstance } from 'fastify';
import type { RecoveryCollector } from './collectors/recovery.js';
import type { Config } from './config.js';
import type { Poller } from './poller.js';

// /primary and /replica for load balancers and service meshes: 200 when the server is known to be
// in that role, 503 otherwise. The role is the recovery collector's last answer; an answer older
// than two poll intervals plus a collector timeout counts as unknown (503 on both), so a dead or
// unreachable server is never routed to.

type Role = 'primary' | 'replica';

export function registerRoleRoutes(app: FastifyInstance, config: Config, poller: Poller): void {
  const intervalSeconds = config.intervals.get('recovery') ?? 5;
  const maxAgeMs = (2 * intervalSeconds + config.PGVIGIL_COLLECTOR_TIMEOUT_SECONDS) * 1000;

  const current = (): Role | undefined => {
    const known = poller.collector<RecoveryCollector>('recovery')?.lastKnownRole();
    if (known === undefined || Date.now() - known.at > maxAgeMs) return undefined;
    return known.inRecovery ? 'replica' : 'primary';
  };

  for (const wanted of ['primary', 'replica'] as const) {
    app.get(`/${wanted}`, async (_request, reply) => {
      const role = current();
      void reply.header('Cache-Control', 'no-store');
      if (role === wanted) return { role };
      return reply.code(503).send({ role: role ?? 'unknown', ...(role === undefined ? { reason: 'no recent answer from PostgreSQL' } : {}) });
    });
  }
}
