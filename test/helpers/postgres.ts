import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import pg from 'pg';
import { LocalCluster, type LocalClusterOptions } from '../../src/dev/local-cluster.js';

// Where tests get PostgreSQL, in order:
//   1. PGVIGIL_TEST_DATABASE_URL (a server you run; tests that must stop or reconfigure a server skip);
//   2. testcontainers, when a container runtime answers within milliseconds;
//   3. a throwaway cluster from local binaries (Debian's postgresql-15, or the pg13..pg18 npm packages).
// Every server is removed when the test ends, failed or not.

export interface TestPostgres {
  /** Superuser URL of the `postgres` database. */
  readonly url: string;
  /** URL of another database on the same server, as the same superuser (or another user/password). */
  urlFor(database: string, user?: string, password?: string): string;
  /** Present when the server is ours to stop, restart or reconfigure. */
  readonly cluster: LocalCluster | undefined;
  readonly major: number;
  /** Runs SQL as superuser on a fresh connection; returns the rows. */
  sql<R extends object = Record<string, unknown>>(text: string, params?: unknown[], database?: string): Promise<R[]>;
  /** A client (superuser unless a url is given) that is ended at teardown. */
  client(database?: string, options?: Partial<pg.ClientConfig>): Promise<pg.Client>;
  close(): Promise<void>;
}

interface Teardown {
  teardown(fn: () => unknown): void;
}

export interface TestPostgresOptions extends LocalClusterOptions {
  /** The test stops/restarts the server or needs settings: never use a shared external server. */
  needsControl?: boolean;
}

/** Answers within ~100 ms whether a Docker-compatible runtime listens; no runtime on these machines. */
async function containerRuntimeAnswers(): Promise<boolean> {
  const host = process.env.DOCKER_HOST;
  const socket = host?.startsWith('unix://')
    ? host.slice('unix://'.length)
    : host === undefined
      ? '/var/run/docker.sock'
      : undefined;
  if (socket === undefined || !existsSync(socket)) return false;
  return new Promise((resolve) => {
    const s = connect(socket);
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(100, () => done(false));
    s.once('error', () => done(false));
    s.once('connect', () => {
      s.write('GET /_ping HTTP/1.0\r\n\r\n');
      s.once('data', (d) => done(d.toString().includes('200')));
    });
  });
}

export async function testPostgres(t: Teardown, options: TestPostgresOptions = {}): Promise<TestPostgres> {
  const external = process.env.PGVIGIL_TEST_DATABASE_URL;
  const wantsDefault = options.major === undefined && options.settings === undefined && options.statements !== false;
  if (external !== undefined && external !== '' && !options.needsControl && wantsDefault) {
    return wrap(t, external, undefined, async () => undefined);
  }
  if (!options.needsControl && wantsDefault && (await containerRuntimeAnswers())) {
    const { GenericContainer, Wait } = await import('testcontainers');
    const container = await new GenericContainer('postgres:16')
      .withEnvironment({ POSTGRES_PASSWORD: 'postgres' })
      .withCommand([
        'postgres',
        '-c',
        'shared_preload_libraries=pg_stat_statements',
        '-c',
        'pg_stat_statements.track=all',
      ])
      .withExposedPorts(5432)
      .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
      .start();
    const url = `postgres://postgres:postgres@${container.getHost()}:${container.getMappedPort(5432)}/postgres`;
    return wrap(t, url, undefined, async () => {
      await container.stop();
    });
  }
  const cluster = await LocalCluster.create(options);
  return wrap(t, cluster.url(), cluster, () => cluster.destroy());
}

async function wrap(
  t: Teardown,
  url: string,
  cluster: LocalCluster | undefined,
  stop: () => Promise<void>,
): Promise<TestPostgres> {
  const clients = new Set<pg.Client>();
  const urlFor = (database: string, user?: string, password?: string) => {
    const u = new URL(url);
    u.pathname = `/${encodeURIComponent(database)}`;
    if (user !== undefined) {
      u.username = encodeURIComponent(user);
      u.password = password === undefined ? '' : encodeURIComponent(password);
    }
    return u.toString();
  };
  const client = async (database = 'postgres', extra: Partial<pg.ClientConfig> = {}) => {
    const c = new pg.Client({ connectionString: urlFor(database), application_name: 'pgvigil-test', ...extra });
    c.on('error', () => undefined); // tests kill sessions on purpose
    await c.connect();
    clients.add(c);
    return c;
  };
  const sql = async <R extends object>(text: string, params?: unknown[], database = 'postgres') => {
    const c = new pg.Client({ connectionString: urlFor(database), application_name: 'pgvigil-test' });
    await c.connect();
    try {
      return (await c.query<R>(text, params)).rows;
    } finally {
      await c.end();
    }
  };
  const [{ v }] = (await sql<{ v: number }>(`SELECT current_setting('server_version_num')::int AS v`)) as [
    { v: number },
  ];
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await Promise.all([...clients].map((c) => c.end().catch(() => undefined)));
    await stop();
  };
  t.teardown(close);
  return { url, urlFor, cluster, major: Math.floor(v / 10000), sql, client, close };
}
