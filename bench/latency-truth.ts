import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// Ground truth from pgbench's per-transaction log (-l): one line per transaction,
// "client_id transaction_no time script_no time_epoch time_us [schedule_lag]", time in
// microseconds. Without --rate there is no schedule lag in `time`.

/** pgbench of Debian's postgresql-15 (PGVIGIL_PGBENCH overrides). */
export function pgbenchBinary(): string {
  const candidates = [process.env.PGVIGIL_PGBENCH, '/usr/lib/postgresql/15/bin/pgbench', '/usr/bin/pgbench'];
  const found = candidates.find((p): p is string => p !== undefined && p !== '' && existsSync(p));
  if (found === undefined) {
    throw new Error('pgbench not found: apt-get install -y postgresql-15 (or set PGVIGIL_PGBENCH)');
  }
  return found;
}

export interface PgbenchRun {
  readonly url: string;
  readonly script: string;
  /** Directory for the script and the per-transaction logs. */
  readonly dir: string;
  /** Log and script file prefix (one per shape). */
  readonly name: string;
  readonly clients: number;
  /** Run for this many seconds (-T) ... */
  readonly seconds?: number;
  /** ... or this many transactions per client (-t). */
  readonly transactions?: number;
}

/** Runs pgbench to completion; resolves with every transaction's latency in seconds, sorted. */
export async function runPgbench(run: PgbenchRun): Promise<number[]> {
  const scriptFile = join(run.dir, `${run.name}.sql`);
  writeFileSync(scriptFile, `${run.script}\n`);
  const prefix = join(run.dir, run.name);
  const length = run.transactions !== undefined ? ['-t', String(run.transactions)] : ['-T', String(run.seconds ?? 30)];
  const clients = ['-c', String(run.clients), '-j', '1'];
  const args = ['-n', '-f', scriptFile, ...clients, ...length, '-l', `--log-prefix=${prefix}`, run.url];
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(pgbenchBinary(), args, { cwd: run.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code === 0) resolve(out);
      else reject(new Error(`pgbench ${run.name} exited ${code}: ${out}`));
    });
  });
  const files = readdirSync(run.dir).filter((f) => f.startsWith(`${run.name}.`) && !f.endsWith('.sql'));
  const latencies: number[] = [];
  for (const f of files) latencies.push(...parsePgbenchLog(readFileSync(join(run.dir, f), 'utf8')));
  if (latencies.length === 0) throw new Error(`pgbench ${run.name} logged no transaction: ${output}`);
  return latencies.sort((a, b) => a - b);
}

/** Latencies in seconds from a pgbench per-transaction log; skipped or failed transactions are left out. */
export function parsePgbenchLog(text: string): number[] {
  const out: number[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 6) continue;
    const micros = Number(fields[2]);
    if (Number.isFinite(micros)) out.push(micros / 1e6);
  }
  return out;
}

/** Nearest-rank quantile of sorted values. */
export function truthQuantile(sorted: readonly number[], q: number): number {
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1]!;
}

export function truthShareWithin(sorted: readonly number[], objectiveSeconds: number): number {
  let n = 0;
  for (const x of sorted) if (x <= objectiveSeconds) n++;
  return n / sorted.length;
}
