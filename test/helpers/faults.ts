import { readdirSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { TestPostgres } from './postgres.js';

// Tools of the fault suite: count what pgvigil holds (server backends, file descriptors) and
// stand in for networks that misbehave (a port that accepts and never answers, a proxy that
// records every connection attempt).

/**
 * Settings that make pgvigil notice a fault and recover within a second or two, so a fault test
 * can repeat its fault many times: heartbeat and activity polls every 0.5–1 s, backoff capped at 0.5 s.
 */
export const FAST_RECOVERY_ENV: Readonly<Record<string, string>> = {
  PGVIGIL_HEARTBEAT_INTERVAL_SECONDS: '0.5',
  PGVIGIL_ACTIVITY_INTERVAL_SECONDS: '1',
  PGVIGIL_RECONNECT_BACKOFF_MAX_SECONDS: '0.5',
};

/** pgvigil's backends on the server right now (its sessions set application_name=pgvigil). */
export async function pgvigilBackends(pg: TestPostgres, extraWhere = 'true'): Promise<number> {
  const [row] = await pg.sql<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'pgvigil' AND ${extraWhere}`,
  );
  return row?.n ?? 0;
}

export function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

export interface TcpStub {
  readonly port: number;
  /** When each connection was accepted (ms since epoch). */
  readonly accepted: number[];
  /** How long each closed connection stayed open (ms). */
  readonly lifetimes: number[];
  readonly open: () => number;
  close(): Promise<void>;
}

async function listen(
  onSocket: (socket: Socket, stub: { accepted: number[]; lifetimes: number[] }) => void,
): Promise<TcpStub> {
  const accepted: number[] = [];
  const lifetimes: number[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    const at = Date.now();
    accepted.push(at);
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => {
      sockets.delete(socket);
      lifetimes.push(Date.now() - at);
    });
    onSocket(socket, { accepted, lifetimes });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    port,
    accepted,
    lifetimes,
    open: () => sockets.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Accepts TCP connections and never sends a byte: a hung server, a black-holing firewall. */
export function silentServer(): Promise<TcpStub> {
  // Read and drop what arrives, so the client's FIN is seen and lifetimes are measured.
  return listen((socket) => socket.resume());
}

/** Forwards to 127.0.0.1:targetPort; when the target is down the client's connection is closed at once. */
export function recordingProxy(targetPort: number): Promise<TcpStub> {
  return listen((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
    client.once('close', () => upstream.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  });
}
