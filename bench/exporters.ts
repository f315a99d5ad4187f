import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../src/dev/local-cluster.js';
import { scrape } from './http.js';

// The two exporters under test, each a separate process whose CPU and memory we read from /proc.

const here = dirname(fileURLToPath(import.meta.url));
/** Repository root from bench/ (ts) and dist/bench/ (compiled). */
export const repoRoot = [resolve(here, '..'), resolve(here, '../..')].find((d) => existsSync(join(d, 'package.json')))!;

export const PEER_BINARY = process.env.PGVIGIL_BENCH_PEER ?? '/usr/bin/prometheus-postgres-exporter';

export interface Exporter {
  readonly name: string;
  readonly pid: number;
  readonly url: string;
  /** Resident set size in bytes (VmRSS). */
  rss(): number;
  /** User + system CPU seconds so far (utime + stime of /proc/<pid>/stat). */
  cpuSeconds(): number;
  output(): string;
  stop(): Promise<void>;
}

const CLOCK_TICKS = 100; // USER_HZ on Linux x86-64

const children = new Set<ChildProcess>();
let hooked = false;

/** An interrupted bench must not leave exporters (or, via LocalCluster's own hook, servers) behind. */
function killChildrenOnExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
}

export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? NaN : Number(m[1]) * 1024;
}

export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start at field 3; utime is 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

async function launch(name: string, child: ChildProcess, url: string, timeoutMs = 30_000): Promise<Exporter> {
  let out = '';
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  killChildrenOnExit();
  children.add(child);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const pid = child.pid!;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited during start-up: ${out}`);
    try {
      await scrape(url.replace(/\/metrics$/, '/'));
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`${name} did not answer in ${timeoutMs} ms: ${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    name,
    pid,
    url,
    rss: () => rssBytes(pid),
    cpuSeconds: () => cpuSeconds(pid),
    output: () => out,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The node flags on an entry point's first line (`#!/usr/bin/env -S node --flag ...`). */
export function nodeFlagsOf(file: string): string[] {
  const first = readFileSync(file, 'utf8').split('\n')[0] ?? '';
  return /^#!\/usr\/bin\/env -S node (.*)$/.exec(first)?.[1]?.split(' ').filter(Boolean) ?? [];
}

/**
 * pgvigil as its users run it: `node <flags> dist/src/main.js` with environment variables, the
 * flags being those of main.js's first line (the image's ENTRYPOINT and `npm start` use the same).
 */
export async function startPgvigil(databaseUrl: string, env: Record<string, string> = {}): Promise<Exporter> {
  const port = await freePort();
  const main = join(repoRoot, 'dist', 'src', 'main.js');
  if (!existsSync(main)) throw new Error(`${main} missing: run npm run build first`);
  const extra = (process.env.PGVIGIL_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeFlagsOf(main), ...extra, main], {
    env: {
      PATH: process.env.PATH,
      DATABASE_URL: databaseUrl,
      PGVIGIL_HOST: '127.0.0.1',
      PGVIGIL_PORT: String(port),
      PGVIGIL_LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return launch('pgvigil', child, `http://127.0.0.1:${port}/metrics`);
}

/** Debian's prometheus-postgres-exporter 0.11 with the example queries (pg_stat_statements included). */
export async function startPeer(dsn: string): Promise<Exporter> {
  const port = await freePort();
  const child = spawn(
    PEER_BINARY,
    [
      `--web.listen-address=127.0.0.1:${port}`,
      `--extend.query-path=${join(repoRoot, 'bench', 'peer-queries.yaml')}`,
      '--log.level=warn',
    ],
    { env: { PATH: process.env.PATH, DATA_SOURCE_NAME: dsn }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return launch('postgres_exporter', child, `http://127.0.0.1:${port}/metrics`);
}
