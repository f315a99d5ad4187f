import type { FastifyInstance } from 'fastify';
import type { Config } from './config.js';

// /primary and /replica for load balancers and service meshes: 200 when the server is known to be
// in that role, 503 otherwise. The role is the recovery collector's last answer; an answer older
// than two poll intervals plus a collector timeout counts as unknown (503 on both), so a dead or
// unreachable server is never routed to.

type Role = 'primary' | 'replica';

/** The server's last known recovery state, as the recovery collector saw it. */
export interface ServerRoleSource {
  /** undefined before the first successful poll; `at` is the wall-clock ms of that poll. */
  lastKnownRole(): { readonly inRecovery: boolean; readonly at: number } | undefined;
}

/** Where nothing reports the role (the recovery collector disabled): both routes answer 503. */
export const UNKNOWN_ROLE: ServerRoleSource = { lastKnownRole: () => undefined };

export function registerRoleRoutes(app: FastifyInstance, config: Config, source: ServerRoleSource): void {
  const intervalSeconds = config.intervals.get('recovery') ?? 5;
  const maxAgeMs = (2 * intervalSeconds + config.PGVIGIL_COLLECTOR_TIMEOUT_SECONDS) * 1000;

  const current = (): Role | undefined => {
    const known = source.lastKnownRole();
    if (known === undefined || Date.now() - known.at > maxAgeMs) return undefined;
    return known.inRecovery ? 'replica' : 'primary';
  };

  for (const wanted of ['primary', 'replica'] as const) {
    app.get(`/${wanted}`, async (_request, reply) => {
      const role = current();
      void reply.header('Cache-Control', 'no-store');
      if (role === wanted) return { role };
      const unknown = role === undefined ? { reason: 'no recent answer from PostgreSQL' } : {};
      return reply.code(503).send({ role: role ?? 'unknown', ...unknown });
    });
  }
}
