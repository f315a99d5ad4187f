import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { HttpAuth } from './config.js';

// Optional credentials on everything but the probes. The open list is explicit, so a route added
// later is protected by default; orchestrators probe without credentials. The status page at `/`
// shows statement texts and who blocks whom, so it needs credentials like /api/*.
export const OPEN_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/primary', '/replica']);

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/** Constant time in the secret: both sides are hashed to equal length before timingSafeEqual. */
function sameSecret(given: string, expected: Buffer): boolean {
  return timingSafeEqual(digest(given), expected);
}

function authorized(request: FastifyRequest, basic: Buffer | undefined, token: Buffer | undefined): boolean {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return false;
  const space = header.indexOf(' ');
  if (space < 0) return false;
  const scheme = header.slice(0, space).toLowerCase();
  const credentials = header.slice(space + 1).trim();
  if (scheme === 'bearer' && token !== undefined) return sameSecret(credentials, token);
  if (scheme === 'basic' && basic !== undefined) {
    // Compare the decoded "user:password" as one secret: no early exit on a wrong user name.
    return sameSecret(Buffer.from(credentials, 'base64').toString('utf8'), basic);
  }
  return false;
}

export function registerAuth(app: FastifyInstance, auth: HttpAuth | undefined): void {
  if (auth === undefined) return;
  const basic = auth.basic === undefined ? undefined : digest(`${auth.basic.username}:${auth.basic.password}`);
  const token = auth.token === undefined ? undefined : digest(auth.token);
  const challenge = [
    basic !== undefined ? 'Basic realm="pgvigil", charset="UTF-8"' : '',
    token !== undefined ? 'Bearer realm="pgvigil"' : '',
  ]
    .filter(Boolean)
    .join(', ');
  app.addHook('onRequest', async (request, reply) => {
    const path = request.url.split('?', 1)[0] ?? '';
    if (OPEN_PATHS.has(path) || authorized(request, basic, token)) return;
    return reply
      .code(401)
      .header('WWW-Authenticate', challenge)
      .type('text/plain; charset=utf-8')
      .send('unauthorized\n');
  });
}
