import { type ChildProcess, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnServer, waitUntilAnswers } from './server-process.js';

// A throwaway PostgreSQL cluster from local binaries, for `npm run demo`, the tests and bench/.
// Not part of the exporter. initdb and postgres refuse to run as root, so as root every server
// process runs as the `postgres` user (setpriv), inside a temp dir it may enter.

const here = dirname(fileURLToPath(import.meta.url));
/** Repository root, from both src/dev (tsx, tap) and dist/src/dev (compiled). */
const repoRoot = [resolve(here, '../..'), resolve(here, '../../..')].find((d) => existsSync(join(d, 'package.json')))!;

export const DEFAULT_MAJOR = 15;
export const SUPPORTED_MAJORS = [13, 14, 15, 16, 17, 18] as const;

/**
 * Directory of postgres, initdb ... for a major: PGVIGIL_PG_BIN_<major>, Debian's package, or the
 * npm package pg<major>.
 */
export function binDirFor(major: number): string {
  const candidates = [
    process.env[`PGVIGIL_PG_BIN_${major}`],
    `/usr/lib/postgresql/${major}/bin`,
    join(repoRoot, 'node_modules', `pg${major}`, 'native', 'bin'),
  ].filter((d): d is string => d !== undefined && d !== '');
  const found = candidates.find((d) => existsSync(join(d, 'postgres')) && existsSync(join(d, 'initdb')));
  if (found === undefined) {
    throw new Error(
      `no PostgreSQL ${major} binaries (looked in ${candidates.join(', ')}); ` +
        `run npm ci, or apt-get install postgresql-${major}`,
    );
  }
  return found;
}

export function availableMajors(): number[] {
  return SUPPORTED_MAJORS.filter((m) => {
    try {
      binDirFor(m);
      return true;
    } catch {
      return false;
    }
  });
}

const isRoot = userInfo().uid === 0;

function ownerIds(): { uid: number; gid: number } | undefined {
  if (!isRoot) return undefined;
  const id = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (id.status !== 0)
    throw new Error('running as root needs a "postgres" user to own the cluster (apt-get install postgresql-common)');
  return { uid: Number(id.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** Command and arguments that run `bin` as the cluster owner. */
export function asOwner(bin: string, args: string[]): [string, string[]] {
  return isRoot
    ? ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', '--', bin, ...args]]
    : [bin, args];
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolvePort(typeof addr === 'object' && addr !== null ? addr.port : 0));
    });
  });
}

export interface LocalClusterOptions {
  major?: number;
  port?: number;
  /** Extra postgresql.conf settings (name → value). */
  settings?: Record<string, string | number>;
  /** Preload pg_stat_statements (default true). */
  statements?: boolean;
  /** Write output of the server to this file instead of discarding it. */
  logFile?: string;
  /** Initialise from an existing data directory instead of initdb (standbys). */
  dataDirFrom?: (dataDir: string, cluster: LocalCluster) => Promise<void>;
}

const live = new Set<LocalCluster>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A failing test or a Ctrl-C must not leave servers or temp dirs behind.
  process.on('exit', () => {
    for (const c of live) c.destroySync();
  });
}

export class LocalCluster {
  readonly binDir: string;
  readonly baseDir: string;
  readonly dataDir: string;
  readonly socketDir: string;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  private constructor(
    readonly major: number,
    readonly port: number,
    private readonly options: LocalClusterOptions,
  ) {
    this.binDir = binDirFor(major);
    this.baseDir = mkdtempSync(join(tmpdir(), `pgvigil-pg${major}-`));
    chmodSync(this.baseDir, 0o755);
    this.dataDir = join(this.baseDir, 'data');
    this.socketDir = join(this.baseDir, 'socket');
    const owner = ownerIds();
    for (const dir of [this.dataDir, this.socketDir]) {
      mkdirSync(dir, { mode: 0o700 });
      if (owner !== undefined) chownSync(dir, owner.uid, owner.gid);
    }
    if (owner !== undefined) chownSync(this.baseDir, owner.uid, owner.gid);
  }

  /** Creates, configures and starts a cluster; resolves once it accepts connections. */
  static async create(options: LocalClusterOptions = {}): Promise<LocalCluster> {
    installExitHook();
    const cluster = new LocalCluster(options.major ?? DEFAULT_MAJOR, options.port ?? (await freePort()), options);
    live.add(cluster);
    try {
      if (options.dataDirFrom !== undefined) await options.dataDirFrom(cluster.dataDir, cluster);
      else
        cluster.run('initdb', [
          '-D',
          cluster.dataDir,
          '-U',
          'postgres',
          '--auth=trust',
          '-E',
          'UTF8',
          '--locale=C',
          '--no-sync',
        ]);
      cluster.writeConfig();
      await cluster.start();
      return cluster;
    } catch (err) {
      await cluster.destroy();
      throw err;
    }
  }

  /** Superuser URL over TCP on loopback. */
  url(database = 'postgres', user = 'postgres', password?: string): string {
    const auth =
      password === undefined ? encodeURIComponent(user) : `${encodeURIComponent(user)}:${encodeURIComponent(password)}`;
    return `postgres://${auth}@127.0.0.1:${this.port}/${encodeURIComponent(database)}`;
  }

  /** Runs a binary of this major as the cluster owner, synchronously; throws with its output on failure. */
  run(bin: string, args: string[]): string {
    const [cmd, argv] = asOwner(join(this.binDir, bin), args);
    const res = spawnSync(cmd, argv, { encoding: 'utf8', cwd: this.baseDir });
    if (res.status !== 0) throw new Error(`${bin} failed (${res.status}): ${res.stderr || res.stdout}`);
    return res.stdout;
  }

  private writeConfig(): void {
    const settings: Record<string, string | number> = {
      listen_addresses: "'127.0.0.1'",
      port: this.port,
      unix_socket_directories: `'${this.socketDir}'`,
      max_connections: 100,
      fsync: 'off',
      synchronous_commit: 'off',
      full_page_writes: 'off',
      track_io_timing: 'on',
      track_functions: "'all'",
      log_min_messages: 'warning',
      ...(this.options.statements === false
        ? {}
        : { shared_preload_libraries: "'pg_stat_statements'", 'pg_stat_statements.track': "'all'" }),
      ...this.options.settings,
    };
    const lines = Object.entries(settings).map(([k, v]) => `${k} = ${v}`);
    const conf = join(this.baseDir, 'pgvigil.conf');
    writeFileSync(conf, `${lines.join('\n')}\n`, { mode: 0o644 });
    // include_if_exists keeps initdb's file intact and lets a standby copy its primary's file.
    const [cmd, argv] = asOwner('sh', ['-c', `echo "include '${conf}'" >> '${join(this.dataDir, 'postgresql.conf')}'`]);
    const res = spawnSync(cmd, argv, { encoding: 'utf8' });
    if (res.status !== 0) throw new Error(`cannot write postgresql.conf: ${res.stderr}`);
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(timeoutMs = 30_000): Promise<void> {
    if (this.child !== undefined) return;
    const [cmd, argv] = asOwner(join(this.binDir, 'postgres'), ['-D', this.dataDir]);
    const server = spawnServer(cmd, argv, this.baseDir);
    const child = server.child;
    this.child = child;
    this.exited = server.exited;
    child.once('exit', () => {
      if (this.child === child) this.child = undefined;
    });
    await waitUntilAnswers(server, this.url(), 'SELECT 1', `postgres ${this.major}`, timeoutMs);
  }

  /** Stops the server: 'fast' (SIGINT, the default) or 'immediate' (SIGQUIT, like a crash). */
  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    const child = this.child;
    if (child === undefined) return;
    child.kill(mode === 'fast' ? 'SIGINT' : 'SIGQUIT');
    await this.exited;
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async destroy(): Promise<void> {
    await this.stop().catch(() => undefined);
    this.destroySync();
  }

  destroySync(): void {
    if (this.child !== undefined) {
      this.child.kill('SIGKILL');
      // The postmaster's children exit when it dies; give the kernel a moment before removing files.
      spawnSync('sleep', ['0.2']);
    }
    rmSync(this.baseDir, { recursive: true, force: true });
    live.delete(this);
  }
}
