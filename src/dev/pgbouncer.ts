import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asOwner, freePort } from './local-cluster.js';
import { type ServerProcess, spawnServer, waitUntilAnswers } from './server-process.js';

// A throwaway PgBouncer (Debian's /usr/sbin/pgbouncer) in front of a local PostgreSQL, for the
// tests and the demo. Not part of the exporter. PgBouncer refuses to run as root, so as root it runs
// as `postgres` (setpriv), like the local clusters. Everything it reads lives in a temp dir that
// is world-readable (the auth file holds no secrets: loopback + trust) and is removed on destroy.

export const PGBOUNCER_BIN = process.env.PGVIGIL_PGBOUNCER_BIN ?? '/usr/sbin/pgbouncer';

/** True when the PgBouncer binary is installed (the demo routes its workload through it only then). */
export function pgbouncerAvailable(): boolean {
  return existsSync(PGBOUNCER_BIN);
}

export interface LocalPgbouncerOptions {
  /** Port of the PostgreSQL server on 127.0.0.1 that every database is forwarded to. */
  postgresPort: number;
  /** Server connections per (database, user) pool (default 2, small so tests can exhaust it). */
  poolSize?: number;
  /** Roles allowed to log in (trust); the first one is also the admin (default ['postgres']). */
  users?: string[];
  maxClientConn?: number;
  /** How often SHOW STATS averages are recomputed (PgBouncer's default is 60 s). */
  statsPeriodSeconds?: number;
  poolMode?: 'session' | 'transaction' | 'statement';
  port?: number;
}

const live = new Set<LocalPgbouncer>();
let exitHookInstalled = false;

export class LocalPgbouncer {
  readonly baseDir: string;
  readonly configFile: string;
  private server: ServerProcess | undefined;

  private constructor(
    readonly port: number,
    private readonly options: LocalPgbouncerOptions,
  ) {
    this.baseDir = mkdtempSync(join(tmpdir(), 'pgvigil-pgbouncer-'));
    chmodSync(this.baseDir, 0o755);
    this.configFile = join(this.baseDir, 'pgbouncer.ini');
  }

  /** Writes the configuration, starts PgBouncer and resolves once its admin console answers. */
  static async start(options: LocalPgbouncerOptions): Promise<LocalPgbouncer> {
    if (!pgbouncerAvailable()) throw new Error(`${PGBOUNCER_BIN} not found (apt-get install pgbouncer)`);
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.on('exit', () => {
        for (const b of live) b.destroySync();
      });
    }
    const bouncer = new LocalPgbouncer(options.port ?? (await freePort()), options);
    live.add(bouncer);
    try {
      bouncer.writeConfig();
      await bouncer.start();
      return bouncer;
    } catch (err) {
      await bouncer.destroy();
      throw err;
    }
  }

  get users(): string[] {
    return this.options.users ?? ['postgres'];
  }

  /** URL of a pooled database through PgBouncer. */
  url(database = 'postgres', user = this.users[0]!): string {
    return `postgres://${encodeURIComponent(user)}@127.0.0.1:${this.port}/${encodeURIComponent(database)}`;
  }

  /** URL of the admin console (the `pgbouncer` database), what PGVIGIL_PGBOUNCER_URL takes. */
  get adminUrl(): string {
    return this.url('pgbouncer');
  }

  get running(): boolean {
    return this.server !== undefined;
  }

  private writeConfig(): void {
    const o = this.options;
    const ini = [
      '[databases]',
      // Every database name is forwarded to the same server, so tests need no per-database lines.
      `* = host=127.0.0.1 port=${o.postgresPort}`,
      '',
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${this.port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${join(this.baseDir, 'userlist.txt')}`,
      `admin_users = ${this.users[0]}`,
      `pool_mode = ${o.poolMode ?? 'transaction'}`,
      `default_pool_size = ${o.poolSize ?? 2}`,
      `max_client_conn = ${o.maxClientConn ?? 100}`,
      `stats_period = ${o.statsPeriodSeconds ?? 1}`,
      // node-postgres and psql send these; unknown startup parameters are fatal otherwise.
      'ignore_startup_parameters = extra_float_digits,options,statement_timeout',
      'server_login_retry = 1',
      'logfile =',
      'log_connections = 0',
      'log_disconnections = 0',
      '',
    ].join('\n');
    writeFileSync(this.configFile, ini, { mode: 0o644 });
    writeFileSync(join(this.baseDir, 'userlist.txt'), this.users.map((u) => `"${u}" ""\n`).join(''), { mode: 0o644 });
  }

  /** Starts (or restarts after stop()) on the same port; resolves once the admin console answers. */
  async start(timeoutMs = 15_000): Promise<void> {
    if (this.server !== undefined) return;
    const [cmd, argv] = asOwner(PGBOUNCER_BIN, [this.configFile]);
    const server = spawnServer(cmd, argv, this.baseDir);
    this.server = server;
    void server.exited.then(() => {
      if (this.server === server) this.server = undefined;
    });
    await waitUntilAnswers(server, this.adminUrl, 'SHOW VERSION', 'pgbouncer', timeoutMs);
  }

  /** Immediate shutdown (SIGTERM): clients are disconnected, like a crash of the pooler. */
  async stop(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    server.child.kill('SIGTERM');
    await server.exited;
  }

  async destroy(): Promise<void> {
    await this.stop().catch(() => undefined);
    this.destroySync();
  }

  destroySync(): void {
    this.server?.child.kill('SIGKILL');
    rmSync(this.baseDir, { recursive: true, force: true });
    live.delete(this);
  }
}

/** Starts a throwaway PgBouncer in front of PostgreSQL on 127.0.0.1:postgresPort. */
export function startPgbouncer(options: LocalPgbouncerOptions): Promise<LocalPgbouncer> {
  return LocalPgbouncer.start(options);
}
