import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The real entry point (src/main.ts) as its own process, with the TypeScript loader this test
// process runs under (tap's), so exit codes, stderr and signals are the ones users get.

const MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'main.ts');

export interface MainProcess {
  readonly child: ChildProcess;
  /** Everything written so far to stdout and stderr. */
  output(): { stdout: string; stderr: string };
  /** Resolves with the exit code (or the signal name) once the process ended. */
  readonly exited: Promise<number | string>;
}

export function spawnMain(env: Record<string, string>): MainProcess {
  // tap's TypeScript loader only (not its process-info hooks), and its export conditions (the workspace
  // package from its sources); type checking is the typecheck step's job.
  const loader = process.execArgv.filter(
    (a) => a.includes('typescript') || a.startsWith('--conditions') || a === '--enable-source-maps',
  );
  const child = spawn(process.execPath, [...loader, MAIN], {
    // Only what the test gives, plus PATH: the developer's PG* variables must not leak in.
    env: { PATH: process.env.PATH ?? '', TS_NODE_TRANSPILE_ONLY: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  );
  return { child, output: () => ({ stdout, stderr }), exited };
}

/** Runs main with env until it exits (or kills it after timeoutMs) and returns what it printed. */
export async function runMain(
  env: Record<string, string>,
  timeoutMs = 20_000,
): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const p = spawnMain(env);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
  const code = await p.exited;
  clearTimeout(timer);
  return { code, ...p.output() };
}
