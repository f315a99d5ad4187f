#!/usr/bin/env node
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

// The container HEALTHCHECK: GET /healthz on this container's own port, exit 0 when it answers
// 200. Slim images have no curl or wget. Follows PGVIGIL_PORT and, with TLS on, speaks HTTPS
// (the certificate names the service, not 127.0.0.1, so it is not verified for this loopback probe).

const port = Number(process.env.PGVIGIL_PORT ?? 9630);
const tls = (process.env.PGVIGIL_TLS_CERT_FILE ?? '') !== '';
const request = tls ? httpsRequest : httpRequest;

const req = request(
  { host: '127.0.0.1', port, path: '/healthz', timeout: 4000, ...(tls ? { rejectUnauthorized: false } : {}) },
  (res) => {
    res.resume();
    process.exit(res.statusCode === 200 ? 0 : 1);
  },
);
req.on('timeout', () => req.destroy(new Error('timeout')));
req.on('error', () => process.exit(1));
req.end();
