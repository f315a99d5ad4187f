import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { freePort } from '../../src/dev/local-cluster.js';
import { eventually } from '../helpers/pgvigil.js';

// No container engine here: read the Dockerfile, check what it promises, then run the runtime
// stage's steps outside Docker (npm ci --omit=dev on the lock file, the compiled dist/src) and
// start the result as the image would, health-checked by the image's own HEALTHCHECK command.
// The build stage's `npm ci` is the repository's own node_modules (same lock file).

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');

interface Stage {
  from: string;
  name: string;
  instructions: { op: string; args: string }[];
}

function parseDockerfile(text: string): { args: Map<string, string>; stages: Stage[] } {
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const line of lines) {
    const [op = '', ...rest] = line.split(/\s+/);
    const argText = rest.join(' ');
    if (op.toUpperCase() === 'ARG' && stages.length === 0) {
      const [k, v = ''] = argText.split('=');
      args.set(k!, v);
    } else if (op.toUpperCase() === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(argText)!;
      const from = m[1]!.replace(/\$\{(\w+)\}/g, (_, k: string) => args.get(k) ?? '');
      stages.push({ from, name: m[2] ?? '', instructions: [] });
    } else {
      stages.at(-1)?.instructions.push({ op: op.toUpperCase(), args: argText });
    }
  }
  return { args, stages };
}

const { stages } = parseDockerfile(dockerfile);
const runtime = stages.at(-1)!;
const ins = (op: string) => runtime.instructions.filter((i) => i.op === op).map((i) => i.args);

t.test('the Dockerfile builds a small, non-root, healthchecked runtime image', async (t) => {
  t.ok(stages.length >= 2, 'multi-stage');
  for (const s of stages) {
    const m = /^node:(\d+)-(?:[a-z]+-)?slim$/.exec(s.from);
    t.ok(m !== null, `${s.name}: a slim Node image (${s.from})`);
    t.ok(Number(m?.[1]) >= 22 && Number(m?.[1]) % 2 === 0, `${s.name}: an LTS major (even, 22+)`);
  }
  t.ok(
    stages[0]!.instructions.some((i) => i.op === 'RUN' && /npm ci\b/.test(i.args) && !/--omit=dev/.test(i.args)),
    'build stage installs dev dependencies',
  );
  t.ok(
    stages[0]!.instructions.some((i) => i.op === 'RUN' && /npm run build/.test(i.args)),
    'build stage compiles',
  );
  t.ok(
    ins('RUN').some((r) => /npm ci\b.*--omit=dev/.test(r)),
    'runtime: npm ci --omit=dev',
  );
  t.ok(
    ins('COPY').some((c) => /--from=build\s+\S*dist\/src/.test(c)),
    'runtime copies only dist/src from the build stage',
  );
  t.ok(
    ins('COPY').some((c) => /--from=build\s+\S*packages\/pool\/dist/.test(c)),
    'and the built workspace package',
  );
  for (const stage of stages) {
    const copies = stage.instructions.filter((i) => i.op === 'COPY').map((i) => i.args);
    t.ok(
      copies.some((c) => /^packages\/pool\/package\.json\s/.test(c)),
      `${stage.name}: the workspace's package.json before npm ci`,
    );
  }
  const user = ins('USER').at(-1) ?? '';
  t.match(user, /^[1-9]\d*(:\d+)?$/, 'runs as a numeric non-root user');
  t.same(ins('EXPOSE'), ['9630'], 'EXPOSE 9630');
  t.match(
    ins('HEALTHCHECK').at(-1) ?? '',
    /CMD \["node", "dist\/src\/healthcheck\.js"\]/,
    'HEALTHCHECK runs node, no curl needed',
  );
  t.match(
    ins('ENTRYPOINT').at(-1) ?? '',
    /^\["node", (".*", )?"dist\/src\/main\.js"\]$/,
    'exec-form entrypoint (signals reach node)',
  );
  const ignore = readFileSync(join(root, '.dockerignore'), 'utf8');
  t.match(ignore, /^node_modules$/m, '.dockerignore keeps node_modules out of the context');
});

t.test('the runtime stage, run outside Docker, starts and is healthy', async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'pgvigil-image-'));
  chmodSync(work, 0o755);
  t.teardown(() => rmSync(work, { recursive: true, force: true }));

  // Build stage: `npm run build` = tsc of the workspace package pgvigil-pool, then of the
  // exporter, each with its own config, into the stage's directories. The exporter takes the
  // package's types from its sources (not from a build of the package that may be stale).
  const build = join(work, 'build');
  const tsc = join(root, 'node_modules', '.bin', 'tsc');
  execFileSync(
    tsc,
    ['-p', join(root, 'packages', 'pool', 'tsconfig.json'), '--outDir', join(build, 'packages', 'pool', 'dist')],
    { stdio: 'pipe' },
  );
  execFileSync(
    tsc,
    ['-p', join(root, 'tsconfig.json'), '--customConditions', 'pgvigil-source', '--outDir', join(build, 'dist')],
    { stdio: 'pipe' },
  );
  t.ok(existsSync(join(build, 'dist', 'src', 'main.js')), 'build produced dist/src/main.js');

  // Runtime stage, step by step.
  const app = join(work, 'app');
  cpSync(join(root, 'package.json'), join(app, 'package.json'));
  cpSync(join(root, 'package-lock.json'), join(app, 'package-lock.json'));
  cpSync(join(root, 'packages', 'pool', 'package.json'), join(app, 'packages', 'pool', 'package.json'));
  const started = Date.now();
  execFileSync('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], {
    cwd: app,
    stdio: 'pipe',
  });
  t.comment(`npm ci --omit=dev took ${((Date.now() - started) / 1000).toFixed(1)} s`);
  cpSync(join(build, 'packages', 'pool', 'dist'), join(app, 'packages', 'pool', 'dist'), { recursive: true });
  cpSync(join(build, 'dist', 'src'), join(app, 'dist', 'src'), { recursive: true });
  const installed = readdirSync(join(app, 'node_modules'));
  for (const dev of ['typescript', 'tap', 'pg15', 'pg18', 'testcontainers', '@types'])
    t.notOk(installed.includes(dev), `no ${dev} in the image`);
  t.ok(
    existsSync(join(app, 'node_modules', 'pgvigil-pool', 'dist', 'classes.js')),
    'the workspace package is linked and built',
  );
  const size = duBytes(join(app, 'node_modules')) + duBytes(join(app, 'dist'));
  t.comment(`application layer: ${(size / 1e6).toFixed(1)} MB (node_modules + dist/src)`);
  t.ok(size < 60e6, 'application layer under 60 MB');

  // Start as the image does: non-root, ENTRYPOINT, image ENV, plus the user's env.
  chmodSync(app, 0o755);
  const port = await freePort();
  const env = {
    PATH: process.env.PATH ?? '',
    NODE_ENV: 'production',
    PGVIGIL_HOST: '0.0.0.0',
    PGVIGIL_PORT: String(port),
    DATABASE_URL: 'postgres://monitor@127.0.0.1:1/postgres',
  };
  // `env -u NODE_OPTIONS`: tap injects its coverage hooks into child processes; the image has none.
  const [, ...nodeArgs] = JSON.parse(ins('ENTRYPOINT').at(-1)!) as string[];
  const child = spawn(
    'setpriv',
    [
      '--reuid=1000',
      '--regid=1000',
      '--clear-groups',
      '--',
      'env',
      '-u',
      'NODE_OPTIONS',
      process.execPath,
      ...nodeArgs,
    ],
    {
      cwd: app,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      exitCode = code;
      resolve(code);
    }),
  );
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  const healthcheck = () => {
    // A process that is gone will never pass: say why at once, with what it printed.
    if (exitCode !== undefined) throw new Error(`pgvigil exited with ${exitCode}: ${output.slice(-500)}`);
    try {
      execFileSync(process.execPath, ['dist/src/healthcheck.js'], { cwd: app, env, stdio: 'pipe', timeout: 10_000 });
      return true;
    } catch {
      return false;
    }
  };
  await eventually(healthcheck, 60_000, 'HEALTHCHECK passing');
  t.pass('HEALTHCHECK command exits 0');
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  t.equal(res.status, 200, '/metrics answers (PostgreSQL unreachable: pg_up 0)');
  t.match(await res.text(), /^pg_up 0$/m);
  t.match(output, /"msg":"listening"/, 'JSON logs on stdout');

  child.kill('SIGTERM');
  const code = await exited;
  t.equal(code, 0, `SIGTERM: graceful shutdown, exit 0 (got ${code}; ${output.slice(-300)})`);
});

function duBytes(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.size;
  return readdirSync(path).reduce((n, e) => n + duBytes(join(path, e)), 0);
}
