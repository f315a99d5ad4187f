import { type ChildProcess, spawn } from 'node:child_process';
import pg from 'pg';

// A dev server child process (postgres, pgbouncer): its last output for error messages, and a
// start-up wait that polls with a real connection until the server answers.

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  /** True until the process exits. */
  readonly alive: () => boolean;
  /** The last 4000 characters the process wrote. */
  readonly output: () => string;
}

export function spawnServer(cmd: string, argv: string[], cwd: string): ServerProcess {
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], cwd });
  let output = '';
  let alive = true;
  const keep = (d: Buffer) => {
    output = (output + d.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((res) =>
    child.once('exit', () => {
      alive = false;
      res();
    }),
  );
  return { child, exited, alive: () => alive, output: () => output };
}

/** Resolves once `url` accepts a connection and answers `probe`; throws with the server's output otherwise. */
export async function waitUntilAnswers(
  server: ServerProcess,
  url: string,
  probe: string,
  what: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!server.alive()) throw new Error(`${what} exited during start-up: ${server.output()}`);
    const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
    try {
      await c.connect();
      await c.query(probe);
      await c.end();
      return;
    } catch {
      await c.end().catch(() => undefined);
      if (Date.now() > deadline)
        throw new Error(`${what} did not accept connections in ${timeoutMs} ms: ${server.output()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
